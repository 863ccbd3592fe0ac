"""Interpretable latent directions from a generator's first layer, in numpy (no torch, no autograd).

Both methods look at the map from z to the first feature map, which is linear in z for our generators:
DCGAN's first layer is a ConvTranspose2d from the 1x1 latent (net.0.weight, shape (nz, C, k, k): the
output is einsum("bn,nckl->bckl", z, W)), the MLP's is a Linear (net.0.weight, shape (hidden, nz)).

    sefa      closed form (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs"): the top
              eigenvectors of A Aᵀ, A = the first layer as an (nz, features) matrix; the directions in z
              that the first layer amplifies most.
    ganspace  sampled (Härkönen et al., "GANSpace"): PCA of the first layer's pre-activation output over
              many z (including BatchNorm's per-channel scaling, which the weights alone do not see),
              regressed back to z. For a layer without that scaling it converges to sefa's directions.

Directions are unit vectors in z space, one per row, sorted from the strongest down, with a fixed sign
(their largest component positive) so the same weights always give the same sliders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganstudio.errors import UserError

BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which our DCGAN uses


@dataclass(frozen=True)
class Directions:
    vectors: np.ndarray  # (k, nz) float32, unit-norm rows, strongest first
    strength: np.ndarray  # (k,) eigenvalue (sefa) or fraction of activation variance explained (ganspace)
    method: str


def first_layer(tensors: dict[str, np.ndarray], nz: int, classes: int = 0) -> np.ndarray:
    """The first layer's weights as an (nz, features) matrix A, so that its output is z @ A (+ bias).

    A class-coded generator's first layer also takes its class's one-hot, after z: those `classes` inputs
    are not directions anyone can move along, so only z's rows are kept."""
    w = tensors.get("net.0.weight")
    if w is None:
        raise UserError("this generator has no first layer net.0.weight: cannot compute directions")
    inputs = nz + classes
    if w.ndim == 4 and w.shape[0] == inputs:  # ConvTranspose2d (nz + classes, C, k, k)
        return w[:nz].reshape(nz, -1).astype(np.float64)
    if w.ndim == 2 and w.shape[1] == inputs:  # Linear (hidden, nz + classes)
        return w[:, :nz].T.astype(np.float64)
    raise UserError(f"first layer net.0.weight has shape {list(w.shape)}, which does not take a {nz}-d latent"
                    + (f" and {classes} class inputs" if classes else ""))


def _first_layer_scale(tensors: dict[str, np.ndarray], a: np.ndarray) -> np.ndarray:
    """Per-feature multiplier of the BatchNorm right after the first layer (ones when there is none)."""
    gamma, var = tensors.get("net.1.weight"), tensors.get("net.1.running_var")
    if gamma is None or var is None:
        return np.ones(a.shape[1])
    per_channel = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
    return np.repeat(per_channel, a.shape[1] // len(per_channel))  # channel-major, as reshape(nz, -1) lays it out


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    idx = np.argmax(np.abs(vectors), axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), idx])
    return vectors * np.where(signs == 0, 1.0, signs)[:, None]


def sefa(a: np.ndarray, k: int) -> Directions:
    """The k eigenvectors of A Aᵀ with the largest eigenvalues (A: (nz, features))."""
    nz = a.shape[0]
    if not 1 <= k <= nz:
        raise UserError(f"number of directions {k} is out of range: use 1..{nz}")
    values, vectors = np.linalg.eigh(a @ a.T)  # ascending
    order = np.argsort(values)[::-1][:k]
    return Directions(_fix_signs(vectors[:, order].T).astype(np.float32), values[order], "sefa")


def ganspace(a: np.ndarray, k: int, scale: np.ndarray | None = None, samples: int = 4096, seed: int = 0) -> Directions:
    """PCA of the activations z @ A * scale over `samples` draws of z ~ N(0, I), regressed back to z.

    The regression (least squares z ≈ coefficients @ U) turns each principal component into the latent
    direction that produces it, as GANSpace does for layers it cannot invert.
    """
    nz = a.shape[0]
    if not 1 <= k <= nz:
        raise UserError(f"number of directions {k} is out of range: use 1..{nz}")
    z = np.random.default_rng(seed).standard_normal((samples, nz))
    z -= z.mean(axis=0)
    b = a * (1.0 if scale is None else scale)  # activations (centred) are z @ b: never form them (samples x features)
    q, r = np.linalg.qr(z)
    _, s, vt = np.linalg.svd(r @ b, full_matrices=False)  # the SVD of z @ b = q (r @ b), at nz x features cost
    coeffs = z @ (b @ vt[:k].T)  # (samples, k): each draw's coordinates along the top components
    u, *_ = np.linalg.lstsq(coeffs, z, rcond=None)  # (k, nz)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    explained = s[:k] ** 2 / np.sum(s**2)
    return Directions(_fix_signs(u).astype(np.float32), explained, "ganspace")


def from_weights(tensors: dict[str, np.ndarray], nz: int, k: int, classes: int = 0) -> tuple[Directions, Directions]:
    """(sefa, ganspace) directions of a generator's weights, k of each (classes: a class-coded model's count)."""
    a = first_layer(tensors, nz, classes)
    return sefa(a, k), ganspace(a, k, _first_layer_scale(tensors, a))
