"""Latent directions (SeFa, GANSpace) and the dimension-effect ranking: numpy only, checked on planted
structure and on the shipped generator."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.artifact import catalog
from ganstudio.explore import directions, effects, latent, runtime
from ganstudio.artifact.checkpoint import load_weights
from ganstudio.errors import UserError

SHIPPED = catalog.REPO_ROOT / "checkpoints" / "mnist-dcgan"


@pytest.fixture(scope="module")
def shipped():
    gen = runtime.load(SHIPPED)
    _, tensors = load_weights(gen.model.weights)
    return gen, tensors


def _image_change(gen, v: np.ndarray, seeds=range(4), amount: float = 3.0) -> float:
    """Mean absolute pixel difference (0..1) between z - amount*v and z + amount*v over a few seeds."""
    z = np.stack([latent.z_from_seed(s, gen.nz) for s in seeds])
    a, b = gen.images(z - amount * v), gen.images(z + amount * v)
    return float(np.abs(a.astype(np.float32) - b).mean() / 255)


def test_sefa_vectors_are_orthonormal_and_sorted_by_eigenvalue():
    a = np.random.default_rng(1).standard_normal((12, 40))
    d = directions.sefa(a, 12)
    assert d.vectors.shape == (12, 12) and d.vectors.dtype == np.float32
    np.testing.assert_allclose(d.vectors @ d.vectors.T, np.eye(12), atol=1e-5)
    assert np.all(np.diff(d.strength) <= 0)
    np.testing.assert_allclose(d.strength, np.sort(np.linalg.eigvalsh(a @ a.T))[::-1])
    for v, lam in zip(d.vectors.astype(np.float64), d.strength):  # each is an eigenvector of A Aᵀ
        np.testing.assert_allclose(a @ a.T @ v, lam * v, rtol=1e-4, atol=1e-4)
        assert v[np.argmax(np.abs(v))] > 0  # the fixed sign


def test_sefa_finds_a_planted_direction():
    rng = np.random.default_rng(2)
    u = rng.standard_normal(20)
    u /= np.linalg.norm(u)
    a = 10 * np.outer(u, rng.standard_normal(64)) + 0.1 * rng.standard_normal((20, 64))
    top = directions.sefa(a, 3).vectors[0]
    assert abs(float(top @ u)) > 0.999


def test_ganspace_without_scaling_agrees_with_sefa():
    """With isotropic z and no per-feature scaling, PCA of z @ A has the principal axes of A Aᵀ."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((10, 30)) * np.linspace(3.0, 0.5, 10)[:, None]  # well separated eigenvalues
    s, g = directions.sefa(a, 3), directions.ganspace(a, 3, samples=8192)
    assert np.all(np.abs(np.sum(s.vectors * g.vectors, axis=1)) > 0.95)
    np.testing.assert_allclose(np.linalg.norm(g.vectors, axis=1), 1.0, rtol=1e-5)
    assert np.all(np.diff(g.strength) <= 0) and 0 < g.strength.sum() <= 1


def test_ganspace_sees_batchnorm_scaling_laid_out_per_channel():
    """A BatchNorm that silences every channel but one leaves only that channel's map to explain."""
    rng = np.random.default_rng(4)
    nz, channels, k = 6, 3, 2
    w = rng.standard_normal((nz, channels, k, k)).astype(np.float32)
    gamma = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    tensors = {"net.0.weight": w, "net.1.weight": gamma, "net.1.running_var": np.ones(channels, np.float32)}
    _, g = directions.from_weights(tensors, nz, 1)
    only = w[:, 1].reshape(nz, -1).astype(np.float64)
    expected = np.linalg.svd(only)[0][:, 0]
    assert abs(float(g.vectors[0] @ expected)) > 0.99


def test_a_class_coded_first_layer_gives_directions_of_z_alone():
    rng = np.random.default_rng(5)
    conv = {"net.0.weight": rng.standard_normal((5 + 3, 2, 4, 4)).astype(np.float32)}  # z's 5 rows, then 3 class rows
    linear = {"net.0.weight": rng.standard_normal((7, 5 + 3)).astype(np.float32)}
    assert np.array_equal(directions.first_layer(conv, 5, classes=3), conv["net.0.weight"][:5].reshape(5, -1))
    assert np.array_equal(directions.first_layer(linear, 5, classes=3), linear["net.0.weight"][:, :5].T)
    with pytest.raises(UserError, match="does not take a 5-d latent and 2 class inputs"):
        directions.first_layer(conv, 5, classes=2)
    s, _ = directions.from_weights(conv, 5, 2, classes=3)
    assert s.vectors.shape == (2, 5)


