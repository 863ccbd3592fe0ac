"""The torch backend: the generator rebuilt from its safetensors weights. Imported only on request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganstudio.artifact.checkpoint import load_weights
from ganstudio.train.devices import pick_device
from ganstudio.train.models import build_generator, load_generator_tensors


def torch_forward(weights: Path, device: str) -> Callable[[np.ndarray], np.ndarray]:
    card, tensors = load_weights(weights)
    dev = pick_device(device)
    g = load_generator_tensors(build_generator(card.architecture), tensors, str(weights)).to(dev).eval()

    @torch.inference_mode()
    def forward(z: np.ndarray) -> np.ndarray:
        return g(torch.from_numpy(z).to(dev)).float().cpu().numpy()

    return forward
