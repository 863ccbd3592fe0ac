"""Which latent dimensions matter: rank them by how much the image changes when each one moves.

Most of a DCGAN's 100 dimensions change little on their own; a person exploring by hand should meet the
few that change a lot first. The score of dimension d is the mean absolute pixel difference (0..1)
between the images with z[d] - delta and z[d] + delta, averaged over a few seeds' vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ganstudio.explore import latent


@dataclass(frozen=True)
class Effects:
    order: np.ndarray  # (nz,) the order to list dimensions in: a class code's dimensions, then the rest by effect
    scores: np.ndarray  # (nz,) score of each dimension, indexed by dimension
    classes: int = 0  # class-coded: z's first `classes` dimensions pick the class, a group of their own

    @property
    def free(self) -> np.ndarray:
        """The dimensions outside the class code, largest effect first (ties by index)."""
        return self.order[self.classes:]

    def rank_of(self, dim: int) -> int:
        """1 for the free dimension with the largest effect; 0 for a dimension of the class code."""
        return 0 if dim < self.classes else int(np.flatnonzero(self.free == dim)[0]) + 1


def rank_dimensions(
    images: Callable[[np.ndarray], np.ndarray], nz: int, seeds: Sequence[int] = (0, 1, 2, 3), delta: float = 1.5,
    classes: int = 0,
) -> Effects:
    """Score every dimension with images(z (m, nz)) -> uint8 (m, H, W, C); 2 * nz * len(seeds) images in all.

    classes: a class-coded model's count. Its class dimensions change the digit itself, so ranked with the
    others they would fill the top of the list and hide which of the remaining dimensions matter: they are
    listed first, as their own group, and the rest are ranked among themselves."""
    scores = np.zeros(nz)
    for seed in seeds:
        base = latent.z_from_seed(seed, nz)
        z = np.repeat(base[None], 2 * nz, axis=0)
        dims = np.arange(nz)
        z[2 * dims, dims] -= delta
        z[2 * dims + 1, dims] += delta
        pixels = images(z).astype(np.float32) / 255.0
        scores += np.abs(pixels[0::2] - pixels[1::2]).mean(axis=(1, 2, 3))
    scores /= len(seeds)
    free = classes + np.argsort(-scores[classes:], kind="stable")
    return Effects(np.concatenate([np.arange(classes), free]), scores, classes)
