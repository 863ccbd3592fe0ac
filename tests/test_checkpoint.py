"""The loader is strict: anything that is not exactly one of ours is refused in one line, never unpickled."""

import json
import pickle

import numpy as np
import pytest
from safetensors.numpy import save_file

from ganstudio.artifact import checkpoint
from ganstudio.artifact.checkpoint import Card
from ganstudio.errors import UserError

ARCH = {"name": "dcgan", "nz": 8, "ngf": 8, "image_size": 28, "channels": 1}


def card(**changes) -> Card:
    return Card(architecture=dict(ARCH), output_range=(-1.0, 1.0), dataset="mnist").replace(**changes)


def tensors():
    return {"a": np.ones((2, 3), np.float32), "b": np.zeros(4, np.float32)}


def rewrite(path, mutate):
    """Re-save a checkpoint with its tensors or metadata mutated, keeping everything else."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
        ts = {k: f.get_tensor(k) for k in f.keys()}
    mutate(ts, meta)
    save_file(ts, str(path), metadata=meta)


def test_round_trip(tmp_path):
    p = checkpoint.save_weights(tmp_path / "g.safetensors", card(notes="hi"), tensors())
    c, ts = checkpoint.load_weights(p)
    assert c == card(notes="hi")
    assert c.nz == 8 and c.image_size == 28 and c.channels == 1
    np.testing.assert_array_equal(ts["a"], tensors()["a"])
    assert checkpoint.read_card(p) == c


def test_save_refuses_non_finite(tmp_path):
    with pytest.raises(ValueError):
        checkpoint.save_weights(tmp_path / "g.safetensors", card(), {"a": np.array([np.nan], np.float32)})


def expect_refused(path, match):
    with pytest.raises(UserError, match=match) as e:
        checkpoint.load_weights(path)
    assert "\n" not in str(e.value)


def test_refuses_missing_file(tmp_path):
    expect_refused(tmp_path / "nope.safetensors", "no such file")


def test_refuses_a_pickle(tmp_path):
    p = tmp_path / "g.safetensors"
    p.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    expect_refused(p, "not a readable safetensors")


def test_refuses_truncated(tmp_path):
    p = checkpoint.save_weights(tmp_path / "g.safetensors", card(), tensors())
    p.write_bytes(p.read_bytes()[:-7])
    expect_refused(p, "not a readable safetensors")


def test_refuses_a_foreign_safetensors(tmp_path):
    p = tmp_path / "g.safetensors"
    save_file(tensors(), str(p))
    expect_refused(p, "not a ganstudio generator")


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda ts, m: ts.pop("a"), "missing \\['a'\\]"),
        (lambda ts, m: ts.update(c=np.zeros(1, np.float32)), "extra \\['c'\\]"),
        (lambda ts, m: ts.update(a=np.ones((3, 2), np.float32)), "shape"),
        (lambda ts, m: ts.update(a=np.ones((2, 3), np.float64)), "F64"),
        (lambda ts, m: ts.update(b=np.array([0, np.inf, 0, 0], np.float32)), "NaN or Inf"),
        (lambda ts, m: ts.update(b=np.array([0, np.nan, 0, 0], np.float32)), "NaN or Inf"),
        (lambda ts, m: m.update({"ganstudio.card": "{not json"}), "not valid JSON"),
    ],
)
def test_refuses_damaged_contents(tmp_path, mutate, match):
    p = checkpoint.save_weights(tmp_path / "g.safetensors", card(), tensors())
    rewrite(p, mutate)
    expect_refused(p, match)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda d: d.update(format_version=99), "format version 99 is not supported"),
        (lambda d: d.update(format="something-else"), "not a ganstudio generator"),
        (lambda d: d.update(surprise=1), "unknown keys"),
        (lambda d: d.pop("dataset"), "incomplete"),
        (lambda d: d.update(architecture={**ARCH, "name": "stylegan"}), "unknown architecture"),
        (lambda d: d.update(architecture={**ARCH, "nz": -3}), "positive integer"),
        (lambda d: d.update(architecture={**ARCH, "extra": 1}), "needs exactly"),
        (lambda d: d.update(architecture={**ARCH, "classes": 1}), "classes=1 must be 2..nz"),
        (lambda d: d.update(architecture={**ARCH, "classes": ARCH["nz"] + 1}), "must be 2..nz"),
        (lambda d: d.update(architecture={**ARCH, "classes": True}), "positive integer"),
        (lambda d: d.update(output_range=[1, -1]), "not an interval"),
        # not only the top-level keys: every field `info` and the runtime read has the type they expect
        (lambda d: d.update(parity={"max_abs_diff": "tiny", "per_batch": {}, "tolerance": 1e-4}), "parity"),
        (lambda d: d.update(parity={"max_abs_diff": 1e-6, "per_batch": [1, 2], "tolerance": 1e-4}), "parity"),
        (lambda d: d.update(parity={"max_abs_diff": 1e-6}), "parity"),
        (lambda d: d.update(parity=[1e-6]), "parity"),
        (lambda d: d.update(metrics={"d_x": "high"}), "metrics"),
        (lambda d: d.update(metrics=[0.5]), "metrics"),
        (lambda d: d.update(training="long"), "training"),
        (lambda d: d.update(training={"steps": "many"}), "training"),
        (lambda d: d.update(training={"steps": 10, "recipe": "dcgan"}), "training"),
        (lambda d: d.update(training={"steps": 10, "seconds": None}), "training"),
        (lambda d: d.update(files={"generator.onnx": 7}), "files"),
        (lambda d: d.update(notes=["a"]), "notes"),
        (lambda d: d.update(dataset=3), "dataset"),
        (lambda d: d.update(output_range=[-1]), "output_range|malformed"),
        (lambda d: d.update(output_range="ab"), "output_range|malformed"),
    ],
)
def test_refuses_bad_cards(tmp_path, change, match):
    p = checkpoint.save_weights(tmp_path / "g.safetensors", card(), tensors())

    def mutate(ts, meta):
        d = json.loads(meta["ganstudio.card"])
        change(d)
        meta["ganstudio.card"] = json.dumps(d)

    rewrite(p, mutate)
    expect_refused(p, match)


def test_write_is_atomic_when_interrupted(tmp_path, monkeypatch):
    p = checkpoint.save_weights(tmp_path / "g.safetensors", card(notes="old"), tensors())
    before = p.read_bytes()

    def killed(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_weights(p, card(notes="new"), tensors())
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["g.safetensors"]


def test_a_card_with_every_optional_field_filled_in_still_loads(tmp_path):
    full = card(
        training={"steps": 10, "epochs": 0.5, "images_seen": 640, "seconds": 1.5, "device": "cpu", "exported": "ema",
                  "date": "2026-12-01T00:00:00+00:00", "ganstudio_version": "0.1.0", "recipe": {"seed": 0}},
        metrics={"d_x": 0.5, "classes_drawn": 10.0}, notes="fine",
        parity={"max_abs_diff": 1e-6, "per_batch": {"1": 1e-6}, "tolerance": 1e-4}, files={"generator.onnx": "ab" * 32},
    )
    p = checkpoint.save_weights(tmp_path / "g.safetensors", full, tensors())
    assert checkpoint.read_card(p) == full
