"""How a generator's latent space behaves, in the eval's feature space (torch-free: numpy and the eval's nets).

dimensions that matter   For each latent dimension d and each of SEEDS seeds' vectors: the distance between
                         the images with z[d] = -MOVE and z[d] = +MOVE (a ±3σ move under the N(0, I) prior),
                         median over the seeds, as a fraction of the median distance between two random
                         samples. A dimension whose move carries the image at least THRESHOLD of that way
                         "matters": one below it is a slider that barely changes anything. A class-coded
                         model's first `classes` dimensions pick the class (moving one changes the class),
                         so they are reported apart. Measured in features (Euclidean) and in pixels (mean
                         absolute difference), the latter being the measure issue 23 states its targets in.
perceptual path length   Karras et al. 2019 (StyleGAN): E[d(G(p(t)), G(p(t + EPSILON))) / EPSILON²] over
                         random pairs z1, z2 ~ N(0, I) and t ~ U(0, 1), p the straight line (lerp) or the
                         great circle (slerp) from z1 to z2, d the squared feature distance (their VGG/LPIPS
                         is a download; the eval's own net is not); the 1% smallest and largest values are
                         dropped, as theirs were. Low: the image changes evenly along a path; high: it jumps.

Both read the generator's float output before it is rounded to uint8: rounding would swamp an EPSILON step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ganstudio.explore import latent

SEEDS = 8  # vectors each dimension is moved from (seeds seed..seed+SEEDS-1, as `sample` draws them)
MOVE = 3.0  # a dimension is set to -MOVE and +MOVE: 3σ of the prior either way
THRESHOLD = 1 / 3  # a dimension matters when that move carries the image this share of a random pair's distance
FEW = 5  # weakest and strongest dimensions named
PAIRS = 256  # random pairs whose median distance is the scale
PATHS = 1000  # path samples per interpolation (Karras et al. used 100,000 on a GPU)
EPSILON = 1e-4  # the step along the path (theirs)
TRIM = 1.0  # percent of path samples dropped at each end (theirs)
CHUNK = 256  # images per generator and feature-net call

Images = Callable[[np.ndarray], np.ndarray]  # z (n, nz) -> float32 (n, C, H, W) on the 0..255 scale, unrounded
Featurise = Callable[[np.ndarray], np.ndarray]  # such images -> features (n, D)


class Model(Protocol):
    """What measure() needs of a generator (a runtime.Generator): its float forward pass and its card."""

    @property
    def nz(self) -> int: ...

    @property
    def card(self) -> Any: ...  # .output_range, .classes

    def raw(self, z: np.ndarray) -> np.ndarray: ...  # (n, nz) -> (n, C, H, W) float in output_range


def _chunked(images: Images, featurise: Featurise, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images, features) of z, CHUNK at a time."""
    xs, fs = [], []
    for i in range(0, len(z), CHUNK):
        x = images(z[i : i + CHUNK])
        xs.append(x)
        fs.append(featurise(x))
    return np.concatenate(xs), np.concatenate(fs).astype(np.float64)


def _distances(xa: np.ndarray, xb: np.ndarray, fa: np.ndarray, fb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature distances, pixel distances as mean |difference| on a 0..1 scale) of image pairs."""
    pixels = np.abs(xa.astype(np.float64) - xb).reshape(len(xa), -1).mean(1) / 255.0
    return np.linalg.norm(fa - fb, axis=1), pixels


def dimension_fractions(images: Images, featurise: Featurise, nz: int, seed: int) -> dict[str, np.ndarray]:
    """{"features": (nz,), "pixels": (nz,)}: each dimension's ±MOVE distance over a random pair's (see the module)."""
    moved: dict[str, list[np.ndarray]] = {"features": [], "pixels": []}
    dims = np.arange(nz)
    for s in range(seed, seed + SEEDS):
        z = np.repeat(latent.z_from_seed(s, nz)[None], 2 * nz, axis=0)
        z[2 * dims, dims], z[2 * dims + 1, dims] = -MOVE, MOVE
        x, f = _chunked(images, featurise, z)
        feats, pixels = _distances(x[0::2], x[1::2], f[0::2], f[1::2])
        moved["features"].append(feats)
        moved["pixels"].append(pixels)
    x, f = _chunked(images, featurise, latent.z_batch(seed, 2 * PAIRS, nz))
    scale = dict(zip(("features", "pixels"), _distances(x[:PAIRS], x[PAIRS:], f[:PAIRS], f[PAIRS:])))
    return {k: np.median(np.stack(v), axis=0) / max(float(np.median(scale[k])), 1e-12) for k, v in moved.items()}


def path_lengths(images: Images, featurise: Featurise, nz: int, seed: int, method: str, n: int = PATHS) -> np.ndarray:
    """n values of d(G(p(t)), G(p(t + EPSILON))) / EPSILON² along random paths (seeded by seed and method)."""
    rng = np.random.default_rng([seed, ("lerp", "slerp").index(method)])
    z1, z2 = rng.standard_normal((2, n, nz), dtype=np.float32)
    t = rng.uniform(0.0, 1.0 - EPSILON, n)
    along = latent.lerp if method == "lerp" else latent.slerp
    ends = np.stack([along(a, b, np.array([u, u + EPSILON])) for a, b, u in zip(z1, z2, t)])  # (n, 2, nz)
    _, f = _chunked(images, featurise, ends.reshape(2 * n, nz))
    return ((f[0::2] - f[1::2]) ** 2).sum(1) / EPSILON**2


def trimmed(values: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation and median of the values left once the TRIM% at each end are dropped; the counts."""
    lo, hi = np.percentile(values, TRIM, method="lower"), np.percentile(values, 100 - TRIM, method="higher")
    kept = values[(values >= lo) & (values <= hi)]
    return {"mean": float(kept.mean()), "std": float(kept.std()), "median": float(np.median(kept)),
            "kept": int(len(kept)), "n": int(len(values))}


