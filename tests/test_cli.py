"""The CLI end to end, through typer's CliRunner (in-process) and, where the process matters, a subprocess."""

import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.explore import images, latent, runtime
from ganstudio.cli import app

runner = CliRunner()
COMMANDS = ["sample", "interpolate", "walk", "info", "train", "export", "serve"]


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
