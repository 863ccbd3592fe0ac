"""Distances between two sets of feature vectors, in numpy (float32, chunked: no per-sample Python loop).

    FD         Fréchet distance of Gaussians fitted to each set (FID when the features are Inception's)
    KID        unbiased MMD^2 under the kernel (x.y / d + 1)^3, mean and spread over random subsets
    precision  share of generated samples inside the real k-NN manifold (Kynkäänniemi et al. 2019, k=3)
    recall     share of real samples inside the generated k-NN manifold
    density    how many real k-NN balls hold each generated sample, over k (Naeem et al. 2020; ~1 for real)
    coverage   share of real samples whose k-NN ball holds a generated sample (Naeem et al. 2020)

FD is biased by the sample count and KID is not; both are printed beside a real-vs-real baseline at the
same count, so the bias cancels from the comparison a user makes.

The passes split into chunks (of rows, or KID subsets) that run on every core at once, each with a
single-threaded BLAS: the element-wise work between the matrix products (comparisons, minima, cubes) is
single-threaded in numpy, and would otherwise leave the other cores idle. Each chunk's numbers do not
depend on how many run at once, so the figures are the same on any machine.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

K = 3  # neighbours defining a manifold (both papers' choice)
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # as in Binkowski et al. and the public implementations
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
    """For each row of a: (the index of its nearest row of b, the squared distance to it)."""
    b_sq = (b * b).sum(1)
    idx, dist = np.empty(len(a), np.int64), np.empty(len(a), np.float32)

    def one(s: slice) -> None:
        d = _partial_sq(a[s], b, b_sq)
        idx[s] = d.argmin(1)
        dist[s] = d[np.arange(len(d)), idx[s]] + (a[s] * a[s]).sum(1)

    parallel(one, list(_chunks(len(a))))
    return idx, np.maximum(dist, 0.0, out=dist)


def kth_radii(x: np.ndarray, k: int = K) -> np.ndarray:
    """Squared distance from each row of x to its k-th nearest other row (itself excluded)."""
    x_sq = (x * x).sum(1)
    radii = np.empty(len(x), np.float32)

    def one(s: slice) -> None:
        d = _partial_sq(x[s], x, x_sq)
        d[np.arange(len(d)), np.arange(s.start, s.stop)] = np.inf  # a point is not its own neighbour
        radii[s] = np.partition(d, k - 1, axis=1)[:, k - 1] + x_sq[s]

    parallel(one, list(_chunks(len(x))))
    return np.maximum(radii, 0.0, out=radii)


def manifold(real: np.ndarray, fake: np.ndarray, k: int = K, r_real: np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, density and coverage of `fake` against `real` (r_real: real's k-NN radii, when
    already known)."""
    return manifold_and_nearest(real, fake, k, r_real)[0]


