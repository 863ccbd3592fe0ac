"""Distances between two sets of feature vectors, in numpy (float32, chunked: no per-sample Python loop).

    FD         Fréchet distance of Gaussians fitted to each set (FID when the features are Inception's)
    KID        unbiased MMD^2 over every pair, kernel (x.y / d + 1)^3 on features standardised by the
               reference's mean and scale, with its standard error
    precision  share of generated samples inside the real k-NN manifold (Kynkäänniemi et al. 2019, k=3)
    recall     share of real samples inside the generated k-NN manifold (Kynkäänniemi et al. 2019, k=3)
    density    how many real k-NN balls hold each generated sample, over k (Naeem et al. 2020, k=5; ~1 for real)
    coverage   share of real samples whose k-NN ball holds a generated sample (Naeem et al. 2020, k=5)

FD is biased by the sample count and KID is not; both are printed beside a real-vs-real baseline at the
same count, so the bias cancels from the comparison a user makes.

KID's cubic kernel was made for features of about unit scale: on raw features of scale s it weighs pairs
by s^6, so a few large vectors decide the figure and its noise swamps it. Centring on the reference's
mean and dividing by its RMS spread per dimension (one number: the geometry is left as FD sees it) makes
KID independent of the features' units. The estimate uses every pair of the two sets (the subsets of
Binkowski et al. estimate the same expectation with more noise), and its standard error is the
first-order (Hoeffding) term of a two-sample U-statistic's variance, from each row's kernel means.

The passes split into chunks of rows that run on every core at once, each with a single-threaded BLAS:
the element-wise work between the matrix products (comparisons, minima, cubes) is single-threaded in
numpy, and would otherwise leave the other cores idle. Each chunk's numbers do not depend on how many run
at once, so the figures are the same on any machine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

K_PR = 3  # neighbours defining a manifold for precision and recall (Kynkäänniemi et al. 2019)
K_DC = 5  # neighbours defining the balls of density and coverage (Naeem et al. 2020)
K = {"precision": K_PR, "recall": K_PR, "density": K_DC, "coverage": K_DC}  # what eval.json and the report state
CHUNK = 1024  # rows of a distance matrix computed at once: 1024 x 10,000 float32 is 40 MB


T, R = TypeVar("T"), TypeVar("R")


def _chunks(n: int) -> Iterator[slice]:
    for i in range(0, n, CHUNK):
        yield slice(i, min(i + CHUNK, n))


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 16),
                              thread_name_prefix="eval-metrics")


def parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """[fn(item) for item in items], the items spread over the cores, BLAS on one thread in each."""
    with threadpool_limits(1, user_api="blas"):
        return list(_pool().map(fn, items))


def sq_distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) as |a|^2 + |b|^2 - 2ab: one matrix product."""
    d = _partial_sq(a, b, b_sq)
    d += (a * a).sum(1)[:, None]
    return np.maximum(d, 0.0, out=d)


def _partial_sq(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray | None = None) -> np.ndarray:
    """|b|^2 - 2ab, in place on the product: squared distances less each row's constant |a|^2, which a
    search along rows (nearest, k-th nearest) adds to the few values it keeps instead of the whole matrix."""
    d = (a * np.float32(-2.0)) @ b.T
    d += (b * b).sum(1) if b_sq is None else b_sq
    return d


def nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a: (the index of its nearest row of b, the squared distance to it). The distance is
    taken from the difference of the two rows, so an exact duplicate is at exactly 0 (the product form
    leaves rounding of |a|^2 in it)."""
    b_sq = (b * b).sum(1)
    idx, dist = np.empty(len(a), np.int64), np.empty(len(a), np.float32)

    def one(s: slice) -> None:
        idx[s] = _partial_sq(a[s], b, b_sq).argmin(1)
        diff = a[s] - b[idx[s]]
        dist[s] = (diff * diff).sum(1)

    parallel(one, list(_chunks(len(a))))
    return idx, dist


def kth_radii(x: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """(len(x), len(ks)): squared distance from each row of x to its k-th nearest other row (itself
    excluded), for each k in ks."""
    x_sq = (x * x).sum(1)
    radii = np.empty((len(x), len(ks)), np.float32)
    kth = [k - 1 for k in ks]

    def one(s: slice) -> None:
        d = _partial_sq(x[s], x, x_sq)
        d[np.arange(len(d)), np.arange(s.start, s.stop)] = np.inf  # a point is not its own neighbour
        radii[s] = np.partition(d, kth, axis=1)[:, kth] + x_sq[s, None]

    parallel(one, list(_chunks(len(x))))
    return np.maximum(radii, 0.0, out=radii)


def manifold(real: np.ndarray, fake: np.ndarray, r_real: np.ndarray) -> dict[str, float]:
    """Precision, recall (k = K_PR), density and coverage (k = K_DC) of `fake` against `real`.
    r_real: real's kth_radii(real, (K_PR, K_DC))."""
    real, fake = _f32(real), _f32(fake)
    pr_real, dc_real = r_real[:, 0], r_real[:, 1]
    r_fake = kth_radii(fake, (K_PR,))[:, 0]
    real_sq = (real * real).sum(1)
    inside_real = np.empty(len(fake), bool)  # fake j lies in some real k=3 ball: precision

    def one(s: slice) -> tuple[int, np.ndarray, np.ndarray]:
        """This chunk of fakes' share: (real k=5 balls holding them, reals they recall, each real's nearest of them)."""
        d = sq_distances(fake[s], real, real_sq)  # (chunk of fakes, reals)
        inside_real[s] = (d <= pr_real[None, :]).any(1)
        return np.count_nonzero(d <= dc_real[None, :]), (d <= r_fake[s, None]).any(0), d.min(0)

    parts = parallel(one, list(_chunks(len(fake))))
    balls = sum(b for b, _, _ in parts)  # sum over fakes of the real balls holding it: density
    recalled = np.logical_or.reduce([r for _, r, _ in parts])  # real i lies in some fake ball: recall
    nearest_fake = np.minimum.reduce([m for _, _, m in parts])  # real i's nearest fake: coverage
    return {
        "precision": float(inside_real.mean()),
        "recall": float(recalled.mean()),
        "density": balls / (K_DC * len(fake)),
        "coverage": float((nearest_fake <= dc_real).mean()),
    }


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of the rows of x."""
    x = np.asarray(x, np.float64)
    return x.mean(0), np.cov(x, rowvar=False)


def frechet(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)).

    tr (C1 C2)^(1/2) is the sum of square roots of the eigenvalues of C1^(1/2) C2 C1^(1/2), a symmetric PSD
    matrix: two symmetric eigendecompositions, stable where a general matrix square root goes complex.
    """
    w, v = np.linalg.eigh(cov1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ cov2 @ root1
    tr_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_root)


