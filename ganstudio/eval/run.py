"""`evaluate`: a generator's samples against its dataset, each figure beside its real-vs-real baseline.

    real reference   n images from the training part of the data (eval.split), chosen by the seed
    generated        n samples, seeds seed..seed+n-1 (as `ganstudio sample` draws them)
    baseline         n held-out real images scored against the same reference, the same way

n is capped by the held-out part (at most 10,000), and both sets are always the same size, so FD's
small-sample bias is the same on both sides of the comparison. Torch-free: the generator may be any object
with `nz` and `images(z) -> (n, H, W, C) uint8` (a runtime.Generator, or the training loop's sampler).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ganstudio.data import datasets
from ganstudio.errors import UserError
from ganstudio.eval import classes, copying, features, inception, latent_space, metrics, realside, split
from ganstudio.explore import latent

MAX_N = 10_000
MIN_N = 50  # below this k-NN manifolds and covariances say nothing
FORMAT = 3  # eval.json's layout: 3 has Meehan's C_T in each space's own cells, KID with its standard error
# and k = 5 for density and coverage; older files are read as no eval
GEN_CHUNK = 500


class Source(Protocol):
    @property
    def nz(self) -> int: ...

    def images(self, z: np.ndarray) -> np.ndarray: ...  # (n, nz) float32 -> (n, H, W, C) uint8


@dataclass
class Result:
    """Everything eval.json holds (see to_dict)."""

    model_sha256: str
    dataset: str
    n: int
    seed: int
    sizes: dict[str, int]  # training part, held-out part, reference / generated / held-out sets used
    space: dict[str, Any]  # the feature net: name, kind, what, feature layer, held-out accuracy, sha256
    metrics: dict[str, float]  # generated vs reference
    k: dict[str, int]  # the neighbours each k-NN measure used (metrics.K)
    baseline: dict[str, float]  # held-out real vs reference: what a perfect generator would score
    classes: dict[str, Any] | None = None  # ClassCoverage.to_dict() on labelled data
    baseline_unrecognisable: float | None = None  # share of held-out real images the classifier cannot place
    memorisation: dict[str, Any] | None = None  # Copying.to_dict(), pair indices into the dataset
    seconds: dict[str, float] = field(default_factory=dict)  # generate, featurise, metrics (the samples'); real_side
    held_out_seen: bool | None = None  # whether the generator trained on the held-out images (None: unknown)
    real_side: str | None = None  # "computed" at the dataset's first eval, else read from the "cache" (eval.realside)
    latent_space: dict[str, Any] | None = None  # LatentSpace.to_dict(): dimensions that matter, path length

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Result":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__ if k in d})

    @property
    def class_coverage(self) -> classes.ClassCoverage | None:
        return classes.ClassCoverage.from_dict(self.classes) if self.classes else None

    @property
    def copying(self) -> copying.Copying | None:
        return copying.Copying.from_dict(self.memorisation) if self.memorisation else None


@dataclass
class _Clock:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.seconds[what] = round(self.seconds.get(what, 0.0) + time.perf_counter() - t0, 3)


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None, size: int) -> datasets.Dataset:
    return datasets.load(name, data_dir, size)


def generate(gen: Source, z: np.ndarray, tick: Callable[[int], None] = lambda k: None) -> np.ndarray:
    """The samples of latents z (n, nz), as uint8 (n, C, H, W)."""
    out = []
    for i in range(0, len(z), GEN_CHUNK):
        out.append(gen.images(z[i : i + GEN_CHUNK]).transpose(0, 3, 1, 2))
        tick(len(out[-1]))
    return np.ascontiguousarray(np.concatenate(out))


def check_n(n: int) -> None:
    if not MIN_N <= n <= MAX_N:
        raise UserError(f"--n {n} is out of range: use {MIN_N}..{MAX_N:,}")


def evaluate(
    generator: Source,
    dataset_name: str,
    n: int = 5000,
    seed: int = 0,
    data_dir: str | None = None,
    feature_net: str | None = None,
    memorisation: bool = True,
    measure_latent: bool = False,
    model_sha256: str = "",
    held_out_seen: bool | None = None,
    tick: Callable[[str, int], None] = lambda stage, k: None,
    warn: Callable[[str], None] = lambda message: None,
) -> Result:
    """Score n samples of `generator` against `dataset_name` (see the module docstring).

    feature_net: an ONNX file, or "inception" (eval.inception) (default: the dataset's shipped net); memorisation: also run the copying
    test (the slowest part); measure_latent: also measure the latent space (eval.latent_space: the generator must be a
    loaded model, whose float output it reads); tick(stage, k): progress, k units of "generate", "featurise" or
    "metrics" ("n": the n used); warn(message): told when the real side cannot be cached.
    """
    check_n(n)
    probe = generator.images(latent.z_batch(seed, 1, generator.nz))  # (1, H, W, C)
    size, channels = probe.shape[1], probe.shape[3]
    ds = _dataset(dataset_name, data_dir, size)
    if ds.channels != channels:
        raise UserError(f"the generator draws {channels}-channel images but {dataset_name} has {ds.channels}")
    net = (inception.net() if feature_net == inception.NAME else features.user(feature_net) if feature_net
           else features.for_dataset(dataset_name))
    train_idx, held_idx = split.split(dataset_name, len(ds.images))
    n = min(n, len(train_idx), len(held_idx))
    if n < MIN_N:
        raise UserError(f"{dataset_name} has too few images to evaluate ({len(ds.images)}); it needs {2 * MIN_N}")
    tick("n", n)
    rng = np.random.default_rng(seed)
    ref_idx = np.sort(rng.choice(train_idx, n, replace=False))
    held_sel = np.sort(rng.choice(held_idx, n, replace=False))
    extra_idx = np.setdiff1d(train_idx, ref_idx)  # the copying test searches every training image
    mem_idx = np.concatenate([ref_idx, extra_idx])
    clock = _Clock()
    parts = {"reference": ds.images[ref_idx], "held_out": ds.images[held_sel]}
    if memorisation:
        parts["extra"] = ds.images[extra_idx]
        train_px = copying.pixels(ds.images[mem_idx])

    def real_side() -> realside.RealSide:
        return realside.compute(net, parts["reference"], parts["held_out"], parts.get("extra"),
                                train_px if memorisation else None,
                                copying.pixels(parts["held_out"]) if memorisation else None, seed, tick)

    with clock("generate"):
        fake = generate(generator, latent.z_batch(seed, n, generator.nz), lambda k: tick("generate", k))
    with clock("featurise"):
        fake_f, fake_logits = net.run(fake)
        tick("featurise", n)
    with clock("real_side"):  # generator-independent: computed at a dataset's first eval, then read back
        real, source = realside.get(net, parts, f"seed {seed} memorisation {memorisation}", real_side, warn)
        if source == "cache":
            tick("featurise", 2 * n)
    with clock("metrics"):
        scores = real.reference.compare(fake_f)
        tick("metrics", 1)
        coverage, unrecognisable = None, None
        if fake_logits is not None and ds.labels is not None and dataset_name in classes.CLASS_NAMES:
            names = classes.CLASS_NAMES[dataset_name]
            coverage = classes.measure(fake_logits, names, ds.labels[train_idx]).to_dict()
            unrecognisable = classes.measure(real.held_logits, names, ds.labels[train_idx]).unrecognisable
        copied = None
        if memorisation:
            train_f = real.reference.real if real.extra_f is None else np.concatenate([real.reference.real, real.extra_f])
            found = copying.measure(fake_f, copying.pixels(fake), train_f, train_px, real.copy_f, real.copy_px)
            copied = found.to_dict()
            copied["pairs"] = [(i, int(mem_idx[j])) for i, j in found.pairs]  # dataset indices
        tick("metrics", 1)
    space = None
    if measure_latent:
        with clock("latent_space"):
            space = latent_space.measure(generator, lambda x: net.run(x)[0], seed).to_dict()  # type: ignore[arg-type]
    return Result(
        model_sha256=model_sha256, dataset=dataset_name, n=n, seed=seed,
        sizes={"training_part": len(train_idx), "held_out_part": len(held_idx), "reference": n, "generated": n,
               "held_out": n, "memorisation_search": len(mem_idx) if memorisation else 0},
        space=net.space, metrics=_rounded(scores), k=dict(metrics.K), baseline=_rounded(real.baseline), classes=coverage,
        baseline_unrecognisable=unrecognisable, memorisation=copied, seconds=clock.seconds, held_out_seen=held_out_seen,
        real_side=source, latent_space=space,
    )


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.6g}") for k, v in d.items()}
