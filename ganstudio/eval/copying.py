"""Memorisation: does the generator hand back its training images?

For every generated sample and every held-out real image, the distance to its nearest training image, in
feature space and in pixels (area-averaged to about 16x16: near copies stay near, the search costs a
fraction). A generator that learnt the distribution lands about as close to the training
set as unseen real images do; one that copies lands closer (Meehan et al. 2020). Two stated tests:

  Z_U   the Mann-Whitney U statistic of generated vs held-out nearest-neighbour distances, as a z-score.
        Negative means generated samples sit closer to the training set than real unseen images do;
        below COPY_Z in either space is called copying (Meehan et al. flag Z_U << 0).
  near copies   samples closer to a training image (in pixels) than all but NEAR_QUANTILE of held-out
        images are: NEAR_QUANTILE of a set that copies nothing, by construction. COPY_SHARE or more is
        called copying, since it is five times what unseen real images show.
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


def z_u(fake: np.ndarray, held: np.ndarray) -> float:
    """Mann-Whitney U of `fake` against `held` as a z-score (average ranks for ties); < 0: fake is smaller."""
    values = np.concatenate([fake, held]).astype(np.float64)
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based average ranks
    m, n = len(fake), len(held)
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float((u - m * n / 2.0) / math.sqrt(m * n * (m + n + 1) / 12.0))


@dataclass(frozen=True)
class Copying:
    z_features: float
    z_pixels: float
    near_copies: float  # share of samples closer (in pixels) than all but NEAR_QUANTILE of held-out images
    median_pixel_distance: float  # generated sample -> nearest training image (RMS per averaged pixel, 0..1)
    median_pixel_distance_held_out: float  # the same for held-out real images
    training_images: int  # how many training images the neighbours were searched among
    pairs: list[tuple[int, int]]  # (sample index, training image index): the closest pairs in pixels

    @property
    def copies(self) -> bool:
        return min(self.z_features, self.z_pixels) < COPY_Z or self.near_copies >= COPY_SHARE

    def verdict(self) -> str:
        """In plain words, with the evidence."""
        evidence = (
            f"Z_U {self.z_features:+.1f} in features, {self.z_pixels:+.1f} in pixels; "
            f"{self.near_copies:.1%} of samples are nearer a training image than 99% of held-out images are"
        )
        if self.copies:
            return f"copies its training data: samples sit closer to training images than unseen real images do ({evidence})"
        far = ", and further from them than real images are: it has not yet matched the data" if min(self.z_features, self.z_pixels) > -COPY_Z else ""
        return f"no sign of copying: samples are no closer to the training images than unseen real images are{far} ({evidence})"

    def to_dict(self) -> dict:
        return {**asdict(self), "copies": self.copies, "verdict": self.verdict(),
                "thresholds": {"z_u": COPY_Z, "near_quantile": NEAR_QUANTILE, "near_share": COPY_SHARE}}

    @classmethod
    def from_dict(cls, d: dict) -> "Copying":
        fields = {k: d[k] for k in cls.__dataclass_fields__}
        return cls(**{**fields, "pairs": [tuple(p) for p in d["pairs"]]})


def measure(
    fake_fd: np.ndarray, held_fd: np.ndarray, fake_px: np.ndarray, held_pd: np.ndarray, train_px: np.ndarray,
) -> Copying:
    """fake_fd, held_fd: each generated / held-out sample's squared feature distance to its nearest training
    image; held_pd: each held-out image's squared pixel distance to its nearest training image (all three
    found by the caller: the first from its k-NN pass, the others once per dataset, see eval.realside);
    fake_px, train_px: flat pixels in 0..1, the samples' nearest training neighbours are searched here."""
    fake_nn, fake_pd = nearest(fake_px, train_px)
    threshold = np.quantile(held_pd, NEAR_QUANTILE)
    closest = np.argsort(fake_pd, kind="stable")[:SHEET_PAIRS]
    rms = lambda d: float(np.sqrt(np.median(d) / fake_px.shape[1]))  # noqa: E731 - squared distance -> RMS per pixel
    return Copying(
        z_features=z_u(fake_fd, held_fd), z_pixels=z_u(fake_pd, held_pd),
        near_copies=float((fake_pd < threshold).mean()),
        median_pixel_distance=rms(fake_pd), median_pixel_distance_held_out=rms(held_pd),
        training_images=len(train_px), pairs=[(int(i), int(fake_nn[i])) for i in closest],
    )
