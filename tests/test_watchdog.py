"""The watchdog names each failure mode when its rule holds long enough, stays quiet on healthy rows, does not
flap, and rolls a diverged run back at lower learning rates (then stops). Rules are tested on synthetic rows;
then each failure mode is produced by a real (tiny, seconds-long) MNIST run built to fail that way."""

import io
import json
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors.numpy import load_file
from typer.testing import CliRunner

from ganstudio.cli import app
from ganstudio.errors import UserError
from ganstudio.train import loop, recipe, state, watchdog
from ganstudio.train.watchdog import PATIENCE, Episode, Watchdog

TINY = ["nz=8", "ngf=8", "ndf=8", "batch_size=16", "log_every=5", "sample_every=1000"]


def healthy(i: int = 0, **changes: float) -> dict[str, float]:
    """A logged row of a DCGAN run going well, with a little noise."""
    jitter = random.Random(i).uniform(-0.1, 0.1)
    row = {"loss_d_real": 0.5 + jitter, "loss_d_fake": 0.6 - jitter, "loss_g": 1.2 + jitter, "d_x": 0.7, "d_g_z": 0.35,
           "diversity_real": 0.3, "diversity_fake": 0.2 + jitter / 10, "grad/D/features.0": 2.0, "grad/D/head": 1.0,
           "grad/G/net.0": 1.0 + jitter, "grad/G/net.6": 3.0}
    return row | changes


def dog(tmp_path, max_rollbacks: int = 3) -> Watchdog:
    return Watchdog(tmp_path, Console(file=io.StringIO()), max_rollbacks)


def feed(w: Watchdog, rows: list[dict[str, float]], first_step: int = 5) -> list[str]:
    """Check rows as if logged every 5 steps; the kinds announced, in order."""
    before = len(watchdog.read_alerts(w.path.parent))
    for i, row in enumerate(rows):
        assert w.check(first_step + 5 * i, row) is None
    return [a["kind"] for a in watchdog.read_alerts(w.path.parent)[before:]]


# ---- the rules, on synthetic rows --------------------------------------------------------------------------


def test_healthy_rows_raise_nothing(tmp_path):
    assert feed(dog(tmp_path), [healthy(i) for i in range(300)]) == []


def test_an_episode_starts_after_patience_rows_and_rearms_only_after_as_many_good_ones():
    e = Episode()
    assert [e.update(True) for _ in range(PATIENCE)] == [False] * (PATIENCE - 1) + [True]
    assert not any(e.update(True) for _ in range(20))  # announced once per episode
    assert not any(e.update(v) for v in [False] * (PATIENCE - 1) + [True] * PATIENCE)  # a short lull does not re-arm
    assert not any(e.update(False) for _ in range(PATIENCE))
    assert [e.update(True) for _ in range(PATIENCE)][-1]  # a new episode after PATIENCE good rows


def test_d_winning_is_named_once_it_persists_and_not_when_it_flickers(tmp_path):
    w = dog(tmp_path)
    flicker = [healthy(i) if i % 2 else healthy(i, d_g_z=0.01) for i in range(40)]  # ends on a good row
    assert feed(w, flicker) == []  # never PATIENCE intervals running
    assert feed(w, [healthy(i, d_g_z=0.01, d_x=0.99) for i in range(PATIENCE - 1)]) == []
    assert feed(w, [healthy(0, d_g_z=0.01, d_x=0.99)] * 10) == ["convergence failure"]
    message = watchdog.read_alerts(tmp_path)[-1]["message"]
    assert "D(G(z)) is 0.01 (below 0.05) while D(x) is 0.99" in message and "spectral_norm" in message


