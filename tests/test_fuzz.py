"""The fuzz and fault suite for the loader and the CLI: hundreds of malformed inputs, generated from fixed seeds.

Every case must give one clear line (a UserError; from the CLI: `error: ...`, exit 2, no traceback), never run
code from the input (pickles would create a marker file), never hang (each case runs under an alarm), and never
leave a partial file. Most cases run in-process (the loader's functions, typer's CliRunner on the app); a
handful go through real subprocesses to prove the process itself prints one line and exits 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save as st_save
from typer.testing import CliRunner

from ganstudio.artifact import checkpoint
from ganstudio.artifact.checkpoint import CARD, GRAPH, WEIGHTS
from ganstudio.cli import app
from ganstudio.errors import UserError
from ganstudio.explore import images, runtime
from ganstudio.train import recipe

REPO = Path(__file__).resolve().parent.parent
ALARM_SECONDS = 120  # per case: far above any refusal, so only a hang trips it
LONG = "x" * 5000


class Hang(Exception):
    pass


@pytest.fixture(autouse=True)
def alarm():
    def ring(*_):
        raise Hang("the case did not finish: a hang")

    old = signal.signal(signal.SIGALRM, ring)
    yield lambda: signal.alarm(ALARM_SECONDS)
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


class Marker:
    """Unpickling one calls open(path, "w"): the marker file appears only if something unpickled it."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


# ---- the model files -------------------------------------------------------------------------------------


def parts(model: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with safe_open(str(model / WEIGHTS), framework="numpy") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}


def card_of(meta: dict) -> dict:
    return json.loads(meta["ganstudio.card"])


@dataclass
class Case:
    """One malformed model directory: how to damage a copy of the tiny model."""

    name: str
    damage: Callable[[Path], None]
    may_load: bool = False  # a change the format cannot detect (a flipped bit inside a weight): any outcome but a crash
    loads_weights: bool = True  # whether load_weights sees the damage (else only runtime.load does)


def resave(meta: dict, tensors: dict[str, np.ndarray]) -> Callable[[Path], None]:
    return lambda d: (d / WEIGHTS).write_bytes(st_save(tensors, metadata=meta))


def with_card(meta: dict, change: Callable[[dict], object]) -> dict:
    card = card_of(meta)
    change(card)
    return {**meta, "ganstudio.card": json.dumps(card)}