def _cube_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a.b / d + 1)^3 for every pair, float32, in place on the product."""
    k = (a * np.float32(1.0 / a.shape[1])) @ b.T
    k += 1
    cube = k * k
    cube *= k
    return cube


def kernel_sums(x: np.ndarray, y: np.ndarray, same: bool) -> tuple[np.ndarray, np.ndarray]:
    """(each row of x's kernel sum over y, each row of y's kernel sum over x), float64; with `same` (x is y)
    the pairs of a row with itself are left out."""
    def one(s: slice) -> tuple[np.ndarray, np.ndarray]:
        k = _cube_kernel(x[s], y)
        if same:
            k[np.arange(len(k)), np.arange(s.start, s.stop)] = 0.0
        return k.sum(1, dtype=np.float64), k.sum(0, dtype=np.float64)

    parts = parallel(one, list(_chunks(len(x))))
    return np.concatenate([r for r, _ in parts]), np.sum([c for _, c in parts], axis=0)


def kid(real_rows: np.ndarray, real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """(unbiased MMD^2, its standard error) of standardised `real` and `fake` under the cubic kernel.
    real_rows: kernel_sums(real, real, same=True)[0], which depends on the reference only."""
    n, m = len(real), len(fake)
    fake_rows = kernel_sums(fake, fake, same=True)[0]
    cross_real, cross_fake = kernel_sums(real, fake, same=False)
    value = real_rows.sum() / (n * (n - 1)) + fake_rows.sum() / (m * (m - 1)) - 2 * cross_real.sum() / (n * m)
    # the estimate's projections onto one real / one fake sample: Var ~ 4 Var(a) / n + 4 Var(b) / m
    a = real_rows / (n - 1) - cross_real / m
    b = fake_rows / (m - 1) - cross_fake / n
    return float(value), float(np.sqrt(4 * a.var(ddof=1) / n + 4 * b.var(ddof=1) / m))


class Reference:
    """A real feature set scored against: what every comparison with it shares is computed once (its
    Gaussian, its k-NN radii for k = K_PR and K_DC, KID's standardisation and its within-set kernel sums).

    arrays() and from_arrays() carry that work to disk and back (eval.realside caches it per dataset)."""

    def __init__(self, real: np.ndarray, radii: np.ndarray | None = None, kid_rows: np.ndarray | None = None):
        self.real = _f32(real)
        self.gaussian = gaussian(self.real)
        mean, cov = self.gaussian
        self.centre, self.scale = mean, float(np.sqrt(max(np.trace(cov) / len(mean), 1e-12)))
        self.radii = kth_radii(self.real, (K_PR, K_DC)) if radii is None else _f32(radii)
        self.std = self.standardised(self.real)
        self.kid_rows = kernel_sums(self.std, self.std, same=True)[0] if kid_rows is None else np.asarray(kid_rows, np.float64)

    def standardised(self, x: np.ndarray) -> np.ndarray:
        """x centred on the reference's mean and divided by its RMS spread per dimension: KID's input."""
        return _f32((np.asarray(x, np.float64) - self.centre) / self.scale)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything this reference computed, as plain arrays."""
        return {"real": self.real, "radii": self.radii, "kid_rows": self.kid_rows}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "Reference":
        return cls(a["real"], radii=a["radii"], kid_rows=a["kid_rows"])

    def compare(self, fake: np.ndarray) -> dict[str, float]:
        """Every distance above, of `fake` from this reference."""
        fake = _f32(fake)
        kid_value, kid_se = kid(self.kid_rows, self.std, self.standardised(fake))
        return {"fd": frechet(*self.gaussian, *gaussian(fake)), "kid": kid_value, "kid_se": kid_se,
                **manifold(self.real, fake, self.radii)}


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)
