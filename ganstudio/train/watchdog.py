"""The training watchdog: names the failure modes practitioners know, in plain words, while a run trains.

It reads the rows the Monitor logs every `log_every` steps (interval averages, so one noisy step cannot trip
it) and applies one readable rule per failure mode:

  convergence failure  D wins: mean D(G(z)) stays near 0, or G's first-layer gradient falls far below its
                       peak (with the minimax loss, and under a WGAN critic, that is how D winning shows)
  mode collapse        the fakes' pixel diversity (monitor.diversity) falls far below the real images' and
                       far below its own peak: different z give nearly the same image; or the cheap eval
                       (every eval_every steps) finds recall or class coverage fallen to half its best
  oscillation          the G-D loss gap swings back and forth by whole nats instead of settling

A rule must hold for PATIENCE rows running before it is announced, once per episode (it re-arms after failing
PATIENCE rows running), so a borderline metric cannot make it flap. Announcements are printed above the
progress bar and appended to <run>/alerts.jsonl (one {"step", "kind", "message"} object per line), which the
report and the exported card's notes read back.

NaN/Inf is not a matter of patience: one non-finite row (or non-finite weights when a checkpoint is due)
means the run diverged. The loop rolls back to the last good checkpoint and multiplies both learning rates
by LR_FACTOR. The running factor (`lr_scale`) and the rollback count live in every checkpoint, so a resumed
run continues at the lowered rate; after `max_rollbacks` the run stops with a one-line UserError.

The watchdog's memory is a pure function of the logged rows: a resumed run replays metrics.jsonl up to its
checkpoint and raises exactly the alerts an uninterrupted run would.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from ganstudio.artifact import rundir
from ganstudio.errors import UserError

PATIENCE = 4  # logged rows running a rule must hold before it is announced (and fail before it re-arms)
# convergence failure
D_WINS_BELOW = 0.05  # mean D(G(z)) under this: D rejects nearly every fake
G_GRAD_FALL = 100.0  # G's first-layer gradient norm this many times below its peak: G has stopped learning
# mode collapse: pixel diversity of the fakes as a fraction of the real images' (monitor.diversity)
COLLAPSE_OF_REAL = 0.05  # under 1/20 of the real images' spread ...
COLLAPSE_OF_PEAK = 0.25  # ... and under 1/4 of the best it reached, so a generator that has not yet
#                          learnt to vary (DCGAN's first steps, the MNIST MLP for hundreds of steps) is not flagged
# ... or in the eval's terms (each eval's figures stand for every row until the next eval)
RECALL_OF_PEAK = 0.5  # recall (share of real images inside the fakes' k-NN manifold) under half its best
CLASSES_OF_PEAK = 0.5  # classes drawn (labelled data) down to half its best
EVAL_KEYS = ("eval/recall", "eval/classes_drawn")
# oscillation: the gap loss_g - loss_d (BCE losses only: a WGAN critic's scores have no fixed scale)
SWING_WINDOW = 6  # rows looked at
SWING_REVERSALS = 3  # the gap's change must reverse direction at least this often within them ...
SWING_NATS = 1.0  # ... by at least this much per row on average
# NaN/Inf
LR_FACTOR = 0.5  # each rollback multiplies both learning rates by this

Row = dict[str, float]
Peaks = dict[str, tuple[float, int]]  # metric -> (highest value, step it was logged at)
Rule = Callable[[Sequence[Row], Peaks], "str | None"]


def first_layer(row: Row, net: str) -> str | None:
    """The key of net's first-layer gradient norm (monitor.grad_norms logs the first layer first)."""
    return next((k for k in row if k.startswith(f"grad/{net}/")), None)


def diversity_ratio(row: Row) -> float | None:
    """How much the fakes vary, as a fraction of how much the real images vary (1 = as much)."""
    if "diversity_fake" not in row:
        return None
    return row["diversity_fake"] / row["diversity_real"] if row["diversity_real"] > 0 else math.inf


def convergence_failure(recent: Sequence[Row], peaks: Peaks) -> str | None:
    """D wins: it calls nearly every fake fake, or G's gradients have vanished. Evidence, or None."""
    row, signs = recent[-1], []
    if "d_g_z" in row and row["d_g_z"] < D_WINS_BELOW:
        signs.append(f"D(G(z)) is {row['d_g_z']:.3g} (below {D_WINS_BELOW}) while D(x) is {row['d_x']:.3g}")
    g0 = first_layer(row, "G")
    if g0 is not None and row[g0] * G_GRAD_FALL < peaks[g0][0]:
        fall = peaks[g0][0] / row[g0] if row[g0] > 0 else math.inf
        signs.append(f"G's first-layer gradient has fallen {fall:,.0f}x from its peak at step {peaks[g0][1]:,}")
    return " and ".join(signs) or None


