"""Memorisation: does the generator hand back its training images? (Meehan et al. 2020's data-copying test)

Every training image is searched. A generator that learnt the distribution lands about as close to the
training set as unseen real images do; one that copies lands closer. Two stated tests, each in two spaces:
the feature net's, and pixels area-averaged to about PIXEL_SIDE x PIXEL_SIDE (near copies stay near, the
search costs a fraction).

  C_T   Meehan et al.'s statistic, as they define and compute it (casey-meehan/data-copying): k-means cells
        of the training images, fitted in the space tested (one per HELD_PER_CELL held-out images, at most
        MAX_CELLS; fitted on the eval's reference images, a seeded sample of the training part, where
        Meehan et al. fit all of it: cheaper, and as independent of the samples tested); each training,
        generated and held-out image in the cell of its nearest centroid; in
        each cell, the distances of its generated and held-out images to the nearest training image OF
        THAT CELL, compared by the Mann-Whitney U as a z-score with their continuity correction,
        Z_U = (U - mn/2 + 1/2) / sqrt(mn(m+n+1)/12); C_T is the mean of the Z_U of the cells holding more
        than TAU generated samples (their tau = 20/m), weighted by the cells' held-out shares. A generator
        that draws mostly the data's dense parts is then compared with the held-out images of those parts.
        Below COPY_Z in either space is called copying. Why -3: when the samples are drawn like unseen
        real images, each cell's Z_U is about standard normal and the cells are independent, so C_T (a
        weighted mean, weights summing to 1) has a standard deviation of at most 1, and falls below -3 by
        chance at most 0.13% of the time (one-sided normal tail). Meehan et al. fix no threshold; they
        read C_T << 0 as copying.
  near copies   the share of samples nearer (in pixels, within their cell) to a training image than the
        NEAR_QUANTILE quantile of the held-out images' distances, beside the held-out images' own share at
        that distance (NEAR_QUANTILE, or more where ties sit at the quantile: held-out images that are exact
        duplicates of training images make it 0, and the test still counts exact copies). NEAR_RATIO times
        the held-out share or more is called copying. Over all cells: a cell holds too few held-out images
        for its own 1% quantile.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from ganstudio.eval.metrics import nearest

COPY_Z = -3.0
TAU = 20  # a cell enters C_T when it holds more than this many generated samples (Meehan et al.: tau = 20 / m)
NEAR_QUANTILE = 0.01
NEAR_RATIO = 5.0
SHEET_PAIRS = 8  # the closest generated/training pairs shown
HELD_PER_CELL = 50  # k-means cells: one per this many held-out images ...
MAX_CELLS = 50  # ... and at most this many (Meehan et al. use 50 on MNIST)
KMEANS_ROUNDS = 20
PIXEL_SIDE = 16  # pixels are compared area-averaged to about this side (a copy stays a copy)


def pixels(x: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) -> flat float32 in [0, 1], blocks averaged down to about PIXEL_SIDE a side (none when
    the sides do not divide)."""
    n, c, h, w = x.shape
    factor = -(-h // PIXEL_SIDE)
    factor = factor if h % factor == 0 and w % factor == 0 else 1
    sums = x.reshape(n, c, h // factor, factor, w // factor, factor).sum((3, 5), dtype=np.uint32)  # exact, in integers
    return (sums.astype(np.float32) * np.float32(1.0 / (255 * factor * factor))).reshape(n, -1)


def z_u(fake: np.ndarray, held: np.ndarray) -> float:
    """Mann-Whitney U of `fake` against `held` as Meehan et al.'s z-score (average ranks for ties, their
    continuity correction); < 0: fake is smaller."""
    values = np.concatenate([fake, held]).astype(np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based average ranks
    m, n = len(fake), len(held)
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float((u - m * n / 2.0 + 0.5) / math.sqrt(m * n * (m + n + 1) / 12.0))


def partition(train: np.ndarray, n_held: int, seed: int) -> np.ndarray:
    """(k, D) centroids of k-means cells of the training images (Lloyd's rounds from k seeded picks)."""
    k = int(np.clip(n_held // HELD_PER_CELL, 1, MAX_CELLS))
    centroids = train[np.random.default_rng(seed).choice(len(train), k, replace=False)]
    for _ in range(KMEANS_ROUNDS):
        cell = nearest(train, centroids)[0]
        counts = np.bincount(cell, minlength=k)
        sums = np.stack([np.bincount(cell, weights=col, minlength=k) for col in train.T], 1)  # np.add.at is far slower
        centroids = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centroids).astype(np.float32)
    return centroids


def cell_of(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each row's cell: the index of its nearest centroid."""
    return nearest(x, centroids)[0]


def nearest_in_cell(x: np.ndarray, x_cell: np.ndarray, train: np.ndarray, train_cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of x: (the index of the nearest training row in its own cell, the squared distance to it);
    (-1, inf) where the cell holds no training row."""
    idx, dist = np.full(len(x), -1, np.int64), np.full(len(x), np.inf, np.float32)
    for j in np.unique(x_cell):
        rows, cands = np.flatnonzero(x_cell == j), np.flatnonzero(train_cell == j)
        if len(cands):
            found, dist[rows] = nearest(x[rows], train[cands])
            idx[rows] = cands[found]
    return idx, dist


@dataclass
class Side:
    """One space's cells and held-out distances: what the test needs from real images alone (cached)."""

    centroids: np.ndarray  # (k, D) k-means cells of the training images
    train_cell: np.ndarray  # each training image's cell
    held_cell: np.ndarray  # each held-out image's cell
    held_nn: np.ndarray  # each held-out image's squared distance to its nearest training image in its cell

    @classmethod
    def of(cls, train: np.ndarray, held: np.ndarray, seed: int, fit: int | None = None) -> "Side":
        """fit: k-means is fitted on the first `fit` training rows (a random sample: the eval's reference
        images), then every training image is placed in a cell; None: on all of them."""
        centroids = partition(train[:fit], len(held), seed)
        train_cell, held_cell = cell_of(train, centroids), cell_of(held, centroids)
        return cls(centroids, train_cell, held_cell, nearest_in_cell(held, held_cell, train, train_cell)[1])


def tested_cells(fake_cell: np.ndarray, held_cell: np.ndarray, fake_nn: np.ndarray, k: int) -> list[int]:
    """Meehan et al.'s Pi_tau: the cells holding more than TAU generated samples (and held-out and training
    images to compare them with)."""
    has_train = np.bincount(fake_cell[np.isfinite(fake_nn)], minlength=k) > 0
    enough = (np.bincount(fake_cell, minlength=k) > TAU) & (np.bincount(held_cell, minlength=k) > 0) & has_train
    return [int(j) for j in np.flatnonzero(enough)]


@dataclass(frozen=True)
class CT:
    """C_T in one space."""

    c_t: float  # Z_U within the tested cells, weighted by their held-out shares (Z_U over all images when none is tested)
    cells: int  # k-means cells of the training images
    cells_tested: int  # those holding more than TAU generated samples
    tested_share: float  # the share of generated samples that fell in tested cells

    @classmethod
    def of(cls, fake_nn: np.ndarray, fake_cell: np.ndarray, side: Side) -> "CT":
        k = len(side.centroids)
        cells = tested_cells(fake_cell, side.held_cell, fake_nn, k)
        if not cells:
            ok_f, ok_h = np.isfinite(fake_nn), np.isfinite(side.held_nn)
            return cls(z_u(fake_nn[ok_f], side.held_nn[ok_h]), k, 0, 0.0)
        zs = [z_u(fake_nn[fake_cell == j], side.held_nn[side.held_cell == j]) for j in cells]
        weights = [np.count_nonzero(side.held_cell == j) for j in cells]
        return cls(float(np.average(zs, weights=weights)), k, len(cells), float(np.isin(fake_cell, cells).mean()))

    def words(self) -> str:
        if not self.cells_tested:
            return f"{self.c_t:+.1f} (Z_U over all images: no cell held more than {TAU} samples)"
        return f"{self.c_t:+.1f} ({self.cells_tested} of {self.cells} cells, {self.tested_share:.0%} of samples)"


@dataclass(frozen=True)
class Copying:
    features: CT  # C_T in the feature net's space
    pixels: CT  # C_T in averaged pixels
    near_copies: float  # share of samples nearer a training image (pixels, in cell) than the held-out NEAR_QUANTILE
    near_copies_held_out: float  # the held-out images' share at that same distance (NEAR_QUANTILE, more with ties)
    median_pixel_distance: float  # generated sample -> nearest training image in its cell (RMS per averaged pixel, 0..1)
    median_pixel_distance_held_out: float  # the same for held-out real images
    training_images: int  # how many training images were searched: all of the training part
    pairs: list[tuple[int, int]]  # (sample index, training image index): the closest pairs in pixels

    @property
    def copies(self) -> bool:
        return (min(self.features.c_t, self.pixels.c_t) < COPY_Z
                or self.near_copies >= NEAR_RATIO * self.near_copies_held_out)

    def verdict(self) -> str:
        """In plain words, with the evidence."""
        f, p = self.features.c_t, self.pixels.c_t
        evidence = (f"C_T {self.features.words()} in features, {self.pixels.words()} in pixels; {self.near_copies:.1%} of "
                    f"samples are as near a training image as the nearest {self.near_copies_held_out:.1%} of held-out "
                    f"images are; all {self.training_images:,} training images searched")
        if self.copies:
            return f"copies its training data: samples sit closer to training images than unseen real images do ({evidence})"
        far = ", and further from them than real images are: it has not yet matched the data" if min(f, p) > -COPY_Z else ""
        return f"no sign of copying: samples are no closer to the training images than unseen real images are{far} ({evidence})"

    def to_dict(self) -> dict:
        return {**asdict(self), "copies": self.copies, "verdict": self.verdict(),
                "thresholds": {"c_t": COPY_Z, "tau": TAU, "near_quantile": NEAR_QUANTILE, "near_ratio": NEAR_RATIO,
                               "held_per_cell": HELD_PER_CELL, "max_cells": MAX_CELLS, "pixel_side": PIXEL_SIDE}}

    @classmethod
    def from_dict(cls, d: dict) -> "Copying":
        values = {f.name: d[f.name] for f in fields(cls)}
        return cls(**{**values, "features": CT(**d["features"]), "pixels": CT(**d["pixels"]),
                      "pairs": [tuple(p) for p in d["pairs"]]})


def measure(fake_f: np.ndarray, fake_px: np.ndarray, train_f: np.ndarray, train_px: np.ndarray,
            side_f: Side, side_px: Side) -> Copying:
    """fake_f, train_f: features of the samples and of every training image; fake_px, train_px: their
    pixels(); side_f, side_px: the real side's cells in each space (Side.of)."""
    cell_f, cell_px = cell_of(fake_f, side_f.centroids), cell_of(fake_px, side_px.centroids)
    nn_f = nearest_in_cell(fake_f, cell_f, train_f, side_f.train_cell)[1]
    nn_idx, nn_px = nearest_in_cell(fake_px, cell_px, train_px, side_px.train_cell)
    held = side_px.held_nn
    near = np.sort(held)[max(math.ceil(NEAR_QUANTILE * len(held)) - 1, 0)]  # the held-out NEAR_QUANTILE, an observed value
    closest = np.argsort(nn_px, kind="stable")[:SHEET_PAIRS]
    rms = lambda d: float(np.sqrt(np.median(d) / fake_px.shape[1]))  # noqa: E731 - squared distance -> RMS per pixel
    return Copying(
        features=CT.of(nn_f, cell_f, side_f), pixels=CT.of(nn_px, cell_px, side_px),
        near_copies=float((nn_px <= near).mean()), near_copies_held_out=float((held <= near).mean()),
        median_pixel_distance=rms(nn_px), median_pixel_distance_held_out=rms(held),
        training_images=len(train_px), pairs=[(int(i), int(nn_idx[i])) for i in closest if nn_idx[i] >= 0],
    )
