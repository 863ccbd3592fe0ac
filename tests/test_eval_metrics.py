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


def fd(real: np.ndarray, fake: np.ndarray) -> float:
    return metrics.frechet(*metrics.gaussian(real), *metrics.gaussian(fake))


def test_fd_of_samples_approaches_the_closed_form():
    real, fake = gaussian_sets(20_000, d=8, shift=0.5)
    assert fd(real, fake) == pytest.approx(8 * 0.25, rel=0.05)


def test_real_against_real_is_near_zero_and_near_the_maximum():
    real, other = gaussian_sets(2000)
    ref = metrics.Reference(real)
    same = ref.compare(other)
    assert same["fd"] < 0.2  # vs 16 * 1.0 for a one-sigma shift in every dimension
    assert abs(same["kid"]) < 3 * same["kid_se"]
    # Naeem et al.: for two samples of one distribution, E[density] = 1 and E[coverage] = 1 - 2^-k at equal
    # sizes; with their k = 5 that is 0.969 (k = 3, Kynkäänniemi et al.'s choice for precision/recall: 0.875)
    assert metrics.K_DC == 5 and metrics.K_PR == 3
    assert same["density"] == pytest.approx(1.0, abs=0.05)
    assert same["coverage"] == pytest.approx(1 - 0.5**5, abs=0.015)
    assert same["precision"] == pytest.approx(same["recall"], abs=0.04)  # the two sets are exchangeable
    shifted = ref.compare(gaussian_sets(2000, shift=1.0, seed=5)[1])
    assert shifted["fd"] > 100 * same["fd"] and shifted["kid"] > 10 * shifted["kid_se"]
    for key in ("precision", "recall", "density", "coverage"):
        assert shifted[key] < same[key] / 2, key


def test_kid_is_unbiased_where_fd_is_not():
    # two sets from one distribution: FD shrinks with n (bias ~ d/n); KID's mean stays at 0 within its error
    fds, kids = [], []
    for n in (200, 2000):
        real, other = gaussian_sets(n, d=32, seed=n)
        fds.append(fd(real, other))
        kids.append(metrics.Reference(real).compare(other))
    assert fds[0] > 5 * fds[1]
    for k in kids:
        assert abs(k["kid"]) < 3 * k["kid_se"]


def test_kid_does_not_depend_on_the_features_units():
    """Features of scale ~47 (as the MNIST net's are) gave a cubic kernel ~47^6 times too large, and a KID
    whose noise hid it; standardised by the reference's scale, KID is the same in any units."""
    real, fake = gaussian_sets(600, d=16, shift=0.2)
    unit = metrics.Reference(real).compare(fake)
    scaled = metrics.Reference(real * 47 + 30).compare(fake * 47 + 30)
    assert scaled["kid"] == pytest.approx(unit["kid"], rel=1e-3)
    assert scaled["kid_se"] == pytest.approx(unit["kid_se"], rel=1e-3)
    assert unit["kid"] > 3 * unit["kid_se"]  # a 0.2-sigma shift stands out of its error


def test_kids_standard_error_matches_its_spread_over_independent_draws():
    values, errors = [], []
    for seed in range(40):
        real, fake = gaussian_sets(300, d=8, shift=0.15, seed=seed)
        k = metrics.Reference(real).compare(fake)
        values.append(k["kid"])
        errors.append(k["kid_se"])
    assert np.mean(errors) == pytest.approx(np.std(values, ddof=1), rel=0.35)