def model_cases(model: Path, marker: Path) -> list[Case]:
    meta, tensors = parts(model)
    original = (model / WEIGHTS).read_bytes()
    rng = random.Random(0)
    cases: list[Case] = []
    for i in range(15):  # random bytes named .safetensors, lengths from empty to 64 kB
        data = rng.randbytes(rng.choice([0, 1, 7, 8, 9, 100, 4096, 65536]))
        cases.append(Case(f"random-bytes-{i}", lambda d, data=data: (d / WEIGHTS).write_bytes(data)))
    for i, size in enumerate([2**63, 2**64 - 1, 10**12, len(original), 0]):  # header lengths that lie
        data = struct.pack("<Q", size) + original[8:]
        cases.append(Case(f"header-length-{i}", lambda d, data=data: (d / WEIGHTS).write_bytes(data)))
    for protocol in (2, 5):
        data = pickle.dumps(Marker(marker), protocol=protocol)
        cases.append(Case(f"pickle-as-safetensors-{protocol}", lambda d, data=data: (d / WEIGHTS).write_bytes(data)))
    for i in range(10):  # truncated anywhere
        cut = rng.randrange(len(original))
        cases.append(Case(f"truncated-{cut}", lambda d, cut=cut: (d / WEIGHTS).write_bytes(original[:cut])))
    header_end = 8 + struct.unpack("<Q", original[:8])[0]
    for i in range(15):  # one flipped bit: in the header it must be refused; in the data it may load
        pos = rng.randrange(header_end) if i < 10 else rng.randrange(header_end, len(original))
        flipped = bytearray(original)
        flipped[pos] ^= 1 << rng.randrange(8)
        cases.append(Case(f"bit-flip-{pos}", lambda d, b=bytes(flipped): (d / WEIGHTS).write_bytes(b), may_load=True))
    for name in tensors:
        missing = {k: v for k, v in tensors.items() if k != name}
        cases.append(Case(f"missing-{name}", resave(meta, missing)))
        reshaped = {**tensors, name: np.zeros(tensors[name].size + 1, np.float32)}
        cases.append(Case(f"misshaped-{name}", resave(meta, reshaped)))
        for value in (np.nan, np.inf):
            broken = {**tensors, name: tensors[name].copy()}
            broken[name].flat[rng.randrange(broken[name].size)] = value
            cases.append(Case(f"{value}-in-{name}", resave(meta, broken), loads_weights=True))
        cases.append(Case(f"float64-{name}", resave(meta, {**tensors, name: tensors[name].astype(np.float64)})))
    cases.append(Case("extra-tensor", resave(meta, {**tensors, "surprise": np.zeros(3, np.float32)})))
    cases.append(Case("no-metadata", resave({}, tensors)))
    cases.append(Case("no-card", resave({"ganstudio.tensors": meta["ganstudio.tensors"]}, tensors)))
    cases.append(Case("no-manifest", resave({"ganstudio.card": meta["ganstudio.card"]}, tensors)))
    cases.append(Case("card-not-json", resave({**meta, "ganstudio.card": "{nope"}, tensors)))
    cases.append(Case("manifest-not-json", resave({**meta, "ganstudio.tensors": "[["}, tensors)))
    cases.append(Case("card-is-a-list", resave({**meta, "ganstudio.card": "[1]"}, tensors)))
    for version in (0, 2, 99, "1", None, 1.5):
        cases.append(Case(f"format-version-{version}", resave(with_card(meta, lambda c, v=version: c.update(format_version=v)), tensors)))
    for fmt in ("", "stylegan", None):
        cases.append(Case(f"format-{fmt}", resave(with_card(meta, lambda c, f=fmt: c.update(format=f)), tensors)))
    for key in card_of(meta):
        if key not in ("latent_distribution", "training", "metrics", "notes", "parity", "files"):  # these have defaults
            cases.append(Case(f"card-without-{key}", resave(with_card(meta, lambda c, k=key: c.pop(k)), tensors)))
        for bad in (None, "text", [1], {"a": "b"}, True, 10**30):
            if key in ("format", "format_version"):
                continue
            valid = (key, type(bad)) in {("dataset", str), ("notes", str), ("training", dict), ("files", dict)}
            cases.append(Case(f"card-{key}-{type(bad).__name__}", resave(with_card(meta, lambda c, k=key, b=bad: c.update({k: b})), tensors),
                              may_load=valid))
    arch = card_of(meta)["architecture"]
    for k in arch:
        for bad in (0, -1, "8", 2.5, None):
            if k == "name":
                bad = {0: "stylegan", -1: "", "8": "../dcgan", 2.5: 3, None: None}[bad]
            cases.append(Case(f"arch-{k}-{bad!r}", resave(with_card(meta, lambda c, k=k, b=bad: c["architecture"].update({k: b})), tensors)))
    # the graph: random bytes (with and without a card that vouches for them), a card claiming another sha256
    for i in range(6):
        data = rng.randbytes(rng.choice([0, 10, 1000]))

        def random_graph(d, data=data, vouch=i % 2 == 0):
            (d / GRAPH).write_bytes(data)
            if vouch:
                resave(with_card(meta, lambda c: c["files"].update({GRAPH: hashlib.sha256(data).hexdigest()})), tensors)(d)

        cases.append(Case(f"random-graph-{i}", random_graph, loads_weights=False))
    for sha in ("0" * 64, "not a sha", ""):
        cases.append(Case(f"graph-sha-{sha[:8]}", resave(with_card(meta, lambda c, s=sha: c["files"].update({GRAPH: s})), tensors), loads_weights=False))
    cases.append(Case("graph-missing", lambda d: (d / GRAPH).unlink(), loads_weights=False))
    cases.append(Case("pickle-as-graph", lambda d: (d / GRAPH).write_bytes(pickle.dumps(Marker(marker))), loads_weights=False))
    return cases