def test_vanishing_g_gradients_are_a_convergence_failure_under_any_loss(tmp_path):
    wgan = [{"loss_d": -1.0, "wasserstein": 1.0, "gp": 0.1, "loss_g": 0.5, "grad/G/net.0": g, "grad/G/net.6": 1.0}
            for g in (2.0, 1.0, 0.5, 0.03, 0.019, 0.015, 0.01, 0.01, 0.01)]
    assert feed(dog(tmp_path), wgan) == ["convergence failure"]
    message = watchdog.read_alerts(tmp_path)[-1]["message"]
    assert "G's first-layer gradient has fallen 200x from its peak at step 5" in message  # 2.0 -> 0.01


def test_mode_collapse_is_a_fall_in_diversity_not_a_slow_start(tmp_path):
    slow_start = [healthy(i, diversity_fake=0.0008, diversity_real=0.3) for i in range(50)]  # the MNIST MLP's first steps
    assert feed(dog(tmp_path / "slow"), slow_start) == []
    w = dog(tmp_path)
    rows = [healthy(i, diversity_fake=0.09) for i in range(5)] + [healthy(i, diversity_fake=0.003) for i in range(10)]
    assert feed(w, rows) == ["mode collapse"]
    message = watchdog.read_alerts(tmp_path)[-1]["message"]
    assert "the fakes vary 0.010x as much as real images (down from 0.300x at step 5)" in message


def gaps(values: list[float]) -> list[dict[str, float]]:
    """Rows whose G-D loss gap takes these values."""
    return [healthy(i, loss_d_real=0.5, loss_d_fake=0.5, loss_g=1.0 + v) for i, v in enumerate(values)]


def test_oscillation_is_a_large_back_and_forth_swing_of_the_loss_gap(tmp_path):
    assert feed(dog(tmp_path / "noise"), gaps([0.3 * (-1) ** i for i in range(40)])) == []  # small swings
    assert feed(dog(tmp_path / "trend"), gaps([2.0 * i for i in range(40)])) == []  # large but one way
    assert feed(dog(tmp_path), gaps([1.5 * (-1) ** i for i in range(12)])) == ["oscillation"]
    message = watchdog.read_alerts(tmp_path)[-1]["message"]
    assert "reversed direction 4 times in 6 intervals, by 3.00 nats an interval" in message


def test_oscillation_is_not_judged_on_a_wgan_critic_whose_scores_have_no_scale(tmp_path):
    rows = [{"loss_d": 5.0 * (-1) ** i, "wasserstein": 1.0, "gp": 0.1, "loss_g": -5.0 * (-1) ** i, "grad/G/net.0": 1.0}
            for i in range(30)]
    assert feed(dog(tmp_path), rows) == []


def test_a_replayed_history_continues_an_episode_silently(tmp_path):
    """A resumed run replays metrics.jsonl: what an uninterrupted run would announce, it announces, once."""
    bad = healthy(0, d_g_z=0.01)
    w = dog(tmp_path)
    w.rewind([{"step": 5 * (i + 1), **bad} for i in range(PATIENCE - 1)])
    assert watchdog.read_alerts(tmp_path) == []
    assert feed(w, [bad], first_step=5 * PATIENCE) == ["convergence failure"]
    w.rewind([{"step": 5 * (i + 1), **bad} for i in range(PATIENCE + 3)])  # the episode had been announced already
    assert feed(w, [bad]) == []


def test_nan_rows_are_reported_not_judged_and_rollbacks_are_bounded(tmp_path):
    w = dog(tmp_path, max_rollbacks=2)
    assert w.check(10, healthy(0, loss_g=math.nan, d_x=math.inf)) == "loss_g, d_x"
    assert w.check(10, {f"grad/G/{i}": math.nan for i in range(5)}) == "grad/G/0, grad/G/1, grad/G/2 and 2 more monitors"
    last = tmp_path / "state" / "step_0000010.safetensors"
    w.diverged(15, "loss_g", last, 10)
    w.diverged(17, "loss_g", last, 10)
    assert (w.lr_scale, w.rollbacks) == (0.25, 2) and w.state() == {"lr_scale": 0.25, "rollbacks": 2, "alerts": 2}
    with pytest.raises(UserError, match="NaN/Inf in loss_g by step 19, after 2 rollbacks .* down to 0.25x") as e:
        w.diverged(19, "loss_g", last, 10)
    assert str(last) in str(e.value) and "\n" not in str(e.value)
    alerts = watchdog.read_alerts(tmp_path)
    assert [a["kind"] for a in alerts] == ["NaN/Inf"] * 3
    assert "rolled back to step 10 with the learning rates at 0.5x the recipe's (rollback 1 of at most 2)" in alerts[0]["message"]


