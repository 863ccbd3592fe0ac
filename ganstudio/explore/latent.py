"""Latent-space maths: pure numpy functions, seeded and reproducible.

The seed recipe (the user's handle on a latent vector, the same in the CLI, the app and either backend):

    z(seed) = numpy.random.default_rng(seed).standard_normal(nz, dtype=numpy.float32)

A batch of n images "from seed s" is the n vectors z(s), z(s+1), ..., z(s+n-1), so every image in a grid
has its own seed and can be re-made or picked out on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ganstudio.errors import UserError
from ganstudio.explore.limits import MAX_SEED, SEED

NEAR_ZERO = 1e-12  # a norm this small has no direction: slerp falls back to lerp


def z_from_seed(seed: int, nz: int) -> np.ndarray:
    """The latent vector of one seed, shape (nz,)."""
    SEED.check("seed", seed)
    return np.random.default_rng(seed).standard_normal(nz, dtype=np.float32)


def z_batch(first_seed: int, n: int, nz: int) -> np.ndarray:
    """The vectors of seeds first_seed .. first_seed+n-1, shape (n, nz)."""
    if first_seed + n - 1 > MAX_SEED:
        raise UserError(f"seeds {first_seed}..{first_seed + n - 1} go past {MAX_SEED}")
    return np.stack([z_from_seed(s, nz) for s in range(first_seed, first_seed + n)])


def truncate(z: np.ndarray, psi: float) -> np.ndarray:
    """The truncation trick for a N(0, I) prior: pull z toward the prior's mean (0) by psi.

    psi < 1 trades variety for typical-looking images; psi = 1 leaves z unchanged.
    """
    return (z * np.float32(psi)).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    t = np.asarray(t, dtype=np.float32)[..., None] if np.ndim(t) else np.float32(t)
    return ((1 - t) * a + t * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation: keeps the norm typical of Gaussian z along the path (lerp passes near 0).

    Falls back to lerp where the great circle is undefined: a or b (about) zero, or the two (anti)parallel.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if not norms > NEAR_ZERO:
        return lerp(a, b, t)
    cos = np.dot(a64, b64) / norms
    omega = math.acos(float(np.clip(cos, -1.0, 1.0)))
    if math.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t64 = np.asarray(t, dtype=np.float64)
    t_col = t64[..., None] if t64.ndim else t64
    out = (np.sin((1 - t_col) * omega) * a64 + np.sin(t_col * omega) * b64) / math.sin(omega)
    return out.astype(np.float32)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "lerp") -> np.ndarray:
    """steps vectors from a to b inclusive, shape (steps, nz)."""
    t = np.linspace(0.0, 1.0, steps)
    if method == "lerp":
        return lerp(a, b, t)
    if method == "slerp":
        return slerp(a, b, t)
    raise UserError(f"unknown interpolation {method!r}: use lerp or slerp")


def sweep_values(lo: float, hi: float, steps: int) -> np.ndarray:
    """The values a swept dimension takes, ends included (float32, as they enter z)."""
    return np.linspace(lo, hi, steps, dtype=np.float32)


def sweep(base: np.ndarray, dim: int, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Copies of base in which only dimension `dim` moves, taking each of `values`; shape (len(values), nz)."""
    nz = base.shape[-1]
    if not 0 <= dim < nz:
        raise UserError(f"latent dimension {dim} is out of range: this generator has dimensions 0..{nz - 1}")
    out = np.repeat(base[None, :].astype(np.float32), len(values), axis=0)
    out[:, dim] = np.asarray(values, dtype=np.float32)
    return out


def random_walk(
    start: np.ndarray, steps: int, seed: int, step_size: float = 0.08, smoothness: float = 0.9
) -> np.ndarray:
    """A smooth random walk of `steps` vectors beginning at `start`, shape (steps, nz).

    The velocity is an AR(1) process (smoothness = how much of the last step it keeps), so the path turns
    gently instead of jittering; every point is projected back to the radius of `start`, so the walk stays
    on the shell where Gaussian z lives (radius ~ sqrt(nz)) instead of drifting into atypical regions.
    """
    if not 0.0 <= smoothness < 1.0:
        raise UserError(f"smoothness {smoothness} is out of range: use 0 <= smoothness < 1")
    rng = np.random.default_rng(seed)
    radius = float(np.linalg.norm(start))
    z = start.astype(np.float64)
    v = np.zeros_like(z)
    path = [z]
    for _ in range(steps - 1):
        v = smoothness * v + math.sqrt(1 - smoothness**2) * rng.standard_normal(z.shape)
        z = z + step_size * v
        z = z * (radius / np.linalg.norm(z))
        path.append(z)
    return np.stack(path).astype(np.float32)


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of the most square grid that holds n images (64 -> 8x8, 10 -> 3x4)."""
    cols = cols or math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols
