"""The exploring operations, one set for the CLI, the studio and its API: a latent vector in, images + recipe out.

Every operation starts from a `Vector`. A seed's own vector (`Vector.of_seed`) is the unedited case, and then
the recipe names the seed and ψ, exactly what `ganstudio sample|interpolate|walk` write, so the same request
gives the same bytes from the command line and from the browser. An edited vector's recipe holds the vector
itself (with the seed, ψ, edits and direction amounts it came from), so any image can be re-made from its PNG.

Values arrive checked against ganstudio.explore.limits by the caller, which knows what the user called them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ganstudio import __version__
from ganstudio.explore import images, latent
from ganstudio.explore.runtime import Generator

DIRECTION_SWEEP = "sweep_direction"  # a strip along one direction of a method (SeFa, GANSpace, class)


@dataclass(frozen=True)
class Render:
    frames: np.ndarray  # (rows, k, H, W, C) uint8: one row per sweep dimension, else a single row
    image: Image.Image  # the grid or strip a person looks at
    recipe: dict[str, Any]

    def gif_frames(self) -> list[Image.Image]:
        """Frame i shows column i of every row, stacked: a sweep of 3 dims animates as 3 images at once."""
        return [images.tile(self.frames[:, i], cols=1) for i in range(self.frames.shape[1])]


@dataclass(frozen=True)
class Vector:
    """z = truncate(z(seed), psi), then edits[d] written into dimension d, then sum(amount * direction) added."""

    seed: int
    psi: float
    z: np.ndarray  # (nz,) float32, the result
    edits: Mapping[int, float] = field(default_factory=dict)
    directions: Mapping[str, Sequence[float]] = field(default_factory=dict)  # method -> amount per direction

    @classmethod
    def of_seed(cls, seed: int, psi: float, nz: int) -> Vector:
        return cls(seed, psi, latent.truncate(latent.z_from_seed(seed, nz), psi))

    @classmethod
    def edited(
        cls, seed: int, psi: float, nz: int, edits: Mapping[int, float],
        amounts: Mapping[str, Sequence[float]], bases: Mapping[str, np.ndarray],
    ) -> Vector:
        """The seed's vector with dimensions overwritten, then moved along directions (bases[m]: (k, nz) rows)."""
        z = latent.truncate(latent.z_from_seed(seed, nz), psi)
        for d, value in edits.items():
            z[d] = value
        for m, a in amounts.items():
            if any(a):
                z = z + np.asarray(a, dtype=np.float32) @ bases[m]
        return cls(seed, psi, z.astype(np.float32), dict(edits), {m: list(a) for m, a in amounts.items()})

    @property
    def is_seed(self) -> bool:
        """True when nothing was edited: the vector is exactly the seed's, and its recipe just names the seed."""
        return not self.edits and not any(any(a) for a in self.directions.values())

    def recipe(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "psi": self.psi,
            "edits": {str(d): v for d, v in sorted(self.edits.items())},
            "directions": {m: list(a) for m, a in self.directions.items() if any(a)},
            "z": [float(x) for x in self.z],  # float32 -> float is exact, so the vector round-trips
        }

    def origin(self, key: str = "seed") -> dict[str, Any]:
        """Where an operation's recipe says it starts: the seed, or for an edited vector the vector itself."""
        return {key: self.seed} if self.is_seed else {"vector": self.recipe()}

    def truncation(self) -> dict[str, float]:
        """ψ as a recipe states it after the parameters (an edited vector carries its own inside)."""
        return {"psi": self.psi} if self.is_seed else {}


def recipe_for(gen: Generator, op: str, **params: Any) -> dict[str, Any]:
    """The recipe every image of an operation carries: what it is, which model (by sha256), and its parameters."""
    return {"op": op, "model": gen.model.name, "model_sha256": gen.sha256, "ganstudio": __version__, **params}


def sample(gen: Generator, seed: int, n: int, psi: float = 1.0) -> Render:
    """n images from seeds seed..seed+n-1, as a near-square grid."""
    pixels = gen.images(latent.truncate(latent.z_batch(seed, n, gen.nz), psi))
    return Render(pixels[None], images.tile(pixels), recipe_for(gen, "sample", seed=seed, n=n, psi=psi))


def still(gen: Generator, v: Vector) -> Render:
    """The vector's one image, laid out as `ganstudio sample --n 1` lays out one image (and unedited, its bytes)."""
    if v.is_seed:
        return sample(gen, v.seed, 1, v.psi)
    pixels = gen.images(v.z[None])
    return Render(pixels[None], images.tile(pixels), recipe_for(gen, "edit", vector=v.recipe()))


def sweep(gen: Generator, v: Vector, dims: Sequence[int], steps: int, lo: float = -3.0, hi: float = 3.0) -> Render:
    """For each dim, `steps` images in which only that latent dimension moves from lo to hi (one row per dim)."""
    values = latent.sweep_values(lo, hi, steps)
    pixels = gen.images(np.concatenate([latent.sweep(v.z, d, values) for d in dims]))
    frames = pixels.reshape(len(dims), steps, *pixels.shape[1:])
    recipe = recipe_for(gen, "sweep", **v.origin(), dims=list(dims), steps=steps, range=[lo, hi], **v.truncation())
    return Render(frames, images.rows(list(frames)), recipe)


def direction_sweep(
    gen: Generator, v: Vector, method: str, index: int, direction: np.ndarray, steps: int, lo: float = -3.0, hi: float = 3.0,
    name: str | None = None,
) -> Render:
    """`steps` images of the vector moved by lo..hi along `direction` (row `index` of `method`'s basis).

    name: the direction as a person calls it (a class's), recorded beside method and index.
    """
    values = latent.sweep_values(lo, hi, steps)
    pixels = gen.images((v.z[None] + values[:, None] * direction.astype(np.float32)[None]).astype(np.float32))
    named = {} if name is None else {"direction": name}
    recipe = recipe_for(gen, DIRECTION_SWEEP, **v.origin(), method=method, index=index, **named, steps=steps, range=[lo, hi],
                        **v.truncation())
    return Render(pixels[None], images.rows([pixels]), recipe)


def interpolate(gen: Generator, v: Vector, seed_to: int, steps: int, method: str = "lerp", psi: float = 1.0) -> Render:
    """From the vector to truncate(z(seed_to), psi), `steps` images ends included."""
    b = latent.truncate(latent.z_from_seed(seed_to, gen.nz), psi)
    pixels = gen.images(latent.interpolate(v.z, b, steps, method))
    recipe = recipe_for(gen, "interpolate", **v.origin("seed_from"), seed_to=seed_to, steps=steps, method=method, psi=psi)
    return Render(pixels[None], images.rows([pixels]), recipe)


def walk(gen: Generator, v: Vector, steps: int, step_size: float = 0.08) -> Render:
    """A smooth random walk from the vector; the walk's own randomness is seeded by the vector's seed."""
    pixels = gen.images(latent.random_walk(v.z, steps, seed=v.seed, step_size=step_size))
    recipe = recipe_for(gen, "walk", **v.origin(), steps=steps, step_size=step_size, **v.truncation())
    return Render(pixels[None], images.tile(pixels, cols=min(steps, 10)), recipe)