def test_card_notes_name_the_alerts(tmp_path):
    assert watchdog.notes(tmp_path, {}) == "training health: the watchdog raised no alerts"
    w = dog(tmp_path)
    feed(w, [healthy(0, d_g_z=0.01)] * PATIENCE)
    w.diverged(40, "loss_g", tmp_path / "x", 30)
    assert watchdog.notes(tmp_path, w.state()) == (
        "training health: convergence failure at step 20; NaN/Inf at step 40; "
        "trained on at 0.5x the recipe's learning rates (see report.html)")


def test_max_rollbacks_is_checked_with_the_recipe():
    assert recipe.make(max_rollbacks=0).max_rollbacks == 0
    with pytest.raises(UserError, match="max_rollbacks -1 is out of range: use 0..20"):
        recipe.make(max_rollbacks=-1)


# ---- each failure mode, from a real run built to fail that way ------------------------------------------------


def train(tmp_path, monkeypatch, *values: str, name: str = "run") -> list[dict]:
    """Train a tiny MNIST recipe (no export); the alerts it raised."""
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    loop.train(recipe.make(dataset="mnist", **recipe.parse_overrides([*TINY, *values])), tmp_path / name, tensorboard=False)
    return watchdog.read_alerts(tmp_path / name)


def kinds(alerts: list[dict]) -> list[str]:
    return [a["kind"] for a in alerts]


@pytest.mark.slow
def test_recipe_where_d_wins_is_named_a_convergence_failure(tmp_path, monkeypatch):
    # G barely moves (lr_g 1e-7) while D learns 25x faster than the DCGAN default: within 10 steps D(G(z)) is
    # ~0.02; under the minimax loss G's gradients then vanish too (its first layer's falls 100x+ by step 40).
    alerts = train(tmp_path, monkeypatch, "loss=minimax", "lr_g=1e-7", "lr_d=5e-3", "steps=40")
    assert kinds(alerts) == ["convergence failure"]
    assert alerts[0]["step"] == 25  # D(G(z)) < 0.05 from step 10: 4 intervals running at step 25


def test_recipe_that_collapses_to_one_image_is_named_mode_collapse(tmp_path, monkeypatch):
    # The MLP generator ends in a sigmoid; Adam at lr_g 1e-2 (100x D's) overshoots it into saturation within
    # 20 steps, after it had begun to vary: every z then gives nearly the same image (diversity 0.24 -> 0.01 of real).
    alerts = train(tmp_path, monkeypatch, "model=mlp", "ngf=32", "ndf=32", "lr_g=1e-2", "lr_d=1e-4", "steps=40")
    assert kinds(alerts) == ["mode collapse"]
    assert "down from" in alerts[0]["message"]


def test_recipe_with_huge_learning_rates_is_named_oscillation(tmp_path, monkeypatch):
    # Adam at 0.05 for both (250x the default): D and G overshoot in turn, the loss gap swinging by several nats a
    # step; logged every step (interval averages of 5 steps would smooth the swings away).
    alerts = train(tmp_path, monkeypatch, "lr_g=0.05", "lr_d=0.05", "log_every=1", "steps=16")
    assert kinds(alerts) == ["oscillation"]
    assert alerts[0]["step"] == 13