def test_first_layer_shapes():
    conv = {"net.0.weight": np.zeros((5, 3, 4, 4), np.float32)}
    linear = {"net.0.weight": np.zeros((7, 5), np.float32)}
    assert directions.first_layer(conv, 5).shape == (5, 48)
    assert directions.first_layer(linear, 5).shape == (5, 7)
    with pytest.raises(UserError, match="does not take a 6-d latent"):
        directions.first_layer(conv, 6)
    with pytest.raises(UserError, match="no first layer"):
        directions.first_layer({}, 5)
    with pytest.raises(UserError, match="out of range"):
        directions.sefa(np.zeros((5, 8)), 6)


def test_top_direction_changes_the_shipped_generator_more_than_the_last(shipped):
    gen, tensors = shipped
    a = directions.first_layer(tensors, gen.nz, gen.card.classes)
    for d in (directions.sefa(a, gen.nz), directions.ganspace(a, gen.nz, directions._first_layer_scale(tensors, a))):
        top, last = _image_change(gen, d.vectors[0]), _image_change(gen, d.vectors[-1])
        assert top > 1.5 * last, (d.method, top, last)


def test_rank_dimensions_finds_the_dimensions_that_matter():
    def images(z: np.ndarray) -> np.ndarray:  # only dims 3 (strongly) and 7 (weakly) reach the pixels
        value = 128 + 30 * z[:, 3] + 8 * z[:, 7]
        return np.clip(np.rint(value), 0, 255).astype(np.uint8)[:, None, None, None].repeat(4, axis=1)

    fx = effects.rank_dimensions(images, 10)
    assert list(fx.order[:2]) == [3, 7]
    assert sorted(fx.order) == list(range(10))
    assert fx.scores[3] > fx.scores[7] > 0
    assert np.all(np.delete(fx.scores, [3, 7]) == 0)
    assert fx.rank_of(3) == 1 and fx.rank_of(7) == 2


def test_a_class_code_is_listed_as_its_own_group_before_the_ranked_dimensions():
    def images(z: np.ndarray) -> np.ndarray:  # dims 0-1 (the class code) dominate; of the rest, 5 then 2
        value = 128 + 50 * z[:, 0] - 50 * z[:, 1] + 20 * z[:, 5] + 6 * z[:, 2]
        return np.clip(np.rint(value), 0, 255).astype(np.uint8)[:, None, None, None].repeat(4, axis=1)

    plain, coded = effects.rank_dimensions(images, 8), effects.rank_dimensions(images, 8, classes=2)
    assert list(plain.order[:4]) == [0, 1, 5, 2] and list(coded.order[:4]) == [0, 1, 5, 2]
    flipped = effects.rank_dimensions(lambda z: images(z[:, ::-1].copy()), 8, classes=2)  # code now weak: still first
    assert list(flipped.order[:2]) == [0, 1] and flipped.scores[0] == 0
    assert list(coded.free[:2]) == [5, 2] and sorted(coded.free) == list(range(2, 8))
    assert coded.rank_of(0) == coded.rank_of(1) == 0 and coded.rank_of(5) == 1 and coded.rank_of(2) == 2
    assert plain.rank_of(5) == 3


def test_rank_dimensions_on_the_shipped_generator(shipped):
    gen, _ = shipped
    fx = effects.rank_dimensions(gen.images, gen.nz, seeds=(0, 1), classes=gen.card.classes)
    assert sorted(fx.order) == list(range(gen.nz)) and list(fx.order[:gen.card.classes]) == list(range(gen.card.classes))
    assert np.all(np.diff(fx.scores[fx.free]) <= 0)
    unit = np.eye(gen.nz, dtype=np.float32)
    top, bottom = int(fx.free[0]), int(fx.free[-1])
    assert _image_change(gen, unit[top], seeds=(0, 1), amount=1.5) > _image_change(gen, unit[bottom], seeds=(0, 1), amount=1.5)
