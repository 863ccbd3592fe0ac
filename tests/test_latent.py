import numpy as np
import pytest

from ganstudio.explore import latent, limits
from ganstudio.errors import UserError


def test_seed_recipe_is_the_documented_one():
    want = np.random.default_rng(7).standard_normal(100, dtype=np.float32)
    np.testing.assert_array_equal(latent.z_from_seed(7, 100), want)
    assert latent.z_from_seed(7, 100).dtype == np.float32


def test_batch_is_consecutive_seeds():
    z = latent.z_batch(5, 3, 16)
    for i in range(3):
        np.testing.assert_array_equal(z[i], latent.z_from_seed(5 + i, 16))


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_out_of_range(seed):
    with pytest.raises(UserError, match="out of range"):
        latent.z_from_seed(seed, 4)


def test_truncation_pulls_toward_the_mean():
    z = latent.z_from_seed(1, 64)
    np.testing.assert_allclose(latent.truncate(z, 0.5), z * 0.5)
    np.testing.assert_array_equal(latent.truncate(z, 1.0), z)


def test_lerp_and_slerp_endpoints():
    a, b = latent.z_from_seed(1, 32), latent.z_from_seed(2, 32)
    for method in ("lerp", "slerp"):
        path = latent.interpolate(a, b, 9, method)
        assert path.shape == (9, 32)
        np.testing.assert_allclose(path[0], a, atol=1e-5)
        np.testing.assert_allclose(path[-1], b, atol=1e-5)


def test_slerp_keeps_the_norm_and_lerp_does_not():
    a = latent.z_from_seed(1, 128)
    b = latent.z_from_seed(2, 128)
    b = b / np.linalg.norm(b) * np.linalg.norm(a)
    mid_s = latent.slerp(a, b, 0.5)
    mid_l = latent.lerp(a, b, 0.5)
    assert np.linalg.norm(mid_s) == pytest.approx(np.linalg.norm(a), rel=1e-5)
    assert np.linalg.norm(mid_l) < 0.9 * np.linalg.norm(a)  # lerp cuts through the low-density middle


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = latent.z_from_seed(3, 8)
    np.testing.assert_allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)


def test_unknown_interpolation():
    with pytest.raises(UserError):
        latent.interpolate(np.zeros(2), np.ones(2), 3, "cubic")


def test_sweep_touches_only_one_dimension():
    base = latent.z_from_seed(0, 100)
    values = np.linspace(-3, 3, 10)
    frames = latent.sweep(base, 25, values)
    assert frames.shape == (10, 100)
    np.testing.assert_allclose(frames[:, 25], values, rtol=1e-6)
    others = np.delete(frames, 25, axis=1)
    np.testing.assert_array_equal(others, np.repeat(np.delete(base, 25)[None], 10, axis=0))


@pytest.mark.parametrize("dim", [-1, 100])
def test_sweep_dimension_out_of_range(dim):
    with pytest.raises(UserError, match="0..99"):
        latent.sweep(latent.z_from_seed(0, 100), dim, [0.0, 1.0])


def test_random_walk_is_seeded_smooth_and_stays_on_the_shell():
    start = latent.z_from_seed(4, 100)
    walk = latent.random_walk(start, 50, seed=4)
    again = latent.random_walk(start, 50, seed=4)
    other = latent.random_walk(start, 50, seed=5)
    np.testing.assert_array_equal(walk, again)
    assert not np.array_equal(walk, other)
    np.testing.assert_array_equal(walk[0], start)
    norms = np.linalg.norm(walk, axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(start), rtol=1e-5)
    steps = np.linalg.norm(np.diff(walk, axis=0), axis=1)
    assert steps.max() < 0.25 * np.linalg.norm(start)  # small steps
    assert np.linalg.norm(walk[-1] - walk[0]) > steps.mean()  # but it goes somewhere


@pytest.mark.parametrize("n,shape", [(64, (8, 8)), (10, (3, 4)), (1, (1, 1)), (3, (2, 2))])
def test_grid_shape(n, shape):
    assert latent.grid_shape(n) == shape


@pytest.mark.parametrize("scale_a,scale_b", [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1e-30, 1e-30)])
def test_slerp_falls_back_to_lerp_where_a_norm_is_about_zero(scale_a, scale_b):
    a, b = latent.z_from_seed(1, 16) * scale_a, latent.z_from_seed(2, 16) * scale_b
    t = np.linspace(0, 1, 5)
    path = latent.slerp(a, b, t)
    assert np.isfinite(path).all()
    np.testing.assert_allclose(path, latent.lerp(a, b, t), rtol=1e-6, atol=1e-37)


def test_slerp_of_ordinary_vectors_is_not_lerp():
    a, b = latent.z_from_seed(1, 16), latent.z_from_seed(2, 16)
    assert not np.allclose(latent.slerp(a, b, 0.5), latent.lerp(a, b, 0.5))


@pytest.mark.parametrize("psi", [0.0, -0.5, 2.01, float("nan"), float("inf")])
def test_psi_outside_its_range_is_refused(psi):
    with pytest.raises(UserError, match="--psi .* more than 0, up to 2"):
        limits.PSI.check("--psi", psi)


@pytest.mark.parametrize("psi", [1e-3, 0.7, 1.0, 2.0])
def test_psi_inside_its_range_is_accepted(psi):
    assert limits.PSI.check("--psi", psi) == psi