class NaNAt:
    """Wraps the recipe's loss so D's loss is NaN on given discriminator calls (counted across runs)."""

    def __init__(self, calls: set[int] | range):
        self.calls, self.count = calls, 0

    def install(self, monkeypatch) -> None:
        build = loop.build_loss

        def build_with_nan(*args):
            inner = build(*args)

            class Poisoned:
                def discriminator(_, d, real, fake):
                    loss, m = inner.discriminator(d, real, fake)
                    self.count += 1
                    return (loss * torch.nan if self.count in self.calls else loss), m

                def generator(_, *args):
                    return inner.generator(*args)

            return Poisoned()

        monkeypatch.setattr(loop, "build_loss", build_with_nan)


def checkpoint_meta(path) -> dict:
    meta, tensors = state.read(path)
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())
    return meta


@pytest.mark.slow
def test_a_nan_rolls_back_at_half_the_learning_rate_and_training_finishes_resumable_bit_for_bit(tmp_path, monkeypatch):
    nan = NaNAt({13})  # step 12's D loss
    nan.install(monkeypatch)
    alerts = train(tmp_path, monkeypatch, "steps=30", "checkpoint_every=10", "keep_checkpoints=10", name="straight")
    assert kinds(alerts) == ["NaN/Inf"]
    assert "by step 15: rolled back to step 10 with the learning rates at 0.5x" in alerts[0]["message"]
    straight = tmp_path / "straight"
    meta = checkpoint_meta(state.latest(straight))
    assert meta["step"] == 30 and meta["lr_scale"] == 0.5 and meta["rollbacks"] == 1
    assert {g["lr"] for g in meta["param_groups"]["opt_G"]} == {1e-4}  # 2e-4, halved
    assert checkpoint_meta(straight / "state" / "step_0000010.safetensors")["lr_scale"] == 0.5  # re-saved at once
    logged = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in logged] == [5, 10, 15, 20, 25, 30]  # the diverged interval is forgotten
    assert all(isinstance(v, float) for row in logged for k, v in row.items() if k != "step")

    # The same, stopped at step 20 and resumed (with no NaN left to hit): the lowered rate carries over exactly.
    nan.count = 0
    train(tmp_path, monkeypatch, "steps=20", "checkpoint_every=10", "keep_checkpoints=10", name="resumed")
    loop.train(recipe.make(dataset="mnist", **recipe.parse_overrides([*TINY, "steps=30", "checkpoint_every=10"])),
               tmp_path / "resumed", resume=True, tensorboard=False)
    a, b = (load_file(str(state.latest(tmp_path / run))) for run in ("straight", "resumed"))
    assert not [k for k in a if not np.array_equal(a[k], b[k])]
    assert kinds(watchdog.read_alerts(tmp_path / "resumed")) == ["NaN/Inf"]


def test_non_finite_weights_are_never_checkpointed(tmp_path, monkeypatch):
    # NaN at step 2, a checkpoint due at step 5 and the first metric row only at step 10: the weights are caught.
    NaNAt({3}).install(monkeypatch)
    alerts = train(tmp_path, monkeypatch, "steps=10", "log_every=10", "checkpoint_every=5", "keep_checkpoints=10")
    assert "NaN/Inf in the weights by step 5: rolled back to step 0" in alerts[0]["message"]
    assert [state.step_of(p) for p in state.checkpoints(tmp_path / "run")] == [0, 5, 10]
    for p in state.checkpoints(tmp_path / "run"):
        checkpoint_meta(p)


def test_a_run_that_keeps_diverging_stops_after_max_rollbacks_with_one_line_and_exit_2(tmp_path, monkeypatch):
    NaNAt(range(13, 10_000)).install(monkeypatch)  # every D step from step 12 on
    run = tmp_path / "run"
    args = ["train", "mnist", "--steps", "30", "--out", str(run), "--set", "max_rollbacks=2", "--set", "checkpoint_every=10"]
    # the mnist recipe is class-coded: its z needs room for the 10-class code
    result = CliRunner().invoke(app, [*args, *[x for v in [*TINY, "nz=12"] for x in ("--set", v)]])
    assert result.exit_code == 2, result.output
    assert "error: training diverged: NaN/Inf in loss_d_real" in result.output and "after 2 rollbacks" in result.output
    assert "Traceback" not in result.output
    assert state.latest(run).name == "step_0000010.safetensors"  # the last good checkpoint, intact
    assert checkpoint_meta(state.latest(run))["lr_scale"] == 0.25
    assert kinds(watchdog.read_alerts(run)) == ["NaN/Inf"] * 3
    assert not (run / "generator.safetensors").exists()