def mode_collapse(recent: Sequence[Row], peaks: Peaks) -> str | None:
    """The fakes barely differ from one another, or cover far less of the data, than they did. Evidence, or None."""
    row, signs = recent[-1], []
    ratio = diversity_ratio(row)
    if ratio is not None:
        best, at = peaks["diversity_ratio"]
        if ratio < COLLAPSE_OF_REAL and ratio < COLLAPSE_OF_PEAK * best:
            signs.append(f"the fakes vary {ratio:.3f}x as much as real images (down from {best:.3f}x at step {at:,})")
    if "eval/recall" in row:
        best, at = peaks["eval/recall"]
        if row["eval/recall"] < RECALL_OF_PEAK * best:
            signs.append(f"the fakes cover less of the data: recall {row['eval/recall']:.2f}, down from {best:.2f} at step {at:,}")
    if "eval/classes_drawn" in row:
        best, at = peaks["eval/classes_drawn"]
        if row["eval/classes_drawn"] <= CLASSES_OF_PEAK * best:
            signs.append(f"G draws {row['eval/classes_drawn']:.0f} of the classes, down from {best:.0f} at step {at:,}")
    return " and ".join(signs) or None


def oscillation(recent: Sequence[Row], peaks: Peaks) -> str | None:
    """The G-D loss gap keeps reversing direction by large steps: neither network settles. Evidence, or None."""
    if len(recent) < SWING_WINDOW or "loss_d_real" not in recent[-1]:
        return None
    gaps = [row.get("loss_g_adv", row["loss_g"]) - row["loss_d_real"] - row["loss_d_fake"] for row in recent]
    changes = [b - a for a, b in zip(gaps, gaps[1:])]
    reversals = sum(1 for a, b in zip(changes, changes[1:]) if a * b < 0)
    swing = sum(map(abs, changes)) / len(changes)
    if reversals >= SWING_REVERSALS and swing >= SWING_NATS:
        return f"the G-D loss gap reversed direction {reversals} times in {len(recent)} intervals, by {swing:.2f} nats an interval"
    return None


# kind -> (rule, what it means and what to try)
RULES: dict[str, tuple[Rule, str]] = {
    "convergence failure": (
        convergence_failure,
        "D wins and G is not learning. Try label_smoothing, instance_noise, a lower lr_d (TTUR) or spectral_norm.",
    ),
    "mode collapse": (
        mode_collapse,
        "G maps different z to nearly the same image. Try feature_matching, instance_noise, label_smoothing or a lower lr_g.",
    ),
    "oscillation": (
        oscillation,
        "D and G take turns winning instead of settling. Try lower lr_g and lr_d, beta1 0.5, or spectral_norm.",
    ),
}


class Episode:
    """Hysteresis for one rule: announced once it has held PATIENCE rows running, re-armed once it has failed as long."""

    def __init__(self) -> None:
        self.held = self.failed = 0
        self.active = False

    def update(self, holds: bool) -> bool:
        """Count one row; True on the row that starts an episode."""
        self.held, self.failed = (self.held + 1, 0) if holds else (0, self.failed + 1)
        if self.active and self.failed >= PATIENCE:
            self.active = False
        if not self.active and self.held >= PATIENCE:
            self.active = True
            return True
        return False


