"""Real training on the 5,000 MNIST digits: it learns, it resumes exactly, and a killed run loses nothing."""

import json
import random
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

from conftest import one_thread

runner = CliRunner()
TINY = ["--set", "nz=12", "--set", "ngf=8", "--set", "ndf=8", "--set", "batch_size=16", "--set", "log_every=5"]


def train(*args) -> None:
    result = runner.invoke(app, ["train", *[str(a) for a in args]])
    assert result.exit_code == 0, result.output


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_short_real_run_learns(tmp_path):
    run = tmp_path / "run"
    # The plain DCGAN loop: the recipe's mode-seeking terms hold D(G(z)) near the watchdog's line for stretches
    # (docs/shipped-models.md), and this run must raise no alert.
    train("mnist", "--steps", 90, "--out", run, "--set", "ngf=32", "--set", "ndf=32", "--set", "mode_seeking=0",
          "--set", "mode_seeking_axis=0", "--set", "log_every=10", "--set", "sample_every=30", "--set", "checkpoint_every=45")
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
    assert gen.card.notes.splitlines()[0] == "training health: the watchdog raised no alerts"
    assert (run / "report.html").is_file()


def final_state(run: Path) -> dict[str, np.ndarray]:
    return load_file(str(state.latest(run)))


def assert_same_state(a: Path, b: Path) -> None:
    sa, sb = final_state(a), final_state(b)
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not np.array_equal(sa[k], sb[k])]
    assert not different, different[:5]


@pytest.mark.slow
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


def logs(run: Path) -> tuple[str, str]:
    return tuple((run / name).read_text() if (run / name).exists() else "" for name in ("metrics.jsonl", "alerts.jsonl"))


