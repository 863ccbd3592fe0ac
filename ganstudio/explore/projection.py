"""Bring your own image: the latent vector whose image is closest to it (inversion), without torch.

An image (anything Pillow opens) is brought to the model's channels and size, then encoded by the model's
encoder.onnx when it has one made for these weights (`ganstudio encoder MODEL` builds it, from the
generator's own samples); without one the search starts from the nearest of PROJECT_SAMPLES seeded random
samples, and says so. A seeded evolution strategy then refines z on the pixel error, each round a batch
through the ONNX generator: no gradients, so the serving side needs nothing but ONNX Runtime. Every vector
tried stays inside the dimension sliders' range, so the result is editable like any other.

The error is the mean squared pixel difference with pixels in [0, 1] (the same scale on every model).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganstudio.artifact import catalog
from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.data import imagefolder
from ganstudio.errors import UserError
from ganstudio.explore import images, latent, limits, runtime
from ganstudio.explore.operations import Vector
from ganstudio.explore.runtime import Generator

ENCODER_GRAPH = "encoder.onnx"
ENCODER_RECORD = "encoder.json"
ENCODER_FORMAT = 1
SIGMA = 0.3  # the search's first step size, per latent dimension (it adapts from there)
BUILD_HINT = "build one with `ganstudio encoder {model}`"


@dataclass(frozen=True)
class Encoder:
    """A model's encoder.onnx and what encoder.json records about it."""

    path: Path
    record: dict[str, Any]
    session: Any

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """(n, H, W, C) uint8 -> (n, nz) float32."""
        x = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        try:
            return self.session.run(None, {"images": x})[0].astype(np.float32)
        except Exception as e:  # ORT raises its own types
            raise UserError(f"{self.path}: ONNX Runtime cannot run this encoder ({str(e).splitlines()[0]})") from None


@dataclass(frozen=True)
class Projection:
    z: np.ndarray  # (nz,) float32: the vector found
    image: np.ndarray  # (H, W, C) uint8: its image
    error: float  # mean squared pixel error of that image, pixels in [0, 1]
    start_error: float  # the same, of where the search started
    start: str  # "encoder", or "random" (the nearest of `samples` seeded samples)
    note: str  # why the search started from random samples; "" when it did not
    rounds: int
    evaluations: int  # images the generator drew, the encoder's pass not counted
    seconds: float
    apart: float  # the same error between two of the model's own images (median over seeded pairs): the scale

    @property
    def poor(self) -> bool:
        """Further from the image than half the gap between two of the model's own images: it cannot draw it."""
        return self.error > POOR * self.apart

    def summary(self) -> str:
        how = "encoder" if self.start == "encoder" else f"nearest of {limits.PROJECT_SAMPLES} random samples"
        warn = (f"POOR MATCH: the closest image the model draws is {self.error / self.apart:.0%} of the gap between two of "
                "its own images away from yours; it cannot draw this image. ") if self.poor else ""
        return (f"{warn}error (pixel MSE) {self.error:.4f} (two of the model's own images: {self.apart:.4f}), from "
                f"{self.start_error:.4f} at the start ({how}, then {self.rounds} search rounds, {self.evaluations:,} "
                f"images drawn) in {self.seconds:.2f} s")

    def recipe(self) -> dict[str, Any]:
        return {"error": round(self.error, 6), "apart": round(self.apart, 6), "poor": self.poor, "start": self.start, "start_error": round(self.start_error, 6),
                "rounds": self.rounds, "evaluations": self.evaluations}


def read_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """An image file as (size, size, channels) uint8: upright, on white, centre square, resized; grey or RGB."""
    path = Path(path)
    name = path.name[:60]
    with images.opened(path):  # its size and pixel count, before anything is decoded
        pass
    try:
        rgb = imagefolder.decode(path, size)  # (3, size, size)
    except imagefolder.UNREADABLE as e:
        raise UserError(f"{name}: not an image Pillow can read, e.g. PNG, JPEG, WebP, BMP, GIF "
                        f"({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})") from None
    if channels == 1:
        return np.asarray(Image.fromarray(rgb.transpose(1, 2, 0)).convert("L"))[..., None]
    return rgb.transpose(1, 2, 0)


_lock = threading.Lock()


@lru_cache(maxsize=8)
def _session(graph: str, mtime: float):
    return runtime.session(graph, threads=1)  # one image at a time: a second thread costs more than it saves