def manifold_and_nearest(
    real: np.ndarray, fake: np.ndarray, k: int = K, r_real: np.ndarray | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """manifold()'s scores, and each fake's squared distance to its nearest real row, from one pass over
    their distances (the copying test needs those distances: searching them again would double the work)."""
    real, fake = _f32(real), _f32(fake)
    r_real = kth_radii(real, k) if r_real is None else r_real
    r_fake = kth_radii(fake, k)
    real_sq = (real * real).sum(1)
    inside_real = np.empty(len(fake), bool)  # fake j lies in some real ball: precision
    nearest_real = np.empty(len(fake), np.float32)  # fake j's nearest real: the copying test

    def one(s: slice) -> tuple[int, np.ndarray, np.ndarray]:
        """This chunk of fakes' share: (real balls holding them, reals they recall, each real's nearest of them)."""
        d = sq_distances(fake[s], real, real_sq)  # (chunk of fakes, reals)
        in_real = d <= r_real[None, :]
        inside_real[s] = in_real.any(1)
        nearest_real[s] = d.min(1)
        return np.count_nonzero(in_real), (d <= r_fake[s, None]).any(0), d.min(0)

    parts = parallel(one, list(_chunks(len(fake))))
    balls = sum(b for b, _, _ in parts)  # sum over fakes of the real balls holding it: density
    recalled = np.logical_or.reduce([r for _, r, _ in parts])  # real i lies in some fake ball: recall
    nearest_fake = np.minimum.reduce([m for _, _, m in parts])  # real i's nearest fake: coverage
    scores = {
        "precision": float(inside_real.mean()),
        "recall": float(recalled.mean()),
        "density": balls / (k * len(fake)),
        "coverage": float((nearest_fake <= r_real).mean()),
    }
    return scores, nearest_real


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


def fd(real: np.ndarray, fake: np.ndarray) -> float:
    return frechet(*gaussian(real), *gaussian(fake))


def _cube_kernel(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """(a.b / d + 1)^3 for every pair (b None: a with itself, by the symmetric product), float32, in place."""
    scale = np.float32(a.shape[1] ** -0.5)
    a = a * scale
    k = a @ (a if b is None else b * scale).T
    k += 1
    cube = k * k
    cube *= k
    return cube


def subset_sums(x: np.ndarray, y: np.ndarray, rows: np.ndarray, cols: np.ndarray, same: bool) -> np.ndarray:
    """For each subset s: the kernel summed over pairs (x[rows[s]], y[cols[s]]), off the diagonal when `same`
    (x is y, rows is cols). rows, cols: (subsets, m) indices without repeats.

    Two ways, the cheaper one taken: subset by subset (subsets x m^2 kernel values), or every pair once and
    the subsets summed by a product with their 0/1 membership (n_x n_y values), which wins once subsets
    overlap a lot (n below ~10 m). Float32 kernels, float64 sums either way.
    """
    n_sub, m = rows.shape
    d = x.shape[1]
    if n_sub * m * m * d <= len(x) * len(y) * (d + 2 * n_sub):
        def one(i: int) -> float:
            k = _cube_kernel(x[rows[i]], None if same else y[cols[i]])
            return k.sum(dtype=np.float64) - (np.trace(k, dtype=np.float64) if same else 0.0)

        return np.array(parallel(one, range(n_sub)))
    member_x, member_y = np.zeros((len(x), n_sub)), np.zeros((len(y), n_sub))
    member_x[rows, np.arange(n_sub)[:, None]] = 1.0
    member_y[cols, np.arange(n_sub)[:, None]] = 1.0
    total = np.sum(parallel(lambda s: ((member_x[s].T @ _cube_kernel(x[s], y).astype(np.float64)) * member_y.T).sum(1),
                            list(_chunks(len(x)))), axis=0)
    if same:  # k(x_i, x_i), which each subset counted once per member
        diagonal = ((x.astype(np.float64) ** 2).sum(1) / d + 1) ** 3
        total -= member_x.T @ diagonal
    return total


class Reference:
    """A real feature set scored against: what every comparison with it shares is computed once
    (its Gaussian, its k-NN radii, its KID subsets and their within-set kernel sums).

    arrays() and from_arrays() carry that work to disk and back (eval.realside caches it per dataset)."""

    def __init__(self, real: np.ndarray, seed: int, subsets: int = KID_SUBSETS, size: int = KID_SUBSET_SIZE,
                 radii: np.ndarray | None = None):
        self.real, self.seed, self.subsets, self.size = _f32(real), seed, subsets, size
        self.gaussian = gaussian(self.real)
        self.radii = kth_radii(self.real) if radii is None else _f32(radii)
        self._within: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def subset_size(self, n_fake: int) -> int:
        """KID's subset size against n_fake samples: below both set sizes, so that subsets differ."""
        return min(self.size, len(self.real) // 2, n_fake // 2)

    def arrays(self, n_fake: int) -> dict[str, np.ndarray]:
        """Everything this reference computed for comparisons with n_fake samples, as plain arrays."""
        rows, within = self._real_subsets(self.subset_size(n_fake))
        return {"real": self.real, "radii": self.radii, "kid_rows": rows, "kid_within": within,
                "kid_settings": np.array([self.seed, self.subsets, self.size])}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "Reference":
        seed, subsets, size = (int(v) for v in a["kid_settings"])
        ref = cls(a["real"], seed, subsets, size, radii=a["radii"])
        rows = np.asarray(a["kid_rows"], np.int64)
        ref._within[rows.shape[1]] = rows, np.asarray(a["kid_within"], np.float64)
        return ref

    def _real_subsets(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices (subsets, m), within-set kernel sums) of the real subsets of size m, drawn from the seed."""
        if m not in self._within:
            rng = np.random.default_rng(self.seed)
            rows = np.stack([rng.choice(len(self.real), m, replace=False) for _ in range(self.subsets)])
            self._within[m] = rows, subset_sums(self.real, self.real, rows, rows, same=True)
        return self._within[m]

    def kid(self, fake: np.ndarray) -> tuple[float, float]:
        """(mean, standard deviation) of the unbiased MMD^2 over random pairs of subsets of `size`."""
        fake = _f32(fake)
        m = self.subset_size(len(fake))
        rows, real_within = self._real_subsets(m)
        rng = np.random.default_rng(self.seed + 1)
        cols = np.stack([rng.choice(len(fake), m, replace=False) for _ in range(self.subsets)])
        within = (real_within + subset_sums(fake, fake, cols, cols, same=True)) / (m * (m - 1))
        values = within - 2 * subset_sums(self.real, fake, rows, cols, same=False) / (m * m)
        return float(values.mean()), float(values.std())

    def score(self, fake: np.ndarray) -> dict[str, float]:
        """Every distance above, of `fake` from this reference."""
        return self.compare(fake)[0]

    def compare(self, fake: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """score(), and each fake's squared distance to its nearest reference row."""
        kid_mean, kid_std = self.kid(fake)
        shape, nearest_real = manifold_and_nearest(self.real, fake, r_real=self.radii)
        return {"fd": frechet(*self.gaussian, *gaussian(fake)), "kid": kid_mean, "kid_std": kid_std, **shape}, nearest_real


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)
