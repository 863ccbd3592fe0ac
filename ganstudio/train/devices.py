"""Device choice for the torch side: --device auto picks CUDA when a GPU is there; mps (Apple GPUs) on request.

`configure` sets what a training run on that device should use: cuDNN's autotuner (every shape of a run is
fixed, so the first step's search pays for itself) and the precision of the forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganstudio.errors import UserError
from ganstudio.train.recipe import DEVICES


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in DEVICES:
        raise UserError(f"unknown device {device!r}: use {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU on this machine (use --device cpu or auto)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps: torch sees no Apple GPU (MPS) on this machine (use --device cpu or auto)")
    return torch.device(device)


@dataclass(frozen=True)
class Precision:
    """The dtype forward passes autocast to (None: fp32 throughout) and why, in words for the run's output."""

    dtype: torch.dtype | None
    why: str

    @property
    def label(self) -> str:
        """What the card records as the run's precision."""
        return "bf16 autocast" if self.dtype == torch.bfloat16 else "fp32"


def precision(device: torch.device, amp: bool) -> Precision:
    """bf16 autocast where the GPU computes bf16 natively (Ampere and newer), else fp32.

    Older GPUs emulate bf16 (slower than fp32) and fp16 would need loss scaling through the gradient
    penalty's double backward, so they train in fp32; so do the CPU and MPS, where autocast does not pay.
    """
    if not amp:
        return Precision(None, "fp32 (amp=false)")
    if device.type != "cuda":
        return Precision(None, f"fp32 (amp is for CUDA GPUs; {device.type} trains in fp32)")
    if not torch.cuda.is_bf16_supported(including_emulation=False):
        return Precision(None, "fp32 (this GPU has no native bf16: amp would be slower)")
    return Precision(torch.bfloat16, "bf16 autocast (amp; the gradient penalty stays fp32)")


def configure(device: torch.device, amp: bool) -> Precision:
    """Set up torch for a training run on device; returns the precision it trains in."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return precision(device, amp)
