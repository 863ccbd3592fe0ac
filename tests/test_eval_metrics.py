"""The distances eval reports, checked against closed forms and brute force on data whose answer is known."""

import math

import numpy as np
import pytest

from ganstudio.eval import copying, metrics


def gaussian_sets(n: int, d: int = 16, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d), dtype=np.float32), (rng.standard_normal((n, d), dtype=np.float32) + shift)


def test_frechet_agrees_with_the_closed_form_between_two_known_gaussians():
    rng = np.random.default_rng(1)
    d = 6
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = rng.uniform(0.2, 3.0, d), rng.uniform(0.2, 3.0, d)
    # diagonal covariances commute: tr sqrt(C1 C2) = sum sqrt(s1 s2)
    closed = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))  # the same rotation of both leaves the distance alone
    rotated = metrics.frechet(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T)
    assert rotated == pytest.approx(closed, rel=1e-9)
    assert metrics.frechet(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(0.0, abs=1e-9)


def test_frechet_matches_a_general_matrix_square_root_on_non_commuting_covariances():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((8, 8)), rng.standard_normal((8, 8))
    c1, c2 = a @ a.T + 0.1 * np.eye(8), b @ b.T + 0.1 * np.eye(8)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    reference = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy_linalg.sqrtm(c1 @ c2).real)
    assert metrics.frechet(mu1, c1, mu2, c2) == pytest.approx(reference, rel=1e-8)


def test_fd_of_samples_approaches_the_closed_form():
    real, fake = gaussian_sets(20_000, d=8, shift=0.5)
    assert metrics.fd(real, fake) == pytest.approx(8 * 0.25, rel=0.05)


def test_real_against_real_is_near_zero_and_near_the_maximum():
    real, other = gaussian_sets(2000)
    ref = metrics.Reference(real, seed=0, subsets=20, size=500)
    same = ref.score(other)
    assert same["fd"] < 0.2  # vs 16 * 1.0 for a one-sigma shift in every dimension
    assert abs(same["kid"]) < 3 * same["kid_std"] + 1e-3
    # Naeem et al.: for two samples of one distribution, E[density] = 1 and E[coverage] = 1 - 2^-k at equal sizes
    assert same["density"] == pytest.approx(1.0, abs=0.05)
    assert same["coverage"] == pytest.approx(1 - 0.5**metrics.K, abs=0.03)
    assert same["precision"] == pytest.approx(same["recall"], abs=0.04)  # the two sets are exchangeable
    shifted = ref.score(gaussian_sets(2000, shift=1.0, seed=5)[1])
    assert shifted["fd"] > 100 * same["fd"] and shifted["kid"] > 10 * same["kid_std"]
    for key in ("precision", "recall", "density", "coverage"):
        assert shifted[key] < same[key] / 2, key


def test_kid_is_unbiased_where_fd_is_not():
    # two sets from one distribution: FD shrinks with n (bias ~ d/n); KID's mean stays at 0 within its spread
    fds, kids = [], []
    for n in (200, 2000):
        real, other = gaussian_sets(n, d=32, seed=n)
        fds.append(metrics.fd(real, other))
        kids.append(metrics.Reference(real, seed=0, subsets=20, size=500).kid(other))
    assert fds[0] > 5 * fds[1]
    for mean, std in kids:
        assert abs(mean) < 3 * std


def brute_manifold(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=2)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=2)
    r_real, r_fake = np.sort(d_rr, 1)[:, k], np.sort(d_ff, 1)[:, k]  # column 0 is the point itself
    return {
        "precision": float((d_fr <= r_real[None]).any(1).mean()),
        "recall": float((d_fr <= r_fake[:, None]).any(0).mean()),
        "density": float((d_fr <= r_real[None]).sum() / (k * len(fake))),
        "coverage": float((d_fr.min(0) <= r_real).mean()),
    }


