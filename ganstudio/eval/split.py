"""The real images an eval compares against: a training part and a held-out part, split the same way everywhere.

Fashion-MNIST keeps its own test set (the last 10,000 of the 70,000) held out. Every other dataset is split
by a permutation with a fixed seed: half held out, at most HELD_OUT_MAX images. The shipped classifiers
learn from the training part only, so their held-out accuracy is honest; a generator trained with
`hold_out = true` never sees the held-out part either, which is what the memorisation test needs.
"""

from __future__ import annotations

import numpy as np

from ganstudio.data.datasets import Dataset

SPLIT_SEED = 20_201_130
HELD_OUT_MAX = 10_000
OWN_TEST_SET = {"fashion-mnist": (70_000, 10_000)}  # dataset -> (its size, the last this many are its test set)


def split(dataset: str, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices), each sorted, of a dataset of n_images."""
    if dataset in OWN_TEST_SET and OWN_TEST_SET[dataset][0] == n_images:
        held = OWN_TEST_SET[dataset][1]
        return np.arange(n_images - held), np.arange(n_images - held, n_images)
    order = np.random.default_rng(SPLIT_SEED).permutation(n_images)
    held = min(n_images // 2, HELD_OUT_MAX)
    return np.sort(order[held:]), np.sort(order[:held])


def training_part(ds: Dataset) -> Dataset:
    """The dataset without its held-out part (what a recipe with hold_out = true trains on)."""
    train_idx, _ = split(ds.name, len(ds.images))
    return Dataset(ds.name, ds.images[train_idx], None if ds.labels is None else ds.labels[train_idx])