def encoder_for(gen: Generator) -> tuple[Encoder | None, str]:
    """(the model's encoder, "") when it has one made for these weights, else (None, why not)."""
    folder = gen.model.path
    graph, record_file = folder / ENCODER_GRAPH, folder / ENCODER_RECORD
    hint = BUILD_HINT.format(model=_handle(gen.model))
    if not graph.is_file() or not record_file.is_file():
        return None, f"{gen.model.name} has no encoder; {hint}"
    try:
        record = json.loads(record_file.read_text())
        made_for, graph_sha = record["generator_sha256"], record["graph_sha256"]
        shape = (int(record["nz"]), int(record["image_size"]), int(record["channels"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{record_file} is damaged; {hint.replace('build', 'rebuild')}"
    if made_for != gen.sha256 or shape != (gen.nz, gen.card.image_size, gen.card.channels):
        return None, f"{gen.model.name}'s encoder is stale (made for other weights); {hint.replace('build', 'rebuild')}"
    if sha256_file(graph) != graph_sha:
        return None, f"{graph} does not match {ENCODER_RECORD} (sha256 differs); {hint.replace('build', 'rebuild')}"
    try:
        with _lock:
            session = _session(str(graph), graph.stat().st_mtime)
    except UserError as e:  # a graph ONNX Runtime cannot load, named in one line
        return None, f"{e}; {hint.replace('build', 'rebuild')}"
    return Encoder(graph, record, session), ""


def _handle(model: catalog.ModelDir) -> str:
    """How to name the model on the command line: its name when that finds it, else its path."""
    try:
        return model.name if catalog.resolve(model.name).path == model.path else str(model.path)
    except UserError:
        return str(model.path)


# A projection is poor beyond this share of the gap between two of the model's own images: real images of the
# model's data land far below it, noise and blank images far above (measured in docs/projection.md).
POOR = 0.5
APART_PAIRS = 32  # seeded pairs of the model's images that give its scale


def apart(gen: Generator) -> float:
    """The median pixel MSE between two of the model's own images (seeds i and APART_PAIRS + i)."""
    lo, hi = gen.card.output_range
    x = (gen.raw(latent.z_batch(0, 2 * APART_PAIRS, gen.nz)) - lo) / (hi - lo)
    return float(np.median(((x[:APART_PAIRS] - x[APART_PAIRS:]) ** 2).mean((1, 2, 3))))


def errors(gen: Generator, z: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean squared pixel error (pixels in [0, 1]) of each z's image against target ((H, W, C) in [0, 1])."""
    lo, hi = gen.card.output_range
    x = (gen.raw(z) - lo) / (hi - lo)  # (n, C, H, W)
    return ((x - target.transpose(2, 0, 1)[None]) ** 2).mean((1, 2, 3))


def nearest_sample(gen: Generator, target: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """The nearest of seeds seed..seed+n-1 to target ((H, W, C) in [0, 1]): (its z, its error)."""
    z = latent.z_batch(seed, n, gen.nz)
    e = errors(gen, z, target)
    return z[int(np.argmin(e))], float(e.min())


def project(gen: Generator, image: np.ndarray, rounds: int = limits.PROJECT_ROUNDS_DEFAULT, seed: int = 0,
            use_encoder: bool = True) -> Projection:
    """The latent vector whose image is closest to `image` ((H, W, C) uint8 at the model's size and channels)."""
    t0 = time.perf_counter()
    target = image.astype(np.float32) / 255.0
    encoder, note = encoder_for(gen) if use_encoder else (None, "the encoder was not asked for")
    if encoder is not None:
        z0 = np.clip(encoder.encode(image[None])[0], limits.LATENT.lo, limits.LATENT.hi)
        e0 = float(errors(gen, z0[None], target)[0])
    else:
        z0, e0 = nearest_sample(gen, target, limits.PROJECT_SAMPLES)
    z, e, drawn = search(gen, target, z0, e0, rounds, seed)
    image_out = gen.images(z[None])[0]
    return Projection(z, image_out, e, e0, "encoder" if encoder else "random", note, rounds,
                      drawn + (0 if encoder else limits.PROJECT_SAMPLES), time.perf_counter() - t0, apart(gen))


def search(gen: Generator, target: np.ndarray, z0: np.ndarray, e0: float, rounds: int, seed: int = 0,
           population: int = limits.PROJECT_POPULATION) -> tuple[np.ndarray, float, int]:
    """A (mu/mu_w, lambda) evolution strategy with cumulative step-size adaptation (Hansen's CSA), seeded.

    Each round draws `population` vectors around the mean, moves the mean to the weighted best half and
    grows or shrinks the step by how far the mean keeps travelling in one direction. The best vector ever
    drawn is kept, so the result is never worse than z0. Returns (best z, its error, images drawn).
    """
    n, lam = len(z0), population
    mu = lam // 2
    w = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    w /= w.sum()
    mu_eff = 1.0 / float((w**2).sum())
    c_s = (mu_eff + 2) / (n + mu_eff + 5)
    d_s = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_s
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))  # E|N(0, I)|
    rng = np.random.default_rng(seed)
    mean, sigma, path = z0.astype(np.float32), SIGMA, np.zeros(n)
    best, best_e = mean.copy(), e0
    for _ in range(rounds):
        steps = rng.standard_normal((lam, n), dtype=np.float32)
        zs = np.clip(mean + sigma * steps, limits.LATENT.lo, limits.LATENT.hi)
        e = errors(gen, zs, target)
        order = np.argsort(e)
        if e[order[0]] < best_e:
            best, best_e = zs[order[0]].copy(), float(e[order[0]])
        step = w @ steps[order[:mu]]
        mean = np.clip(mean + sigma * step, limits.LATENT.lo, limits.LATENT.hi).astype(np.float32)
        path = (1 - c_s) * path + math.sqrt(c_s * (2 - c_s) * mu_eff) * step
        sigma *= math.exp((c_s / d_s) * (np.linalg.norm(path) / chi_n - 1))
    return best, best_e, rounds * lam


def vector(z: np.ndarray) -> Vector:
    """A vector that is not a seed's: every dimension written, so its recipe and the studio hold z exactly."""
    return Vector.edited(0, 1.0, len(z), {d: float(x) for d, x in enumerate(z)}, {}, {})
