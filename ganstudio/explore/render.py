"""The exploring operations, shared by the CLI and the app: recipe in, images + recipe out.

Each returns a Render whose `recipe` is what gets written into every PNG/GIF, so the same recipe gives the
same bytes from `ganstudio sample` and from the browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ganstudio import __version__
from ganstudio.explore import images, latent
from ganstudio.errors import UserError
from ganstudio.explore.runtime import Generator

MAX_N = 1024
MAX_STEPS = 512
MAX_DIMS = 16


@dataclass(frozen=True)
class Render:
    frames: np.ndarray  # (rows, k, H, W, C) uint8: one row per sweep dimension, else a single row
    image: Image.Image  # the grid or strip a person looks at
    recipe: dict[str, Any]

    def gif_frames(self) -> list[Image.Image]:
        """Frame i shows column i of every row, stacked: a sweep of 3 dims animates as 3 images at once."""
        return [images.tile(self.frames[:, i], cols=1) for i in range(self.frames.shape[1])]


def check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise UserError(f"{name} {value} is out of range: use {lo}..{hi}")


def recipe_for(gen: Generator, op: str, **params: Any) -> dict[str, Any]:
    """The recipe every image of an operation carries: what it is, which model (by sha256), and its parameters."""
    return {"op": op, "model": gen.model.name, "model_sha256": gen.sha256, "ganstudio": __version__, **params}


def sample(gen: Generator, seed: int, n: int, psi: float = 1.0) -> Render:
    """n images from seeds seed..seed+n-1, as a near-square grid."""
    check_range("--n", n, 1, MAX_N)
    latent.check_psi(psi)
    pixels = gen.images(latent.truncate(latent.z_batch(seed, n, gen.nz), psi))
    return Render(pixels[None], images.tile(pixels), recipe_for(gen, "sample", seed=seed, n=n, psi=psi))


def sweep(
    gen: Generator, seed: int, dims: Sequence[int], steps: int, lo: float = -3.0, hi: float = 3.0, psi: float = 1.0
) -> Render:
    """For each dim, `steps` images in which only that latent dimension moves from lo to hi (one row per dim)."""
    check_range("--steps", steps, 2, MAX_STEPS)
    check_range("number of --dim values", len(dims), 1, MAX_DIMS)
    latent.check_psi(psi)
    if not lo < hi:
        raise UserError(f"--range {lo} {hi}: the first value must be below the second")
    for d in dims:
        if not 0 <= d < gen.nz:
            raise UserError(f"--dim {d} is out of range: this generator has dimensions 0..{gen.nz - 1}")
    base = latent.truncate(latent.z_from_seed(seed, gen.nz), psi)
    values = latent.sweep_values(lo, hi, steps)
    z = np.concatenate([latent.sweep(base, d, values) for d in dims])
    pixels = gen.images(z)
    frames = pixels.reshape(len(dims), steps, *pixels.shape[1:])
    recipe = recipe_for(gen, "sweep", seed=seed, dims=list(dims), steps=steps, range=[lo, hi], psi=psi)
    return Render(frames, images.rows(list(frames)), recipe)


def interpolate(
    gen: Generator, seed_from: int, seed_to: int, steps: int, method: str = "lerp", psi: float = 1.0
) -> Render:
    check_range("--steps", steps, 2, MAX_STEPS)
    latent.check_psi(psi)
    a, b = (latent.truncate(latent.z_from_seed(s, gen.nz), psi) for s in (seed_from, seed_to))
    pixels = gen.images(latent.interpolate(a, b, steps, method))
    recipe = recipe_for(gen, "interpolate", seed_from=seed_from, seed_to=seed_to, steps=steps, method=method, psi=psi)
    return Render(pixels[None], images.rows([pixels]), recipe)


def walk(gen: Generator, seed: int, steps: int, step_size: float = 0.08, psi: float = 1.0) -> Render:
    """A smooth random walk from z(seed); the walk's own randomness is seeded by the same seed."""
    check_range("--steps", steps, 2, MAX_STEPS)
    check_range("--step-size", step_size, 0.001, 1.0)
    latent.check_psi(psi)
    start = latent.truncate(latent.z_from_seed(seed, gen.nz), psi)
    pixels = gen.images(latent.random_walk(start, steps, seed=seed, step_size=step_size))
    recipe = recipe_for(gen, "walk", seed=seed, steps=steps, step_size=step_size, psi=psi)
    return Render(pixels[None], images.tile(pixels, cols=min(steps, 10)), recipe)