def tensorboard_steps(run: Path, tag: str = "loss_g") -> list[int]:
    """The steps TensorBoard shows for a tag (it hides what a restart purged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def temp_files(run: Path) -> list[Path]:
    return sorted(run.rglob(".*.tmp"))


@pytest.mark.slow
def test_a_run_killed_20_times_at_random_moments_ends_as_an_uninterrupted_run(tmp_path):
    """SIGKILL at seeded random moments while it trains (mid-step, mid-append, mid-checkpoint), resume each time.

    The kills run with a horizon it never reaches; the last resume sets the real end (steps may change on resume),
    and an uninterrupted run to that end must give the same bits, logs and TensorBoard steps.
    """
    common = [*map(str, TINY), "--set", "checkpoint_every=3", "--set", "sample_every=40", "--set", "keep_checkpoints=3"]
    killed = tmp_path / "killed"
    rng = random.Random(20)
    latest = -1
    with one_thread() as env:
        for kill in range(20):
            latest = kill_once(killed, kill, common, rng, latest, env)
        r = runner.invoke(app, ["train", "mnist", *common, "--out", str(killed)])
        assert r.exit_code == 2 and "--resume" in r.output  # a fresh run will not overwrite it
        end = latest + 10
        train("--resume", killed, "--steps", end)
        straight = tmp_path / "straight"
        train("mnist", "--steps", end, *common, "--out", straight)
    assert_same_state(straight, killed)
    assert logs(killed) == logs(straight)
    assert tensorboard_steps(killed) == tensorboard_steps(straight)
    assert temp_files(killed) == []


def kill_once(killed: Path, kill: int, common: list[str], rng: random.Random, latest: int, env: dict[str, str]) -> int:
    """Start (or resume) the run, wait for a new checkpoint, SIGKILL it a random moment later; the newest step."""
    first = kill == 0
    cmd = ["train", "mnist", "--steps", "1000000", *common, "--out", str(killed)] if first else ["train", "--resume", str(killed)]
    proc = subprocess.Popen([sys.executable, "-m", "ganstudio", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 90
    while time.time() < deadline and (state.latest(killed) is None or state.step_of(state.latest(killed)) <= latest):
        time.sleep(0.01)  # wait until this incarnation has trained and saved once, then kill it somewhere later
    time.sleep(rng.uniform(0, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    found = state.checkpoints(killed)
    assert found, f"kill {kill}: no checkpoint"
    for p in found:  # every checkpoint on disk is whole
        state.read(p)
    assert state.step_of(found[-1]) > latest, f"kill {kill}: the step went from {latest} to {state.step_of(found[-1])}"
    return state.step_of(found[-1])


def emulate_kill(straight: Path, to: Path, at: int) -> Path:
    """What a kill leaves once the checkpoint at step `at` is the newest: logs as written by then and later."""
    shutil.copytree(straight, to)
    for p in state.checkpoints(to):
        if state.step_of(p) > at:
            p.unlink()
    for name in ("generator.safetensors", "generator.onnx", "card.json", "grid.png", "report.html"):
        (to / name).unlink()
    return to


# D wins within 10 steps and the watchdog names it at step 25 (see test_watchdog): a run with an alert to keep.
D_WINS = ["--set", "loss=minimax", "--set", "lr_g=1e-7", "--set", "lr_d=5e-3"]


@pytest.mark.slow
@pytest.mark.parametrize("at", [12, 27])
def test_a_run_resumed_between_two_logged_rows_logs_what_an_uninterrupted_run_logs(tmp_path, at):
    straight = tmp_path / "straight"
    train("mnist", "--steps", 40, "--out", straight, *TINY, *D_WINS, "--set", "checkpoint_every=3", "--set", "keep_checkpoints=20")
    assert [json.loads(line)["step"] for line in logs(straight)[1].splitlines()] == [25]
    killed = emulate_kill(straight, tmp_path / "killed", at)  # log_every 5: the row after `at` sums steps on both sides
    train("--resume", killed)
    assert_same_state(straight, killed)
    assert logs(killed) == logs(straight)
    assert tensorboard_steps(killed) == tensorboard_steps(straight) == list(range(5, 41, 5))


@pytest.mark.slow
def test_a_run_extended_after_ending_between_two_logged_rows_logs_what_one_longer_run_logs(tmp_path):
    straight = tmp_path / "straight"
    train("mnist", "--steps", 40, "--out", straight, *TINY, *D_WINS)
    split = tmp_path / "split"
    train("mnist", "--steps", 22, "--out", split, *TINY, *D_WINS)  # ends with a partial row at 22
    assert [row["step"] for row in rows(split)][-1] == 22
    train("--resume", split, "--steps", 40)
    assert_same_state(straight, split)
    assert logs(split) == logs(straight)
    assert tensorboard_steps(split) == tensorboard_steps(straight)


def test_resume_refuses_to_change_what_the_run_is_and_allows_how_long_and_where(tmp_path):
    run = tmp_path / "run"
    train("mnist", "--steps", 5, "--out", run, *TINY)
    for key, value in [("seed", "1"), ("batch_size", "8"), ("model", "mlp"), ("nz", "16"), ("dataset", "fashion-mnist"),
                       ("lr_g", "1e-3"), ("ema_decay", "0.99"), ("log_every", "7")]:
        r = runner.invoke(app, ["train", "--resume", str(run), "--set", f"{key}={value}"])
        assert r.exit_code == 2, (key, r.output)
        assert r.output.startswith(f"error: --resume: {key} cannot change") and r.output.count("\n") == 1, r.output
    train("--resume", run, "--steps", 8, "--set", "seed=0", "--set", "sample_every=4", "--set", "keep_checkpoints=3",
          "--device", "cpu")  # the same seed is no change; length, cadence and device may change
    assert state.step_of(state.latest(run)) == 8


@pytest.mark.slow
def test_a_torn_last_log_line_is_dropped_with_one_warning_by_export_and_resume(tmp_path):
    run = tmp_path / "run"
    train("mnist", "--steps", 10, "--out", run, *TINY, "--set", "checkpoint_every=5")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 15, "loss_g": 1.')  # a kill mid-append
    (run / "alerts.jsonl").write_text('{"step": 3, "kind": "mode coll')
    r = runner.invoke(app, ["export", str(run)])
    assert r.exit_code == 0, r.output
    assert r.output.count("its last line is torn") == 2 and "Traceback" not in r.output  # one per log
    train("--resume", run, "--steps", 15)
    assert [row["step"] for row in rows(run)] == [5, 10, 15]
    assert not (run / "alerts.jsonl").read_text()


@pytest.mark.slow
def test_a_run_far_too_short_to_learn_says_so_in_the_card_and_the_output(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "mnist", "--steps", "60", "--out", str(run), *TINY])
    assert r.exit_code == 0, r.output
    assert "far too short" in r.output
    assert "far too short" in runtime.load(run).card.notes
    r = runner.invoke(app, ["export", str(run)])
    assert "far too short" in r.output


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
