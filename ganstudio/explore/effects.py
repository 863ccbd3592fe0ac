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
    order: np.ndarray  # (nz,) dimensions, largest effect first (ties by index)
    scores: np.ndarray  # (nz,) score of each dimension, indexed by dimension

    def rank_of(self, dim: int) -> int:
        """1 for the dimension with the largest effect."""
        return int(np.flatnonzero(self.order == dim)[0]) + 1


def rank_dimensions(
    images: Callable[[np.ndarray], np.ndarray], nz: int, seeds: Sequence[int] = (0, 1, 2, 3), delta: float = 1.5
) -> Effects:
    """Score every dimension with images(z (m, nz)) -> uint8 (m, H, W, C); 2 * nz * len(seeds) images in all."""
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
    return Effects(np.argsort(-scores, kind="stable"), scores)