def brute_manifold(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Precision and recall with Kynkäänniemi et al.'s k = 3, density and coverage with Naeem et al.'s k = 5."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=2)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=2)
    radius = lambda d, k: np.sort(d, 1)[:, k]  # noqa: E731 - column 0 is the point itself
    return {
        "precision": float((d_fr <= radius(d_rr, 3)[None]).any(1).mean()),
        "recall": float((d_fr <= radius(d_ff, 3)[:, None]).any(0).mean()),
        "density": float((d_fr <= radius(d_rr, 5)[None]).sum() / (5 * len(fake))),
        "coverage": float((d_fr.min(0) <= radius(d_rr, 5)).mean()),
    }


def test_manifold_measures_match_brute_force_each_with_its_papers_k(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK", 7)  # several chunks, one of them ragged
    real, fake = gaussian_sets(60, d=5, shift=0.7)
    got = metrics.Reference(real).compare(fake)
    want = brute_manifold(real.astype(np.float64), fake.astype(np.float64))
    # float32 vs float64 may move one point across a radius
    assert {k: got[k] for k in want} == pytest.approx(want, abs=1 / 60 + 1e-9)


def test_nearest_finds_the_nearest_row(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK", 5)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((23, 4), dtype=np.float32), rng.standard_normal((40, 4), dtype=np.float32)
    idx, dist = metrics.nearest(a, b)
    full = ((a[:, None] - b[None]) ** 2).sum(2)
    assert (idx == full.argmin(1)).all()
    assert dist == pytest.approx(full.min(1), abs=1e-5)


def test_z_u_is_meehans_z_score_of_the_mann_whitney_u():
    """Meehan et al.'s Zu: scipy's U of the generated distances, (U - mn/2 + 1/2) / sqrt(mn(m+n+1)/12)."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(300), rng.standard_normal(400) + 0.5
    x[:20] = y[:20]  # ties
    u = stats.mannwhitneyu(x, y, alternative="less").statistic
    m, n = len(x), len(y)
    assert copying.z_u(x, y) == pytest.approx((u - m * n / 2 + 0.5) / math.sqrt(m * n * (m + n + 1) / 12), rel=1e-9)
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


def meehan_c_t(held: np.ndarray, held_cells: np.ndarray, fake: np.ndarray, fake_cells: np.ndarray,
               train: np.ndarray, train_cells: np.ndarray, tau: float) -> float:
    """C_T as casey-meehan/data-copying computes it (data_copying_tests.C_T), transcribed with brute force."""
    stats = pytest.importorskip("scipy.stats")
    k, zs, weights = train_cells.max() + 1, [], []
    for j in range(k):
        p, q, t = held[held_cells == j], fake[fake_cells == j], train[train_cells == j]
        if len(q) / len(fake) <= tau:
            continue
        lp = np.sqrt(((p[:, None] - t[None]) ** 2).sum(2)).min(1)  # to the nearest training point OF THIS CELL
        lq = np.sqrt(((q[:, None] - t[None]) ** 2).sum(2)).min(1)
        u = stats.mannwhitneyu(lq, lp, alternative="less").statistic
        zs.append((u - (len(lp) * len(lq) / 2 - 0.5)) / np.sqrt(len(lp) * len(lq) * (len(lp) + len(lq) + 1) / 12))
        weights.append(len(p) / len(held))
    return float(np.dot(weights, zs) / np.sum(weights))


def test_c_t_is_meehans_statistic_with_distances_within_each_cell():
    rng = np.random.default_rng(7)
    centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]], np.float32)
    draw = lambda n: (centres[rng.integers(0, 4, n)] + rng.standard_normal((n, 2)) * 1.5).astype(np.float32)  # noqa: E731
    train, held = draw(800), draw(200)
    fake = np.concatenate([draw(150), train[:50] + 0.01]).astype(np.float32)  # a quarter are near copies
    side = copying.Side.of(train, held, seed=0)
    assert len(side.centroids) == 4  # 200 held-out images, one cell per 50
    fake_cell = copying.cell_of(fake, side.centroids)
    nn = copying.nearest_in_cell(fake, fake_cell, train, side.train_cell)[1]
    got = copying.CT.of(nn, fake_cell, side)
    want = meehan_c_t(held, side.held_cell, fake, fake_cell, train, side.train_cell, tau=20 / len(fake))
    assert got.c_t == pytest.approx(want, rel=1e-6) and got.cells_tested == 4
    # the nearest training point overall would have been another: the cells overlap (sigma 1.5, 6 apart)
    assert (copying.nearest_in_cell(held, side.held_cell, train, side.train_cell)[1] > metrics.nearest(held, train)[1]).any()


def test_c_t_weights_cells_by_their_held_out_images_and_tests_those_with_more_than_tau_samples():
    rng = np.random.default_rng(6)
    # cell 0 is dense (small distances), cell 1 sparse; the fakes crowd into cell 0 but match it there
    held = np.concatenate([rng.uniform(0, 1, 300), rng.uniform(5, 6, 100)])
    fake = np.concatenate([rng.uniform(0, 1, 380), rng.uniform(5, 6, 21)])
    side = copying.Side(np.zeros((2, 1), np.float32), np.array([0, 1]), np.repeat([0, 1], [300, 100]), held)
    fake_cell = np.repeat([0, 1], [380, 21])
    assert copying.z_u(fake, held) < -3  # over all images the crowding looks like copying
    got = copying.CT.of(fake, fake_cell, side)
    z0, z1 = copying.z_u(fake[:380], held[:300]), copying.z_u(fake[380:], held[300:])
    assert got.cells_tested == 2 and got.c_t == pytest.approx((300 * z0 + 100 * z1) / 400) and abs(got.c_t) < 2.5
    # a cell needs MORE than TAU = 20 samples (Meehan's Q_m(pi) > tau): 20 leaves cell 1 out
    fewer = copying.CT.of(fake[:400], fake_cell[:400], side)
    assert fewer.cells_tested == 1 and fewer.c_t == pytest.approx(z0) and fewer.tested_share == pytest.approx(380 / 400)


@pytest.mark.slow
def test_c_t_stays_within_its_threshold_when_samples_are_drawn_like_unseen_real_images():
    """Why -3: with no copying each cell's Z_U is about N(0, 1), so C_T, their weighted mean, has a spread of
    at most 1, and < -3 has a chance of at most 0.13%."""
    values = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        draw = lambda n: rng.standard_normal((n, 4)).astype(np.float32)  # noqa: E731
        train, held, fake = draw(1000), draw(400), draw(400)
        side = copying.Side.of(train, held, seed)
        fake_cell = copying.cell_of(fake, side.centroids)
        values.append(copying.CT.of(copying.nearest_in_cell(fake, fake_cell, train, side.train_cell)[1], fake_cell, side).c_t)
    assert abs(np.mean(values)) < 0.4 and np.std(values) < 1.2 and min(values) > copying.COPY_Z


def test_near_copies_are_found_when_held_out_images_duplicate_training_images():
    """3% of held-out images are exact duplicates of training images, so the held-out 1% quantile of the
    distances is 0: the near-copy test must still count exact copies, against that 3%."""
    rng = np.random.default_rng(8)
    train = rng.uniform(0, 1, (600, 6)).astype(np.float32)
    held = rng.uniform(0, 1, (400, 6)).astype(np.float32)
    held[:12] = train[:12]
    honest = rng.uniform(0, 1, (400, 6)).astype(np.float32)
    copier = honest.copy()
    copier[:100] = train[100:200]  # a quarter exact copies
    side_f, side_px = copying.Side.of(train, held, 0), copying.Side.of(train, held, 0)
    assert np.quantile(side_px.held_nn, copying.NEAR_QUANTILE) == 0
    caught = copying.measure(copier, copier, train, train, side_f, side_px)
    assert caught.near_copies >= 0.25 and caught.near_copies_held_out == pytest.approx(12 / 400) and caught.copies
    passed = copying.measure(honest, honest, train, train, side_f, side_px)
    assert passed.near_copies < 0.02 and not passed.copies
    assert all(np.array_equal(copier[i], train[j]) for i, j in caught.pairs)  # the sheet shows the copies


def test_kernel_sums_match_the_full_kernel_matrix(monkeypatch):
    monkeypatch.setattr(metrics, "CHUNK", 16)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((70, 8), dtype=np.float32), rng.standard_normal((50, 8), dtype=np.float32) + 0.3
    kxy = (x.astype(np.float64) @ y.T / 8 + 1) ** 3
    kxx = (x.astype(np.float64) @ x.T / 8 + 1) ** 3
    rows, cols = metrics.kernel_sums(x, y, same=False)
    assert rows == pytest.approx(kxy.sum(1), rel=1e-5) and cols == pytest.approx(kxy.sum(0), rel=1e-5)
    assert metrics.kernel_sums(x, x, same=True)[0] == pytest.approx(kxx.sum(1) - np.diag(kxx), rel=1e-5)


def test_the_figures_do_not_depend_on_how_many_cores_share_the_passes(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(metrics, "CHUNK", 64)
    real, fake = gaussian_sets(700, d=12, shift=0.3)

    def figures() -> tuple:
        ref = metrics.Reference(real)
        return ref.compare(fake), ref.kid_rows, metrics.nearest(fake, real), ref.radii

    runs = []
    for workers in (1, 3):
        monkeypatch.setattr(metrics, "_pool", lambda w=workers: ThreadPoolExecutor(w))
        runs.append(figures())
    (s1, n1, (i1, d1), r1), (s3, n3, (i3, d3), r3) = runs
    assert s1 == s3
    for a, b in ((n1, n3), (i1, i3), (d1, d3), (r1, r3)):
        assert np.array_equal(a, b)