def summary(fractions: np.ndarray, classes: int) -> dict[str, Any]:
    """The count at or above THRESHOLD, the median, weakest and strongest FEW of the dimensions outside the class code;
    the class dimensions' median apart."""
    free = np.arange(classes, len(fractions))
    order = free[np.argsort(fractions[free], kind="stable")]
    named = lambda dims: [[int(d), round(float(fractions[d]), 4)] for d in dims]  # noqa: E731
    out = {"dimensions": len(free), "matter": int((fractions[free] >= THRESHOLD).sum()),
           "median": round(float(np.median(fractions[free])), 4) if len(free) else None,
           "weakest": named(order[:FEW]), "strongest": named(order[::-1][:FEW]),
           "fractions": [round(float(v), 4) for v in fractions]}
    if classes:
        out["class_median"] = round(float(np.median(fractions[:classes])), 4)
    return out


@dataclass(frozen=True)
class LatentSpace:
    classes: int  # class-coded: z's first `classes` dimensions pick the class
    dimensions: dict[str, dict[str, Any]]  # "features", "pixels": summary()
    path_length: dict[str, dict[str, float]]  # "lerp", "slerp": trimmed()

    def to_dict(self) -> dict[str, Any]:
        return {"seeds": SEEDS, "move": MOVE, "threshold": round(THRESHOLD, 4), "epsilon": EPSILON, "classes": self.classes,
                "dimensions": self.dimensions, "path_length": self.path_length}


def measure_with(images: Images, featurise: Featurise, nz: int, seed: int, classes: int = 0) -> LatentSpace:
    """Both measures for any float generator and feature function (see the module)."""
    fractions = dimension_fractions(images, featurise, nz, seed)
    return LatentSpace(
        classes=classes,
        dimensions={k: summary(v, classes) for k, v in fractions.items()},
        path_length={m: trimmed(path_lengths(images, featurise, nz, seed, m)) for m in ("lerp", "slerp")},
    )


def measure(gen: Model, featurise: Featurise, seed: int) -> LatentSpace:
    """Both measures for a loaded model: its unrounded output mapped to 0..255, as the eval's nets read images."""
    lo, hi = gen.card.output_range

    def images(z: np.ndarray) -> np.ndarray:
        return np.clip((gen.raw(z).astype(np.float32) - lo) * np.float32(255.0 / (hi - lo)), 0.0, 255.0)

    return measure_with(images, featurise, gen.nz, seed, gen.card.classes)


def lines(d: dict[str, Any]) -> list[str]:
    """eval.json's latent_space in plain words (the CLI, `info`, the studio's model card)."""
    f, p = d["dimensions"]["features"], d["dimensions"]["pixels"]
    few = lambda pairs: ", ".join(f"{dim} ({v:.2f})" for dim, v in pairs)  # noqa: E731
    coded = f" outside the {d['classes']} that code the class" if d["classes"] else ""
    if f["dimensions"] == 0:
        out = [f"dimensions that matter: none outside the {d['classes']} that code the class"]
    else:
        out = [
            f"dimensions that matter: {f['matter']} of {f['dimensions']}{coded} move the image at least "
            f"{d['threshold']:.2f} of the distance between two random samples when set from -{d['move']:g} to +{d['move']:g} "
            f"(median {f['median']:.2f}; in pixels {p['matter']} of {p['dimensions']}, median {p['median']:.2f}); "
            f"weakest {few(f['weakest'])}; strongest {few(f['strongest'])}",
        ]
    if d["classes"]:
        out.append(f"class dimensions: 0..{d['classes'] - 1} pick the class; setting one to ±{d['move']:g} moves the image "
                   f"{f['class_median']:.2f} of a random pair's distance (median)")
    lerp, slerp = d["path_length"]["lerp"], d["path_length"]["slerp"]
    out.append(
        f"perceptual path length (how abruptly images change along a path in z; lower is smoother): lerp "
        f"{lerp['mean']:.4g} (sd {lerp['std']:.3g}), slerp {slerp['mean']:.4g} (sd {slerp['std']:.3g}); "
        f"{lerp['kept']} of {lerp['n']} path samples each, the 1% highest and lowest dropped, step {d['epsilon']:g}, "
        "in the eval's feature space"
    )
    return out
