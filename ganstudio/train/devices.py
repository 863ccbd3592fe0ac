"""Device choice for the torch side: --device auto picks CUDA when a GPU is there."""

from __future__ import annotations

import torch

from ganstudio.errors import UserError


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU on this machine (use --device cpu or auto)")
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)
