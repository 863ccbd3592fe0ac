"""Real training on the 5,000 MNIST digits: it learns, it resumes exactly, and a killed run loses nothing."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file
from typer.testing import CliRunner

from ganstudio.explore import runtime
from ganstudio.cli import app
from ganstudio.train import state

runner = CliRunner()
TINY = ["--set", "nz=8", "--set", "ngf=8", "--set", "ndf=8", "--set", "batch_size=16", "--set", "log_every=5"]


def train(*args) -> None:
    result = runner.invoke(app, ["train", *[str(a) for a in args]])
    assert result.exit_code == 0, result.output


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_short_real_run_learns(tmp_path):
    run = tmp_path / "run"
    train("mnist", "--steps", 90, "--out", run, "--set", "ngf=32", "--set", "ndf=32",
          "--set", "log_every=10", "--set", "sample_every=30", "--set", "checkpoint_every=45")
    log = rows(run)
    assert [r["step"] for r in log] == list(range(10, 91, 10))
    first, last = log[0], log[-1]
    for key in ("loss_d_real", "loss_d_fake", "loss_g", "d_x", "d_g_z"):
        assert np.isfinite(first[key]) and np.isfinite(last[key])
    assert abs(first["loss_g"] - last["loss_g"]) > 0.05  # G's loss moves
    assert abs(first["loss_d_fake"] - last["loss_d_fake"]) > 0.05  # D's loss moves
    assert any(k.startswith("grad/G/net.0") for k in first) and any(k.startswith("grad/D/features.0") for k in first)
    grids = sorted((run / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_0000030.png", "step_0000060.png", "step_0000090.png"]
    a, b = (np.asarray(Image.open(g), dtype=float) for g in (grids[0], grids[-1]))
    assert np.abs(a - b).mean() > 2  # the fixed-z samples change as G learns
    assert [p.name for p in state.checkpoints(run)] == ["step_0000045.safetensors", "step_0000090.safetensors"]
    gen = runtime.load(run)
    assert gen.card.training["steps"] == 90 and gen.card.dataset == "mnist"
    assert gen.card.training["exported"] == "ema"
    assert list((run / "tensorboard").iterdir())
    assert not (run / "alerts.jsonl").exists()  # healthy: the watchdog names no failure mode
    assert gen.card.notes == "training health: the watchdog raised no alerts"
    assert (run / "report.html").is_file()


def final_state(run: Path) -> dict[str, np.ndarray]:
    return load_file(str(state.latest(run)))


def assert_same_state(a: Path, b: Path) -> None:
    sa, sb = final_state(a), final_state(b)
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not np.array_equal(sa[k], sb[k])]
    assert not different, different[:5]


def test_resume_matches_an_uninterrupted_run_bit_for_bit(tmp_path):
    straight = tmp_path / "straight"
    train("mnist", "--steps", 110, "--out", straight, *TINY, "--set", "checkpoint_every=10", "--set", "keep_checkpoints=20")
    # Stop after step 10: keep only what existed then.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "state").mkdir()
    shutil.copy(straight / "state" / "step_0000010.safetensors", resumed / "state")
    train("--resume", resumed)
    assert state.latest(resumed).name == "step_0000110.safetensors"
    assert_same_state(straight, resumed)  # 100 steps after the resume: G, D, EMA, both Adams, RNG states
    assert [r["step"] for r in rows(resumed)][-1] == 110


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    args = ["mnist", "--steps", "400", *map(str, TINY), "--set", "checkpoint_every=20", "--set", "sample_every=1000"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "ganstudio", "train", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(state.checkpoints(killed)) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.latest(killed) is not None, "no checkpoint appeared before the kill"
    assert not (killed / "generator.safetensors").exists() or state.latest(killed).name.endswith("0400.safetensors")
    for p in state.checkpoints(killed):  # every checkpoint on disk is complete and readable
        state.read(p)
    r = runner.invoke(app, ["train", *args, "--out", str(killed)])
    assert r.exit_code == 2 and "--resume" in r.output  # a fresh run will not overwrite it
    train("--resume", killed)
    straight = tmp_path / "straight"
    train(*args, "--out", straight)
    assert_same_state(straight, killed)


def test_training_refuses_bad_recipes_before_computing(tmp_path):
    for args, message in [
        (["mnist", "--steps", "-5"], "steps -5 is out of range"),
        (["mnist", "--steps", "99999999999"], "out of range"),
        (["mnist", "--set", "learning_rate=3"], "unknown recipe key 'learning_rate'"),
        (["mnist", "--set", "lr_d=fast"], "lr_d='fast': expected float"),
        (["mnist", "--set", "nz"], "expected key=value"),
        (["cifar"], "unknown dataset 'cifar'"),
        (["nope.toml"], "no such recipe file"),
        (["--resume", str(tmp_path)], "no training checkpoint"),
        (["mnist", "--device", "tpu"], "device 'tpu'"),
    ]:
        r = runner.invoke(app, ["train", *args, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output, (args, r.output)
        assert "Traceback" not in r.output
