"""Memorisation: does the generator hand back its training images?

For every generated sample and every held-out real image, the distance to its nearest training image, in
feature space and in pixels (area-averaged to about 16x16: near copies stay near, the search costs a
fraction). A generator that learnt the distribution lands about as close to the training
set as unseen real images do; one that copies lands closer (Meehan et al. 2020).

Both tests run within cells, as Meehan et al.'s C_T does: k-means cells of the training features, each
generated and held-out image in the cell of its nearest centroid. A generator that draws mostly the
data's dense parts (many 1s: their nearest training 1 is always near) is then compared with the held-out
images of those same parts, and is not mistaken for a copier. Two stated tests:

  C_T   the Mann-Whitney U statistic of generated vs held-out nearest-neighbour distances as a z-score
        (Z_U), within each cell holding CELL_MIN of each, averaged with the cells' held-out shares.
        Negative means generated samples sit closer to the training set than real unseen images do;
        below COPY_Z in either space is called copying (Meehan et al. flag C_T << 0).
        The same statistic over all images at once (no cells) is reported beside it.
  near copies   samples closer to a training image (in pixels) than all but NEAR_QUANTILE of held-out
        images are: NEAR_QUANTILE of a set that copies nothing, by construction. COPY_SHARE or more is
        called copying, since it is five times what unseen real images show. (Over all images: a cell
        holds too few held-out images for its own 1% quantile.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ganstudio.eval.metrics import nearest

COPY_Z = -3.0
NEAR_QUANTILE = 0.01
COPY_SHARE = 0.05
SHEET_PAIRS = 8  # the closest generated/training pairs shown
HELD_PER_CELL = 50  # k-means cells: one per this many held-out images ...
MAX_CELLS = 50  # ... and at most this many
CELL_MIN = 20  # a cell is tested when this many generated and this many held-out images fall in it
KMEANS_ROUNDS = 20


def z_u(fake: np.ndarray, held: np.ndarray) -> float:
    """Mann-Whitney U of `fake` against `held` as a z-score (average ranks for ties); < 0: fake is smaller."""
    values = np.concatenate([fake, held]).astype(np.float64)
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based average ranks
    m, n = len(fake), len(held)
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float((u - m * n / 2.0) / math.sqrt(m * n * (m + n + 1) / 12.0))


def partition(train_f: np.ndarray, n_held: int, seed: int) -> np.ndarray:
    """(k, D) centroids of k-means cells of the training features (Lloyd's rounds from k seeded picks)."""
    k = int(np.clip(n_held // HELD_PER_CELL, 1, MAX_CELLS))
    centroids = train_f[np.random.default_rng(seed).choice(len(train_f), k, replace=False)]
    for _ in range(KMEANS_ROUNDS):
        cell = nearest(train_f, centroids)[0]
        counts = np.bincount(cell, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, cell, train_f)
        centroids = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centroids)
    return centroids.astype(np.float32)


def cell_of(f: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each feature row's cell: the index of its nearest centroid."""
    return nearest(f, centroids)[0]


def tested_cells(fake_cell: np.ndarray, held_cell: np.ndarray) -> list[int]:
    """The cells holding CELL_MIN generated and CELL_MIN held-out images."""
    k = int(max(fake_cell.max(initial=0), held_cell.max(initial=0))) + 1
    enough = (np.bincount(fake_cell, minlength=k) >= CELL_MIN) & (np.bincount(held_cell, minlength=k) >= CELL_MIN)
    return [int(j) for j in np.flatnonzero(enough)]


def c_t(fake: np.ndarray, held: np.ndarray, fake_cell: np.ndarray, held_cell: np.ndarray, cells: list[int]) -> float:
    """Meehan et al.'s C_T: Z_U within each tested cell, averaged with the cells' held-out counts as weights
    (Z_U over all images when no cell is tested)."""
    if not cells:
        return z_u(fake, held)
    zs = [z_u(fake[fake_cell == j], held[held_cell == j]) for j in cells]
    return float(np.average(zs, weights=[(held_cell == j).sum() for j in cells]))


@dataclass(frozen=True)
class Copying:
    c_features: float  # C_T: Z_U within cells, in feature space (over all images when no cell holds enough of both)
    c_pixels: float  # the same in pixels
    z_features: float  # Z_U over all images at once, without cells
    z_pixels: float
    cells: int  # k-means cells of the training features
    cells_tested: int  # those holding CELL_MIN generated and CELL_MIN held-out images
    tested_share: float  # the share of generated samples that fell in tested cells
    near_copies: float  # share of samples closer (in pixels) than all but NEAR_QUANTILE of held-out images
    median_pixel_distance: float  # generated sample -> nearest training image (RMS per averaged pixel, 0..1)
    median_pixel_distance_held_out: float  # the same for held-out real images
    training_images: int  # how many training images the neighbours were searched among
    pairs: list[tuple[int, int]]  # (sample index, training image index): the closest pairs in pixels

    @property
    def copies(self) -> bool:
        return min(self.c_features, self.c_pixels) < COPY_Z or self.near_copies >= COPY_SHARE

    def verdict(self) -> str:
        """In plain words, with the evidence."""
        f, p = self.c_features, self.c_pixels
        within = (f"C_T {f:+.1f} in features, {p:+.1f} in pixels, within {self.cells_tested} of {self.cells} cells "
                  f"({self.tested_share:.0%} of samples); without cells Z_U {self.z_features:+.1f} / {self.z_pixels:+.1f}"
                  if self.cells_tested else f"Z_U {f:+.1f} in features, {p:+.1f} in pixels (no cell held {CELL_MIN} of each)")
        evidence = f"{within}; {self.near_copies:.1%} of samples are nearer a training image than 99% of held-out images are"
        if self.copies:
            return f"copies its training data: samples sit closer to training images than unseen real images do ({evidence})"
        far = ", and further from them than real images are: it has not yet matched the data" if min(f, p) > -COPY_Z else ""
        return f"no sign of copying: samples are no closer to the training images than unseen real images are{far} ({evidence})"

    def to_dict(self) -> dict:
        return {**asdict(self), "copies": self.copies, "verdict": self.verdict(),
                "thresholds": {"c_t": COPY_Z, "near_quantile": NEAR_QUANTILE, "near_share": COPY_SHARE,
                               "cell_min": CELL_MIN, "held_per_cell": HELD_PER_CELL}}

    @classmethod
    def from_dict(cls, d: dict) -> "Copying":
        fields = {k: d[k] for k in cls.__dataclass_fields__}
        return cls(**{**fields, "pairs": [tuple(p) for p in d["pairs"]]})


def measure(
    fake_fd: np.ndarray, held_fd: np.ndarray, fake_px: np.ndarray, held_pd: np.ndarray, train_px: np.ndarray,
    fake_cell: np.ndarray, held_cell: np.ndarray, n_cells: int,
) -> Copying:
    """fake_fd, held_fd: each generated / held-out sample's squared feature distance to its nearest training
    image; held_pd: each held-out image's squared pixel distance to its nearest training image (all three
    found by the caller: the first from its k-NN pass, the others once per dataset, see eval.realside);
    fake_px, train_px: flat pixels in 0..1, the samples' nearest training neighbours are searched here;
    fake_cell, held_cell: each image's cell among n_cells (partition, cell_of)."""
    fake_nn, fake_pd = nearest(fake_px, train_px)
    cells = tested_cells(fake_cell, held_cell)
    closest = np.argsort(fake_pd, kind="stable")[:SHEET_PAIRS]
    rms = lambda d: float(np.sqrt(np.median(d) / fake_px.shape[1]))  # noqa: E731 - squared distance -> RMS per pixel
    return Copying(
        c_features=c_t(fake_fd, held_fd, fake_cell, held_cell, cells), c_pixels=c_t(fake_pd, held_pd, fake_cell, held_cell, cells),
        z_features=z_u(fake_fd, held_fd), z_pixels=z_u(fake_pd, held_pd),
        cells=n_cells, cells_tested=len(cells), tested_share=float(np.isin(fake_cell, cells).mean()),
        near_copies=float((fake_pd < np.quantile(held_pd, NEAR_QUANTILE)).mean()),
        median_pixel_distance=rms(fake_pd), median_pixel_distance_held_out=rms(held_pd),
        training_images=len(train_px), pairs=[(int(i), int(fake_nn[i])) for i in closest],
    )
