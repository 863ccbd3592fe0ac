"""Training under torchrun: one process per device, DistributedDataParallel, rank 0 the only writer.

`torchrun --nproc_per_node=N -m ganstudio train ...` starts N copies of the same trainer; torchrun's
environment (WORLD_SIZE, RANK, LOCAL_RANK, and the rendezvous address) tells each its place. Without it
every function here is the identity and training is the single-process loop, bit for bit.

How the loop stays one trainer:
  data      every rank draws the same global batch order, z and per-sample noise (all from the recipe's
            seed) and keeps its own contiguous rows, so ranks see disjoint shards of each global batch in
            the order one process would see them, and every rank's RNG states stay identical: rank 0's
            checkpoint is a resume point for every rank, at any world size
  gradients DDP averages G's and D's gradients over ranks; each loss is a mean over its shard, so the
            average is the global batch's gradient
  writing   rank 0 alone writes checkpoints, metrics, alerts, grids, TensorBoard and the export, and
            keeps the EMA generator (the others never need it)
  deciding  what rank 0 decides (roll back after a NaN, stop) every rank does at the same step:
            `together` runs a step on rank 0 and hands its result, or its UserError, to all ranks, and
            `share` copies rank 0's restored state onto the others after a resume or a rollback
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from ganstudio.errors import UserError
from ganstudio.train.devices import pick_device

T = TypeVar("T")
TIMEOUT = dt.timedelta(minutes=30)  # rank 0's export (ONNX + parity) runs while the others wait


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes and decides."""
        return self.rank == 0

    def label(self) -> str:
        """What the card records as the device: cpu, cuda:0, or e.g. `cuda x 8 processes (nccl)`."""
        if self.size == 1:
            return str(self.device)
        return f"{self.device.type} x {self.size} processes ({dist.get_backend()})"

    def rows(self, n: int) -> slice:
        """This rank's rows of a global batch of n (n is a multiple of the world size: `setup` checks)."""
        per = n // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    def take(self, batch: Tensor) -> Tensor:
        """This rank's shard of a global batch every rank holds."""
        return batch if self.size == 1 else batch[self.rows(len(batch))]

    def draw(self, fn: Callable[..., Tensor], shape: tuple[int, ...], **kwargs: Any) -> Tensor:
        """fn(shape) (torch.rand, torch.randn) for a local batch of shape[0]: the global batch's draw, this
        rank's rows. Every rank's generator advances alike, and a shard's noise is what one process gives
        those rows; with one process it is exactly fn(shape)."""
        if self.size == 1:
            return fn(shape, **kwargs)
        return self.take(fn((shape[0] * self.size, *shape[1:]), **kwargs))

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module DDP-wrapped for its training forward passes (the module itself with one process).

        forward_sync_buffers=False (buffers are still copied from rank 0 once, at construction): DDP would
        otherwise copy rank 0's buffers into every rank's module at each forward, an in-place write that
        breaks the backward of a BatchNorm D called on real and then fake before one backward. No buffer needs it: BatchNorm's running statistics only serve eval-mode
        sampling (rank 0's, or identical everywhere under sync_batchnorm), and spectral norm's power
        iteration depends on the weights alone, which DDP keeps identical.

        No find_unused_parameters: every backward through a wrapper reaches all its parameters. G's step
        runs D's plain module with D frozen (loop.generator_backward) instead of D's wrapper, so D's
        reducer never waits for gradients it is not meant to get, and G's wrapper reduces G's.
        """
        if self.size == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, forward_sync_buffers=False)

    def agree(self, value: T) -> T:
        """Rank 0's value on every rank (every rank must call this at the same point)."""
        if self.size == 1:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self._wire())
        return box[0]

    def together(self, fn: Callable[[], T]) -> T | None:
        """Run fn on rank 0 alone; every rank returns its result, or raises the UserError it raised."""
        outcome: tuple[str, Any] = ("ok", None)
        if self.main:
            try:
                outcome = ("ok", fn())
            except UserError as e:
                outcome = ("error", str(e))
                if self.size == 1:
                    raise
        kind, value = self.agree(outcome)
        if kind == "error":
            raise UserError(value)
        return value

    def share(
        self,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        rngs: dict[str, torch.Generator],
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Copy rank 0's weights, buffers, optimizer state and RNG states onto every rank, after rank 0
        restored a checkpoint; returns rank 0's `meta` (the checkpoint's metadata). The other ranks never
        read training state from the run directory, so a network filesystem's stale view cannot split them."""
        if self.size == 1:
            return meta
        payload = None
        if self.main:
            payload = {
                "modules": {n: _on_cpu(m.state_dict()) for n, m in modules.items()},
                "optimizers": {n: _on_cpu(opt.state_dict()) for n, opt in optimizers.items()},
                "rngs": {n: gen.get_state() for n, gen in rngs.items()},
                "torch": torch.get_rng_state(),
                "meta": meta,
            }
        payload = self.agree(payload)
        if not self.main:
            for name, m in modules.items():
                m.load_state_dict(payload["modules"][name])
            for name, opt in optimizers.items():
                opt.load_state_dict(payload["optimizers"][name])
            for name, gen in rngs.items():
                gen.set_state(payload["rngs"][name])
            torch.set_rng_state(payload["torch"])
        return payload["meta"]

    def finish(self, fn: Callable[[], T]) -> T | None:
        """The run's last act (the export) on rank 0; every rank waits for it, then leaves the process
        group. Rank 0 gets fn's result, the others None (they have nothing to report)."""
        result = self.together(fn)
        if self.size > 1:
            dist.destroy_process_group()
        return result if self.main else None

    def _wire(self) -> torch.device:
        # NCCL moves objects through the rank's own GPU, gloo through the CPU
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def _on_cpu(obj: Any) -> Any:
    """A state dict with its tensors on the CPU: pickled CUDA tensors would land on rank 0's GPU number."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    return obj


def setup(device: str, batch_size: int) -> World:
    """The World torchrun started this process in (or the single process): device chosen, the process
    group joined (NCCL for CUDA, gloo for the CPU), the global batch checked to split evenly."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(device=pick_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if batch_size % size:
        raise UserError(
            f"batch_size {batch_size} does not split evenly over {size} processes: "
            f"use a multiple of {size} (it stays the global batch), or another --nproc_per_node"
        )
    chosen = pick_device(device)
    if chosen.type == "mps":
        raise UserError("torchrun with --device mps: torch has no process-group backend for Apple GPUs; train in one process")
    if chosen.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(
                f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} GPUs: "
                f"use --nproc_per_node {torch.cuda.device_count()} or fewer"
            )
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        cuda = chosen.type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT, device_id=chosen if cuda else None)
    dist.barrier()  # every rank has passed the CLI's checks of the run directory before rank 0 writes to it
    return World(rank=rank, size=size, local_rank=local_rank, device=chosen)


class GlobalBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, across all ranks.

    torch's SyncBatchNorm refuses CPU tensors, so ganstudio has its own, used on every device: the code a
    GPU run uses is the code the gloo tests check. Each rank computes its shard's per-channel mean and
    biased variance (two-pass, in fp32); one differentiable all-reduce combines them (shards are equal,
    so the global variance is the mean of the shard variances plus the spread of the shard means). Its
    backward all-reduces the statistics' gradients, so each rank's inputs get the global batch's
    gradient. In eval mode, or with one process, it is plain BatchNorm2d.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        size = dist.get_world_size()
        var, mean = torch.var_mean(x.float(), dim=(0, 2, 3), unbiased=False)
        stats = dist_fn.all_reduce(torch.stack([mean, var + mean.square()])) / size  # (2, C): E[x], E[x^2]
        mean, var = stats[0], stats[1] - stats[0].square()
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                n = x.numel() // x.shape[1] * size
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(var.detach() * n / max(n - 1, 1), factor)
        shape = (1, -1, 1, 1)
        y = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm2d in module becomes a GlobalBatchNorm, in place (same parameters, buffers, state dict)."""
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = GlobalBatchNorm
    return module