def onnx_cases(model: Path) -> list[Case]:
    """Graphs ONNX Runtime loads, but that are not this generator's: another input name, another output shape."""
    import onnx
    from onnx import TensorProto, helper

    meta, tensors = parts(model)
    nz = card_of(meta)["architecture"]["nz"]

    def vouched(graph: bytes) -> Callable[[Path], None]:
        def write(d):
            (d / GRAPH).write_bytes(graph)
            resave(with_card(meta, lambda c: c["files"].update({GRAPH: hashlib.sha256(graph).hexdigest()})), tensors)(d)

        return write

    renamed = onnx.load(str(model / GRAPH))
    old = renamed.graph.input[0].name
    renamed.graph.input[0].name = "x"
    for node in renamed.graph.node:
        node.input[:] = ["x" if n == old else n for n in node.input]

    def identity(out_shape: list, in_shape: list | None = None) -> bytes:
        node = helper.make_node("Identity", ["z"], ["images"]) if in_shape is None else helper.make_node(
            "Reshape", ["z", "shape"], ["images"])
        inits = [] if in_shape is None else [helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], out_shape)]
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", nz])],
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, None)], initializer=inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()

    return [
        Case("onnx-input-renamed", vouched(renamed.SerializeToString()), loads_weights=False),
        Case("onnx-output-is-z", vouched(identity([-1, nz])), loads_weights=False),
        Case("onnx-output-misshaped", vouched(identity([-1, 1, 2, nz // 2], in_shape=[-1, nz])), loads_weights=False),
    ]


@pytest.fixture(scope="module")
def generated(tiny_model, tmp_path_factory) -> tuple[list[Case], Path]:
    marker = tmp_path_factory.mktemp("marker") / "pwned"
    return model_cases(tiny_model, marker) + onnx_cases(tiny_model), marker


def damaged(tiny_model: Path, where: Path, case: Case) -> Path:
    import shutil

    d = Path(shutil.copytree(tiny_model, where / case.name.replace("/", "_")[:100]))
    case.damage(d)
    return d


def outcome(fn: Callable[[], object]) -> str | None:
    """None when fn succeeds; the one-line message when it refuses; anything else fails the test."""
    try:
        fn()
    except UserError as e:
        assert str(e) and "\n" not in str(e), repr(str(e))
        return str(e)
    return None


def test_every_malformed_model_is_refused_in_one_line(tiny_model, tmp_path, generated, alarm):
    cases, marker = generated
    assert len(cases) >= 150
    for case in cases:
        alarm()
        d = damaged(tiny_model, tmp_path, case)
        weights = outcome(lambda: checkpoint.load_weights(d / WEIGHTS))
        loaded = outcome(lambda: runtime.load(d).images(np.zeros((2, 8), np.float32)))
        if not case.may_load:
            assert loaded is not None, f"{case.name}: runtime.load accepted it"
            if case.loads_weights:
                assert weights is not None, f"{case.name}: load_weights accepted it"
    assert not marker.exists(), "a pickle was unpickled"


def test_the_cli_refuses_every_malformed_model_in_one_line(tiny_model, tmp_path, generated, alarm):
    cases, marker = generated
    runner = CliRunner()
    rng = random.Random(1)
    for case in rng.sample(cases, 60):
        alarm()
        d = damaged(tiny_model, tmp_path, case)
        command = rng.choice([["info", str(d)], ["sample", "--model", str(d), "--n", "2", "--out", str(tmp_path / "o.png")]])
        r = runner.invoke(app, command)
        assert r.exit_code in ((0, 2) if case.may_load or command[0] == "info" else (2,)), (case.name, r.output)
        if r.exit_code == 2:
            assert_one_error_line(r.output, case.name)
        assert not isinstance(r.exception, Exception) or isinstance(r.exception, SystemExit), (case.name, r.exception)
        assert not list(tmp_path.glob(".*.tmp"))
        if r.exit_code == 2 and command[0] == "sample":
            assert not (tmp_path / "o.png").exists(), case.name
    assert not marker.exists()


def assert_one_error_line(output: str, what: object) -> None:
    lines = [line for line in output.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), (what, output)
    assert "Traceback" not in output


# ---- every option, out of range and not a number ------------------------------------------------------------

INT = ["abc", "1.5", "", "99999999999999999999999", "0x10", LONG]
FLOAT = ["abc", "nan", "inf", "-inf", "1e999", "", LONG]
OPTION_CASES: list[list[str]] = []
NUMBER_OPTIONS: dict[str, set[str]] = {}  # command -> the number options fuzzed with words and non-numbers
for command, ints, floats, extra in [
    ("sample", ["--seed", "--n", "--steps", "--dim", "--scale"], ["--psi", "--fps"],
     [["--n", "0"], ["--n", "1025"], ["--seed", "-1"], ["--seed", "4294967296"], ["--dim", "8"], ["--dim", "-1"],
      ["--dim", "1", "--steps", "1"], ["--dim", "1", "--steps", "513"], ["--psi", "0"], ["--psi", "-1"], ["--psi", "2.5"],
      ["--fps", "0"], ["--fps", "51"], ["--dim", "1", "--range", "2", "1"], ["--dim", "1", "--range", "nan", "1"],
      ["--dim", "1", "--range", "-inf", "inf"], ["--dim", "1", "--range", "-1e30", "1e30"], ["--range", "a", "b"],
      ["--backend", "tensorflow"], ["--backend", LONG], ["--device", "tpu"], ["--out", "grid.jpg"],
      ["--out", LONG + ".png"], ["--model", LONG], ["--model", "no-such-model"], ["--model", "../../../etc/passwd"],
      ["--dim", "1"] * 17]),
    ("interpolate", ["--from", "--to", "--steps", "--scale"], ["--psi", "--fps"],
     [["--from", "-5"], ["--to", "4294967296"], ["--steps", "1"], ["--steps", "100000"], ["--psi", "0"],
      ["--fps", "-3"], ["--gif", "--fps", "0"], ["--out", "x.gif"], ["--out", LONG + ".png"], ["--model", LONG]]),
    ("walk", ["--seed", "--steps", "--scale"], ["--step-size", "--psi", "--fps"],
     [["--steps", "1"], ["--steps", "513"], ["--step-size", "0"], ["--step-size", "2"], ["--psi", "0"],
      ["--fps", "100"], ["--out", "walk"], ["--model", LONG]]),
]:
    NUMBER_OPTIONS[command] = {*ints, *floats}
    for option in ints:
        needs = ["--dim", "1"] if (command, option) == ("sample", "--steps") else []  # --steps is a sweep's
        OPTION_CASES += [[command, *needs, option, v] for v in INT]
    for option in floats:
        OPTION_CASES += [[command, option, v] for v in FLOAT]
    OPTION_CASES += [[command, *e] for e in extra]
OPTION_CASES += [
    ["info", LONG], ["info", "no-such-model"], ["info", "--list", "--nope"],
    ["export", LONG], ["export", "no-such-run"], ["export", "."],
    ["coverage", "--n", "99"], ["coverage", "--n", "abc"], ["coverage", "--n", "20001"], ["coverage", "--seed", "x"],
    ["serve", "--port", "99999"], ["serve", "--port", "-5"], ["serve", "--port", "abc"], ["serve", "--port", "80"],
    ["serve", "--host", LONG], ["serve", "--host", "203.0.113.7"], ["serve", "--host", ""], ["serve", "--model", LONG, "--port", "0"],
    ["frobnicate"], ["sample", "--nope"], ["train", "--steps", "abc"], ["train", "--epochs", "1.5"],
    ["project"], ["project", "no-such.png"], ["project", LONG + ".png"], ["project", "x.png", "--steps", "-1"],
    ["project", "x.png", "--steps", "501"], ["project", "x.png", "--steps", "abc"], ["project", "x.png", "--seed", "-1"],
    ["project", "x.png", "--out", "x.jpg"], ["project", "x.png", "--device", "tpu"], ["project", "x.png", "--model", LONG],
    ["encoder", "--steps", "0"], ["encoder", "--steps", "abc"], ["encoder", "--seed", "-1"], ["encoder", "no-such-model"],
]
TRAIN_SETS = [
    "steps=-1", "steps=99999999", "epochs=0", "epochs=abc", "batch_size=0", "batch_size=5000", "nz=0", "nz=100000",
    "ngf=0", "ngf=100000", "ndf=-4", "seed=-1", "seed=99999999999999999999", "lr_g=0", "lr_g=nan", "lr_d=inf",
    "lr_d=1.5", "beta1=1", "beta2=-0.1", "label_smoothing=0.5", "ema_decay=1", "n_critic=0", "n_critic=101",
    "log_every=0", "sample_every=0", "checkpoint_every=0", "keep_checkpoints=0", "max_rollbacks=21", "image_size=30",
    "device=tpu", "model=stylegan", "loss=hinge", "optimizer=rmsprop", "critic_norm=group", "dataset=cifar",
    "dataset=../../escape", "amp=maybe", "spectral_norm=2", "instance_noise=3", "feature_matching=-1", "gp_weight=5",
    "lr_decay=2", "lr_min=1", "momentum=0.9", "unknown_key=1", "nz", "=3", f"dataset={LONG}",
    f"{LONG}=1", "lr_g=1e-999", "steps=1e3",
]
OPTION_CASES += [["train", "mnist", "--set", s] for s in TRAIN_SETS]
OPTION_CASES += [["train", LONG], ["train", "nope.toml"], ["train", "../../escape"], ["train", "celeba", "--data", LONG],
                 ["train", "--resume", LONG], ["train", "mnist", "--device", "gpu"], ["train", "mnist", "--steps", "0"]]


def test_every_option_out_of_range_or_not_a_number_is_one_line_exit_2(tiny_model, tmp_path, monkeypatch, alarm):
    """With cwd in a fresh folder nested two deep: a path that escapes upward would show up beside it."""
    import types

    work = tmp_path / "outer" / "inner" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("GANSTUDIO_MODEL", str(tiny_model))
    studio = types.ModuleType("ganstudio.studio.app")  # a `serve` that gets through its checks would launch this
    studio.launch = lambda **_: pytest.fail("serve launched despite a bad option")
    monkeypatch.setitem(sys.modules, "ganstudio.studio.app", studio)
    runner = CliRunner()
    for args in OPTION_CASES:
        alarm()
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args[:4], r.output[:300], r.exception)
        assert_one_error_line(r.output, [a[:40] for a in args])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [], "a refused command wrote a file"


def test_every_number_option_of_the_drawing_commands_is_fuzzed():
    """A number option added to sample, interpolate or walk gets the word and non-number cases too."""
    import typer.main

    commands = typer.main.get_command(app).commands
    numeric = {name: {p.opts[0] for p in commands[name].params
                      if p.param_type_name == "option" and getattr(p.type, "name", "") in ("int", "float")}
               for name in NUMBER_OPTIONS}
    assert numeric == NUMBER_OPTIONS


# ---- recipe files, logs and cards a person (or a crash) wrote ------------------------------------------------


def recipe_files() -> list[tuple[str, bytes]]:
    rng = random.Random(2)
    defaults = recipe.Recipe().to_dict()
    out = []
    for key, value in defaults.items():
        wrong = {bool: '"yes"', int: '"seven"', float: "[1.0]", str: "7"}[type(value)]
        out.append((f"wrong-type-{key}", f"{key} = {wrong}\n".encode()))
    for i in range(10):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randrange(3, 20)))
        out.append((f"unknown-key-{name}", f'dataset = "mnist"\n{name} = 1\n'.encode()))
    for i in range(6):
        out.append((f"random-bytes-{i}", rng.randbytes(rng.choice([1, 50, 500]))))
    out += [("not-utf8", b'dataset = "\xff\xfe"\n'), ("table", b"[model]\nname = 1\n"), ("nested", b"nz = {a = 1}\n"),
            ("huge-int", b"nz = 99999999999999999999999999\n"), ("dataset-escape", b'dataset = "../../escape"\n')]
    return out


def test_malformed_recipe_files_are_refused_before_any_compute(tmp_path, monkeypatch, alarm):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for name, data in recipe_files():
        alarm()
        path = work / f"{name[:60]}.toml"
        path.write_bytes(data)
        r = CliRunner().invoke(app, ["train", str(path), "--out", str(work / "run")])
        assert r.exit_code == 2, (name, r.output[:300], r.exception)
        assert_one_error_line(r.output, name)
        assert not (work / "run").exists()
        path.unlink()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished 6-step training run to damage copies of."""
    run = tmp_path_factory.mktemp("runs") / "run"
    r = CliRunner().invoke(app, ["train", "mnist", "--steps", "6", "--out", str(run), "--set", "nz=12", "--set", "ngf=8",
                                 "--set", "ndf=8", "--set", "batch_size=16", "--set", "log_every=2"])
    assert r.exit_code == 0, r.output
    return run


def log_damage() -> list[tuple[str, str, bytes]]:
    rng = random.Random(3)
    good = b'{"step": 2, "loss_g": 1.0}\n'
    out = []
    for i in range(6):
        out.append(("metrics.jsonl", f"random-{i}", good + rng.randbytes(rng.randrange(1, 200)) + b"\n" + good))
    out += [("metrics.jsonl", "not-an-object", good + b"[1, 2]\n"), ("metrics.jsonl", "no-step", b'{"loss_g": 1}\n' + good),
            ("metrics.jsonl", "step-is-text", b'{"step": "2"}\n'), ("metrics.jsonl", "nul-bytes", b"\0" * 40 + b"\n" + good),
            ("alerts.jsonl", "no-kind", b'{"step": 2, "message": "m"}\n'), ("alerts.jsonl", "random", rng.randbytes(99) + b"\n"),
            ("alerts.jsonl", "kind-is-a-number", b'{"step": 2, "kind": 1, "message": "m"}\n')]
    for i in range(6):
        out.append(("card.json", f"card-random-{i}", rng.randbytes(rng.randrange(1, 300))))
    out += [("card.json", "card-truncated", b'{"files": {"generator.safetensors": "ab'), ("card.json", "card-null", b"null"),
            ("card.json", "card-files-list", b'{"files": ["a"]}'), ("card.json", "card-escape", b'{"files": {"../../../x": "0"}}')]
    return out


def test_corrupt_logs_and_card_json_are_one_line(run_dir, tmp_path, alarm):
    """export reads metrics.jsonl and alerts.jsonl (refused before anything is written); info reads card.json."""
    import shutil

    runner = CliRunner()
    for file, name, data in log_damage():
        alarm()
        d = Path(shutil.copytree(run_dir, tmp_path / name))
        (d / file).write_bytes(data)
        before = {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()}
        r = runner.invoke(app, ["info", str(d)] if file == "card.json" else ["export", str(d)])
        if name == "card-escape":  # card.json may name any file: info reads only its own three
            assert r.exit_code == 0, r.output
            continue
        assert r.exit_code == 2, (name, r.output[:300], r.exception)
        assert_one_error_line(r.output, name)
        assert {p: p.stat().st_mtime_ns for p in d.rglob("*") if p.is_file()} == before, f"{name}: files changed"


def test_pickles_anywhere_a_file_is_read_are_never_unpickled(run_dir, tmp_path, alarm):
    import shutil

    marker = tmp_path / "pwned"
    evil = pickle.dumps(Marker(marker))
    runner = CliRunner()
    alarm()
    pt = tmp_path / "generator.pt"
    pt.write_bytes(evil)
    r = runner.invoke(app, ["sample", "--model", str(pt), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "not a ganstudio model file" in r.output
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    for p in (run / "state").glob("*.safetensors"):
        p.write_bytes(evil)  # a training checkpoint that is a pickle
    for args in (["export", str(run)], ["train", "--resume", str(run)]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        assert_one_error_line(r.output, args)
    png = tmp_path / "evil.png"
    png.write_bytes(evil)
    with pytest.raises(UserError):
        images.read_recipe(png)
    assert not marker.exists()


# ---- through the real process --------------------------------------------------------------------------------


def test_the_real_process_prints_one_line_and_exits_2(tiny_model, tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / WEIGHTS).write_bytes(pickle.dumps(Marker(marker)))
    pt = tmp_path / "generator.pt"
    pt.write_bytes(pickle.dumps(Marker(marker)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args in (["info", str(bad)], ["sample", "--model", str(pt)], ["sample", "--n", "abc"],
                 ["serve", "--port", "99999"], ["walk", "--model", str(tiny_model), "--psi", "0"],
                 ["train", "mnist", "--set", "nz=-3"]):
        p = subprocess.run([sys.executable, "-m", "ganstudio", *args], capture_output=True, text=True, timeout=120,
                           env=env, cwd=tmp_path)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, (args, p.stderr)
        assert "Traceback" not in p.stdout + p.stderr
    assert not marker.exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad", "generator.pt"]