@pytest.mark.slow
def test_a_run_killed_after_a_rollback_keeps_the_nan_alert_when_resumed(tmp_path, monkeypatch):
    NaNAt({13}).install(monkeypatch)  # found in the row at step 15: back to step 10, which is saved again
    args = ["steps=30", "checkpoint_every=10", "keep_checkpoints=10"]
    train(tmp_path, monkeypatch, *args, name="straight")
    straight = tmp_path / "straight"
    killed = Path(shutil.copytree(straight, tmp_path / "killed"))  # killed after the re-save: step 10 is the newest
    for p in state.checkpoints(killed):
        if state.step_of(p) > 10:
            p.unlink()
    loop.train(recipe.make(dataset="mnist", **recipe.parse_overrides([*TINY, *args])), killed, resume=True, tensorboard=False)
    assert kinds(watchdog.read_alerts(killed)) == ["NaN/Inf"]
    for name in ("alerts.jsonl", "metrics.jsonl"):
        assert (killed / name).read_text() == (straight / name).read_text()


# ---- mode collapse seen by the cheap eval (eval_every steps) -------------------------------------------------


def with_eval(rows: list[dict[str, float]], evals: list[dict[str, float]], every: int = 4) -> list[dict[str, float]]:
    """Rows where every `every`-th one carries the next eval's figures, as the loop logs them."""
    out = []
    for i, row in enumerate(rows):
        out.append(row | ({f"eval/{k}": v for k, v in evals[i // every].items()} if i % every == every - 1 else {}))
    return out


def test_recall_falling_to_half_its_best_is_mode_collapse(tmp_path):
    w = dog(tmp_path)
    rising = [{"recall": r, "classes_drawn": 10.0} for r in (0.0, 0.1, 0.3, 0.5, 0.55, 0.5)]
    assert feed(w, with_eval([healthy(i) for i in range(24)], rising)) == []  # a slow start is not a collapse
    fallen = [{"recall": 0.2, "classes_drawn": 10.0}] * 3
    assert feed(w, with_eval([healthy(i) for i in range(12)], fallen), first_step=125) == ["mode collapse"]
    message = watchdog.read_alerts(tmp_path)[-1]["message"]
    assert "recall 0.20, down from 0.55" in message and "vary" not in message  # the pixels still vary


def test_classes_drawn_falling_to_half_is_mode_collapse_and_replays_the_same(tmp_path):
    rows = with_eval([healthy(i) for i in range(20)], [{"recall": 0.5, "classes_drawn": c} for c in (10.0, 10.0, 4.0, 4.0, 4.0)])
    w = dog(tmp_path)
    assert feed(w, rows) == ["mode collapse"]
    assert "G draws 4 of the classes, down from 10" in watchdog.read_alerts(tmp_path)[-1]["message"]
    replayed = dog(tmp_path / "replay")
    (tmp_path / "replay").mkdir()
    replayed.rewind([{"step": 5 + 5 * i, **row} for i, row in enumerate(rows)])
    assert replayed.peaks == w.peaks and replayed.last_eval == w.last_eval and replayed.badge() == w.badge()


@pytest.mark.slow
def test_the_collapsing_recipe_is_caught_by_the_eval_too(tmp_path, monkeypatch):
    alerts = train(tmp_path, monkeypatch, "model=mlp", "ngf=32", "ndf=32", "lr_g=1e-2", "lr_d=1e-4", "steps=40",
                   "eval_every=10", "eval_n=100")
    assert kinds(alerts) == ["mode collapse"]
    assert "of the classes, down from" in alerts[0]["message"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "eval/recall" in row] == [10, 20, 30, 40]
