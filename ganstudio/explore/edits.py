"""Renders that start from a hand-edited latent vector (the studio's current image) instead of a seed.

They mirror ganstudio.render operation for operation (same layouts, same recipe keys), so an image made
from an unedited vector is made by ganstudio.render itself and matches the CLI byte for byte, and an
edited one still carries everything needed to re-create it: its recipe holds the vector under "vector",
with the seed, truncation, per-dimension edits and direction amounts it was made from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganstudio.explore import images, latent
from ganstudio.explore.render import Render, recipe_for
from ganstudio.explore.runtime import Generator


@dataclass(frozen=True)
class Edited:
    """z = truncate(z(seed), psi), then edits[d] written into dimension d, then sum(amount * direction) added."""

    seed: int
    psi: float
    z: np.ndarray  # (nz,) float32, the result
    edits: dict[int, float] = field(default_factory=dict)
    directions: dict[str, list[float]] = field(default_factory=dict)  # method -> amount per direction

    @property
    def is_seed(self) -> bool:
        """True when nothing was edited: the vector is exactly the seed's, and ganstudio.render can make it."""
        return not self.edits and not any(any(a) for a in self.directions.values())

    def recipe(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "psi": self.psi,
            "edits": {str(d): v for d, v in sorted(self.edits.items())},
            "directions": {m: a for m, a in self.directions.items() if any(a)},
            "z": [float(x) for x in self.z],  # float32 -> float is exact, so the vector round-trips
        }


def still(gen: Generator, v: Edited) -> Render:
    """The vector's image, laid out as `ganstudio sample --n 1` lays out one image."""
    pixels = gen.images(v.z[None])
    return Render(pixels[None], images.tile(pixels), recipe_for(gen, "edit", vector=v.recipe()))


def sweep(gen: Generator, v: Edited, dims: Sequence[int], steps: int, lo: float, hi: float) -> Render:
    """As render.sweep, from the vector: each row sets one dimension to values lo..hi."""
    values = latent.sweep_values(lo, hi, steps)
    pixels = gen.images(np.concatenate([latent.sweep(v.z, d, values) for d in dims]))
    frames = pixels.reshape(len(dims), steps, *pixels.shape[1:])
    recipe = recipe_for(gen, "sweep", vector=v.recipe(), dims=list(dims), steps=steps, range=[lo, hi])
    return Render(frames, images.rows(list(frames)), recipe)


def interpolate(gen: Generator, v: Edited, seed_to: int, steps: int, method: str, psi: float) -> Render:
    """As render.interpolate, from the vector to truncate(z(seed_to), psi)."""
    b = latent.truncate(latent.z_from_seed(seed_to, gen.nz), psi)
    pixels = gen.images(latent.interpolate(v.z, b, steps, method))
    recipe = recipe_for(gen, "interpolate", vector=v.recipe(), seed_to=seed_to, steps=steps, method=method, psi=psi)
    return Render(pixels[None], images.rows([pixels]), recipe)


def walk(gen: Generator, v: Edited, steps: int, step_size: float) -> Render:
    """As render.walk, from the vector; the walk's randomness is seeded by the vector's seed."""
    pixels = gen.images(latent.random_walk(v.z, steps, seed=v.seed, step_size=step_size))
    recipe = recipe_for(gen, "walk", vector=v.recipe(), seed=v.seed, steps=steps, step_size=step_size)
    return Render(pixels[None], images.tile(pixels, cols=min(steps, 10)), recipe)