def test_manifold_measures_match_brute_force(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK", 7)  # several chunks, one of them ragged
    real, fake = gaussian_sets(60, d=5, shift=0.7)
    got, want = metrics.manifold(real, fake), brute_manifold(real.astype(np.float64), fake.astype(np.float64), metrics.K)
    assert got == pytest.approx(want, abs=1 / 60 + 1e-9)  # float32 vs float64 may move one point across a radius


def test_nearest_finds_the_nearest_row(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK", 5)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((23, 4), dtype=np.float32), rng.standard_normal((40, 4), dtype=np.float32)
    idx, dist = metrics.nearest(a, b)
    full = ((a[:, None] - b[None]) ** 2).sum(2)
    assert (idx == full.argmin(1)).all()
    assert dist == pytest.approx(full.min(1), abs=1e-5)


def test_z_u_matches_the_mann_whitney_normal_approximation():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(300), rng.standard_normal(400) + 0.5
    x[:20] = y[:20]  # ties
    u = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=False).statistic
    m, n = len(x), len(y)
    # scipy corrects the variance for ties; with 20 ties out of 700 that is far below this tolerance
    assert copying.z_u(x, y) == pytest.approx((u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12), rel=1e-3)
    assert copying.z_u(x, y) < -2 and copying.z_u(y, x) > 2


def test_partition_finds_well_separated_clusters_and_is_seeded():
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    train = (centres[rng.integers(0, 4, 2000)] + rng.standard_normal((2000, 2))).astype(np.float32)
    found = copying.partition(train, 4 * copying.HELD_PER_CELL, seed=0)
    assert len(found) == 4
    assert np.abs(np.sort(found, 0) - np.sort(centres, 0)).max() < 0.3
    assert np.array_equal(found, copying.partition(train, 4 * copying.HELD_PER_CELL, seed=0))
    assert len(copying.partition(train, 10**6, seed=0)) == copying.MAX_CELLS and len(copying.partition(train, 3, seed=0)) == 1
    assert (copying.cell_of(centres, found) != copying.cell_of(centres[::-1], found)).all()  # four cells, one each


def test_c_t_compares_within_cells_and_weights_them_by_their_held_out_images():
    rng = np.random.default_rng(6)
    # cell 0 is dense (small distances), cell 1 sparse; the fakes crowd into cell 0 but match it there
    held = np.concatenate([rng.uniform(0, 1, 300), rng.uniform(5, 6, 100)])
    held_cell = np.repeat([0, 1], [300, 100])
    fake = np.concatenate([rng.uniform(0, 1, 380), rng.uniform(5, 6, 20)])
    fake_cell = np.repeat([0, 1], [380, 20])
    cells = copying.tested_cells(fake_cell, held_cell)
    assert cells == [0, 1]
    assert copying.z_u(fake, held) < -3  # over all images the crowding looks like copying
    assert abs(copying.c_t(fake, held, fake_cell, held_cell, cells)) < 2.5
    z0, z1 = copying.z_u(fake[:380], held[:300]), copying.z_u(fake[380:], held[300:])
    assert copying.c_t(fake, held, fake_cell, held_cell, cells) == pytest.approx((300 * z0 + 100 * z1) / 400)
    # a cell with fewer than CELL_MIN fakes is not tested; with none tested C_T is Z_U over all images
    assert copying.tested_cells(np.zeros(400, int), held_cell) == [0]
    assert copying.c_t(fake, held, fake_cell, held_cell, []) == copying.z_u(fake, held)


def test_both_ways_of_summing_kernels_over_subsets_agree():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((120, 8), dtype=np.float32), rng.standard_normal((90, 8), dtype=np.float32) + 0.3
    rows = np.stack([rng.choice(120, 80, replace=False) for _ in range(20)])
    cols = np.stack([rng.choice(90, 80, replace=False) for _ in range(20)])
    one_by_one = [metrics._cube_kernel(x[r], y[c]).sum(dtype=np.float64) for r, c in zip(rows, cols)]
    within = [(lambda k: k.sum(dtype=np.float64) - np.trace(k, dtype=np.float64))(metrics._cube_kernel(x[r], x[r])) for r in rows]
    # 20 subsets of 80 from ~100 overlap heavily: the membership product is taken
    assert 20 * 80 * 80 * 8 > 120 * 90 * (8 + 40)
    assert metrics.subset_sums(x, y, rows, cols, same=False) == pytest.approx(one_by_one, rel=1e-5)
    assert metrics.subset_sums(x, x, rows, rows, same=True) == pytest.approx(within, rel=1e-5)
    big = np.concatenate([x] * 30)  # 3,600 rows: now subset by subset is cheaper, and must give the same
    assert 20 * 80 * 80 * 8 <= len(big) * len(big) * (8 + 40)
    assert metrics.subset_sums(big, big, rows, rows, same=True) == pytest.approx(within, rel=1e-5)


def test_the_figures_do_not_depend_on_how_many_cores_share_the_passes(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(metrics, "CHUNK", 64)
    real, fake = gaussian_sets(700, d=12, shift=0.3)

    def figures() -> tuple:
        ref = metrics.Reference(real, seed=0, subsets=10, size=200)
        scores, nearest = ref.compare(fake)
        return scores, nearest, metrics.nearest(fake, real), ref.radii

    runs = []
    for workers in (1, 3):
        monkeypatch.setattr(metrics, "_pool", lambda w=workers: ThreadPoolExecutor(w))
        runs.append(figures())
    (s1, n1, (i1, d1), r1), (s3, n3, (i3, d3), r3) = runs
    assert s1 == s3
    for a, b in ((n1, n3), (i1, i3), (d1, d3), (r1, r3)):
        assert np.array_equal(a, b)
