"""Training health made visible, cheaply.

Every step's monitors (losses, D(x), D(G(z)), per-layer gradient norms) are added into one tensor on the
device; only every `log_every` steps is it copied to the host (one sync), averaged, and written to
metrics.jsonl, TensorBoard and the progress line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ganstudio.artifact import rundir
from ganstudio.explore import images

if TYPE_CHECKING:
    from ganstudio.train.events import EventFile


def layer_weights(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The weight of every conv/linear layer, first layer first (its gradient is the one that vanishes).

    Picked by module type, so norm layers' gains are not mistaken for layers; under spectral norm the
    trained tensor is the parametrization's `original`.
    """
    layers = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            layers.append((name, w))
    return layers


def grad_norms(prefix: str, layers: list[tuple[str, nn.Parameter]]) -> dict[str, Tensor]:
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for _, p in layers]
    norms = torch._foreach_norm(grads)
    return {f"grad/{prefix}/{name}": n for (name, _), n in zip(layers, norms)}


def diversity(real: Tensor, fake: Tensor) -> dict[str, Tensor]:
    """Per-pixel standard deviation across the batch, averaged over pixels, for real and fake images.

    0 when every image in the batch is the same; a generator in mode collapse drives its value far below the
    real batch's. Measured on the images before instance noise (which would add the same spread to both).
    """
    return {f"diversity_{name}": x.detach().float().flatten(1).std(0).mean() for name, x in (("real", real), ("fake", fake))}


class Sampler:
    """A generator module seen as eval sees a generator: z (numpy) -> uint8 (n, H, W, C), in eval mode."""

    def __init__(self, g: nn.Module, nz: int, output_range: tuple[float, float]):
        self.g, self.nz, self.output_range = g, nz, output_range

    def images(self, z: np.ndarray) -> np.ndarray:
        was_training = self.g.training
        self.g.eval()
        try:
            with torch.no_grad():
                device = next(self.g.parameters()).device
                x = self.g(torch.from_numpy(z).to(device)).float().cpu().numpy()
        finally:
            self.g.train(was_training)
        return images.to_uint8(x, self.output_range)


def evaluate(sampler: Sampler, dataset: str, data: str | None, n: int, seed: int) -> dict[str, float]:
    """The cheap eval every eval_every steps: eval's distances at n samples, no memorisation test.

    The same seeds every time, so successive rows compare the generator with itself, not with new noise.
    """
    from ganstudio.eval import evaluate as full_eval
    from ganstudio.eval.report import summary

    return summary(full_eval(sampler, dataset, n, seed, data, memorisation=False))


class Monitor:
    """Sums each step's monitors on the device and writes one averaged row per `log_every` steps.

    The open interval (its sums and step count) and the number of rows written are part of every checkpoint
    (`state`), so a run resumed (or rolled back) between two rows logs exactly what an uninterrupted run logs.
    A run's last step writes the partial interval's row but keeps the interval open: a run extended later
    drops that row and carries on summing.
    """

    def __init__(self, run_dir: Path, log_every: int, tensorboard: bool = True):
        self.run_dir, self.path = run_dir, run_dir / rundir.METRICS_FILE
        self.log_every, self.tensorboard = log_every, tensorboard
        self.keys: list[str] | None = None
        self.sums: Tensor | None = None
        self.count = 0  # steps in the open interval
        self.rows = 0  # rows of whole intervals in metrics.jsonl
        self.writer: EventFile | None = None  # opened at the first row (tensorboard is imported only then)
        self.purge_step: int | None = None  # TensorBoard hides this run's earlier events from here on

    @property
    def pending(self) -> bool:
        """Whether steps are summed that no whole-interval row holds yet (after a run's last, partial, row too)."""
        return self.count > 0

    def add(
        self, step: int, metrics: dict[str, Tensor], last: bool = False, extra: dict[str, float] | None = None
    ) -> dict[str, float] | None:
        """Accumulate one step; every log_every steps (and at the last) return (and write) the interval's averages,
        with `extra` (host values measured at this step, such as an eval's) in the same row."""
        if self.keys is None:
            self.keys = list(metrics)
        values = torch.stack([metrics[k].float() for k in self.keys])
        self.sums = values if self.sums is None else self.sums + values
        self.count += 1
        whole = (step + 1) % self.log_every == 0
        return self.flush(step, whole, extra) if whole or last else None

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the open interval and how many rows are logged (one host sync)."""
        sums = None if self.sums is None else self.sums.tolist()
        return {"keys": self.keys, "count": self.count, "sums": sums, "rows": self.rows}

    def resume(self, saved: dict[str, Any] | None, step: int, device: torch.device) -> None:
        """Go back to a checkpoint at `step`: its open interval again, metrics.jsonl cut to its rows, and
        TensorBoard told to hide the events logged after them. `saved` None: a checkpoint from before the
        monitor was saved (its rows are those up to its step, with no open interval)."""
        if saved is None:
            saved = {"keys": None, "count": 0, "sums": None,
                     "rows": sum(1 for row in rundir.read_rows(self.path) if row["step"] <= step)}
        self.keys, self.count, self.rows = saved["keys"], saved["count"], saved["rows"]
        self.sums = None if saved["sums"] is None else torch.tensor(saved["sums"], dtype=torch.float32, device=device)
        rundir.keep_rows(self.path, self.rows)
        self.close()
        self.purge_step = step - self.count + 1

    def flush(self, step: int, whole: bool = True, extra: dict[str, float] | None = None) -> dict[str, float] | None:
        """Write the open interval's averages (and `extra`) as the row of `step`; a partial (not whole) one stays open."""
        if self.sums is None or not self.count:
            return None
        means = (self.sums / self.count).tolist()  # the one host sync per interval
        values = {**dict(zip(self.keys, means)), **(extra or {})}
        row = {k: (v if math.isfinite(v) else str(v)) for k, v in values.items()}
        rundir.append_row(self.path, {"step": step + 1, **row})
        if whole:
            self.sums, self.count = None, 0
            self.rows += 1
        if self.tensorboard:
            if self.writer is None:
                from ganstudio.train.events import EventFile

                self.writer = EventFile(self.run_dir / "tensorboard", self.purge_step)
            self.writer.add_scalars(values, step + 1)
        return values

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def summary(metrics: dict[str, Any]) -> str:
    """The progress line: the numbers the DCGAN blog says to watch."""
    if not metrics:
        return ""
    if "wasserstein" in metrics:  # WGAN-GP: the critic's distance estimate and how well the penalty holds
        return f"W {metrics['wasserstein']:.3f}  GP {metrics['gp']:.3f}  G {metrics['loss_g']:.3f}"
    parts = [
        f"D {metrics['loss_d_real'] + metrics['loss_d_fake']:.3f}",
        f"G {metrics['loss_g']:.3f}",
        f"D(x) {metrics['d_x']:.2f}",
        f"D(G(z)) {metrics['d_g_z']:.2f}",
    ]
    return "  ".join(parts)