def read_alerts(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / rundir.ALERTS_FILE
    alerts = rundir.read_rows(path)
    for i, a in enumerate(alerts):
        if not (isinstance(a.get("kind"), str) and isinstance(a.get("message"), str)):
            raise UserError(f"{path}: line {i + 1} is not an alert (step, kind, message); the log is damaged")
    return alerts


class Watchdog:
    def __init__(self, run_dir: Path, console: Console, max_rollbacks: int, resumed: dict[str, Any] | None = None):
        """`resumed`: the metadata of the checkpoint a run resumes from (its lr_scale, rollback count and how many
        alerts it had seen: alerts.jsonl is cut back to those, as the replayed steps raise the later ones again)."""
        self.path = run_dir / rundir.ALERTS_FILE
        self.console, self.max_rollbacks = console, max_rollbacks
        self.lr_scale: float = (resumed or {}).get("lr_scale", 1.0)
        self.rollbacks: int = (resumed or {}).get("rollbacks", 0)
        # alerts written, and those a resume keeps: not the ones a run's last, partial, row raised
        self.written = self.settled = 0
        if resumed is not None:
            kept = resumed.get("alerts")
            if kept is None:  # a checkpoint from before the count was saved: the alerts up to its step
                kept = sum(1 for a in read_alerts(run_dir) if a["step"] <= resumed["step"])
            rundir.keep_rows(self.path, kept)
            self.written = self.settled = kept
        self.rewind([])

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps, so a resumed run trains at the same learning rates and keeps its alerts."""
        return {"lr_scale": self.lr_scale, "rollbacks": self.rollbacks, "alerts": self.settled}

    def rewind(self, rows: Iterable[dict[str, Any]]) -> None:
        """Forget, then silently replay logged rows (metrics.jsonl): the memory an uninterrupted run had after them."""
        self.recent: deque[Row] = deque(maxlen=SWING_WINDOW)
        self.peaks: Peaks = {}
        self.last_eval: Row = {}
        self.episodes = {kind: Episode() for kind in RULES}
        for row in rows:
            self._observe(row["step"], {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))})

    def check(self, step: int, row: Row, partial: bool = False) -> str | None:
        """Judge one logged row, announcing the failure modes that have just persisted.

        Returns None, or (when the run has diverged) which metrics hold NaN/Inf; such a row is not judged.
        `partial`: the row of a run's last, unfinished interval, whose alerts a run extended later drops.
        """
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            return ", ".join(bad[:3]) + (f" and {len(bad) - 3} more monitors" if len(bad) > 3 else "")
        for kind, evidence in self._observe(step, row):
            self._alert(step, kind, f"{kind}, {PATIENCE} intervals running: {evidence}. {RULES[kind][1]}")
        if not partial:
            self.settled = self.written
        return None

    def badge(self) -> str:
        """The failure modes in an episode now, for the end of the progress line."""
        active = [kind for kind, episode in self.episodes.items() if episode.active]
        return f"  [bold yellow]{', '.join(active)}[/]" if active else ""

    def _observe(self, step: int, row: Row) -> list[tuple[str, str]]:
        """Remember one row; the (kind, evidence) of each rule whose episode it starts."""
        fresh = {k: row[k] for k in EVAL_KEYS if k in row}
        self.last_eval.update(fresh)
        row = {**self.last_eval, **row}  # the last eval stands until the next
        self.recent.append(row)
        tracked = {k: row[k] for k in (first_layer(row, "G"), *fresh) if k is not None}
        if (ratio := diversity_ratio(row)) is not None:
            tracked["diversity_ratio"] = ratio
        for k, v in tracked.items():
            if k not in self.peaks or v > self.peaks[k][0]:
                self.peaks[k] = (v, step)
        started = []
        for kind, (rule, _) in RULES.items():
            evidence = rule(self.recent, self.peaks)
            if self.episodes[kind].update(evidence is not None):
                started.append((kind, evidence))
        return started

    def diverged(self, step: int, what: str, last_good: Path, to_step: int) -> None:
        """Record a NaN/Inf and lower the learning rates for a rollback to `to_step`, or stop the run."""
        if self.rollbacks >= self.max_rollbacks:
            message = (
                f"training diverged: NaN/Inf in {what} by step {step:,}, after {self.rollbacks} rollbacks "
                f"(max_rollbacks {self.max_rollbacks}) with the learning rates down to {self.lr_scale:g}x the recipe's. "
                f"The last good checkpoint, {last_good}, is kept. Lower lr_g and lr_d, or try spectral_norm."
            )
            self._alert(step, "NaN/Inf", message)
            raise UserError(message)
        self.rollbacks += 1
        self.lr_scale *= LR_FACTOR
        self._alert(step, "NaN/Inf", (
            f"NaN/Inf in {what} by step {step:,}: rolled back to step {to_step:,} with the learning rates at "
            f"{self.lr_scale:g}x the recipe's (rollback {self.rollbacks} of at most {self.max_rollbacks})."
        ))
        self.settled = self.written  # the checkpoint re-saved at to_step keeps this alert

    def _alert(self, step: int, kind: str, message: str) -> None:
        self.console.print(Text(f"step {step:,}: {message}", style="bold yellow"))
        rundir.append_row(self.path, {"step": step, "kind": kind, "message": message})
        self.written += 1


def notes(run_dir: Path, meta: dict[str, Any]) -> str:
    """One line for the card: which failure modes the watchdog named, where, and any lowered learning rate."""
    alerts = read_alerts(run_dir)
    if not alerts:
        return "training health: the watchdog raised no alerts"
    steps: dict[str, list[str]] = {}
    for a in alerts:
        steps.setdefault(a["kind"], []).append(f"{a['step']:,}")
    named = "; ".join(f"{kind} at step {', '.join(at)}" for kind, at in steps.items())
    lowered = f"; trained on at {meta['lr_scale']:g}x the recipe's learning rates" if meta.get("lr_scale", 1.0) != 1.0 else ""
    return f"training health: {named}{lowered} (see report.html)"
