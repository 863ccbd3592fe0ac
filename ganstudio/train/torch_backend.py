"""The torch backend: the generator rebuilt from its safetensors weights, for comparison with ONNX Runtime.

Imported only on request (`--backend torch`), by the CLI, which is where that choice is parsed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganstudio.artifact import catalog
from ganstudio.artifact.checkpoint import Card, load_weights, sha256_file
from ganstudio.explore.runtime import Generator
from ganstudio.train.devices import pick_device
from ganstudio.train.models import build_generator, load_generator_tensors


def load(model: str | os.PathLike | None = None, device: str = "auto") -> Generator:
    """The model found as ganstudio.explore.runtime.load finds it, run by torch; needs only the weights."""
    found = catalog.resolve(model)
    card, forward = torch_forward(found.weights, device)
    return Generator(card, found, sha256_file(found.weights), "torch", forward)


def torch_forward(weights: Path, device: str) -> tuple[Card, Callable[[np.ndarray], np.ndarray]]:
    card, tensors = load_weights(weights)
    dev = pick_device(device)
    g = load_generator_tensors(build_generator(card.architecture), tensors, str(weights)).to(dev).eval()

    @torch.inference_mode()
    def forward(z: np.ndarray) -> np.ndarray:
        return g(torch.from_numpy(z).to(dev)).float().cpu().numpy()

    return card, forward
