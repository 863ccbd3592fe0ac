"""Class boundaries in z (InterFaceGAN's recipe, numpy only): label samples, fit a linear boundary per class.

For a generator of a labelled dataset (one ganstudio ships a classifier for), draw n seeded samples, let the
classifier name each one's most likely class, and fit one-vs-rest logistic regression on z for every class
(Newton's method, class-balanced weights, a small L2 penalty so a separable class still has a finite
boundary). The unit normal of a boundary, pointing into the class, is that class's direction; the file
beside the model (ganstudio.explore.class_directions) keeps them.

Each boundary is fitted on 80% of the samples and its balanced accuracy measured on the other 20%. Then the
directions are tried on fresh seeds (after the fitting ones): the share whose classifier probability of the
class rises when z moves EFFECT_AMOUNT along its direction, and the share that become the class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio import __version__
from ganstudio.errors import UserError
from ganstudio.eval import classes, features, run
from ganstudio.explore import latent, limits
from ganstudio.explore.class_directions import ClassDirections

L2 = 1.0  # penalty 0.5 * L2 * |w|^2 against a loss summed over samples: mild at a few thousand samples
MAX_ITER = 50
TRAIN_SHARE = 0.8
MIN_DRAWN = 20  # a class drawn by fewer of the samples gets no direction: too few to place its boundary
EFFECT_AMOUNT = 3.0  # how far the effect test moves z (|z| is about sqrt(nz); half the studio's sweep reach)
EFFECT_SEEDS = 200
DEFAULT_SAMPLES = 4000


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))  # no overflow for large |t|


def fit(z: np.ndarray, y: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """(w, b) of the L2-penalised, class-balanced logistic regression of y (bool) on z: P(y) = σ(z·w + b)."""
    y = np.asarray(y, dtype=bool)
    n, pos = len(y), int(y.sum())
    if not 0 < pos < n:
        raise UserError("a boundary needs samples on both sides")
    x = np.hstack([np.asarray(z, dtype=np.float64), np.ones((n, 1))])
    t = y.astype(np.float64)
    weight = np.where(y, n / (2 * pos), n / (2 * (n - pos)))
    reg = np.full(x.shape[1], l2)
    reg[-1] = 0.0  # the bias is not penalised

    def loss(beta: np.ndarray) -> float:
        s = x @ beta
        return float(weight @ (np.logaddexp(0, s) - t * s) + 0.5 * reg @ beta**2)

    beta = np.zeros(x.shape[1])
    current = loss(beta)
    for _ in range(MAX_ITER):
        p = _sigmoid(x @ beta)
        grad = x.T @ (weight * (p - t)) + reg * beta
        hess = (x.T * (weight * p * (1 - p))) @ x + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while scale > 1e-4 and loss(beta - scale * step) > current:  # Newton's step, halved until it helps
            scale /= 2
        beta -= scale * step
        current = loss(beta)
        if np.abs(scale * step).max() < 1e-9:
            break
    return beta[:-1], float(beta[-1])


def balanced_accuracy(z: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """Mean of the true-positive and true-negative rates of the boundary z·w + b = 0."""
    said = np.asarray(z, dtype=np.float64) @ w + b > 0
    y = np.asarray(y, dtype=bool)
    return float((said[y].mean() + (~said[~y]).mean()) / 2)


def _probs(gen: run.Source, net: features.FeatureNet, z: np.ndarray) -> np.ndarray:
    """The classifier's class probabilities of the images of z."""
    _, logits = net.run(np.ascontiguousarray(gen.images(z).transpose(0, 3, 1, 2)))
    return classes.softmax(logits.astype(np.float64))


def classifier(dataset: str) -> tuple[features.FeatureNet, list[str]]:
    """The shipped classifier of a labelled dataset and its class names; one line for any other dataset."""
    if dataset not in features.SHIPPED or dataset not in classes.CLASS_NAMES:
        raise UserError(f"class directions need a labelled dataset with a shipped classifier ({', '.join(sorted(features.SHIPPED))}); "
                        f"this model was trained on {limits.shown(dataset)!r}")
    return features.shipped(features.SHIPPED[dataset]), classes.CLASS_NAMES[dataset]


def effect(gen: run.Source, net: features.FeatureNet, cd: ClassDirections, columns: list[int],
           first_seed: int, count: int = EFFECT_SEEDS, amount: float = EFFECT_AMOUNT) -> dict[str, dict[str, list[float]]]:
    """Per method, per class: the share of seeds whose P(class) rises when z moves `amount` along the class's
    direction ("raised"), and the share whose most likely class it then is ("becomes").

    columns[j]: the classifier's output column of cd's class j.
    """
    z = latent.z_batch(first_seed, count, gen.nz)
    before = _probs(gen, net, z)
    out: dict[str, dict[str, list[float]]] = {}
    for method, basis in cd.bases().items():
        raised, becomes = [], []
        for j, col in enumerate(columns):
            after = _probs(gen, net, (z + np.float32(amount) * basis[j]).astype(np.float32))
            raised.append(round(float((after[:, col] > before[:, col]).mean()), 4))
            becomes.append(round(float((after.argmax(1) == col).mean()), 4))
        out[method] = {"raised": raised, "becomes": becomes}
    return out


def compute(
    gen: run.Source, dataset: str, model_sha256: str, n: int = DEFAULT_SAMPLES, seed: int = 0,
    tick: Callable[[str, int], None] = lambda stage, k: None,
) -> ClassDirections:
    """The class directions of `gen` from n samples, seeds seed..seed+n-1 (see the module docstring).

    tick(stage, k): progress, k units of "generate" (n), "classify" (n), "fit" (classes), "effect" (classes).
    """
    n, seed = int(limits.CLASS_SAMPLES.check("--n", n)), int(limits.SEED.check("--seed", seed))
    net, names = classifier(dataset)
    z = latent.z_batch(seed, n, gen.nz)
    pixels = run.generate(gen, z, lambda k: tick("generate", k))
    _, logits = net.run(pixels)
    tick("classify", n)
    labels = logits.argmax(1)
    order = np.random.default_rng(seed).permutation(n)
    train, held = order[: int(TRAIN_SHARE * n)], order[int(TRAIN_SHARE * n):]
    kept, normals, boundaries, skipped = [], [], [], {}
    for c, name in enumerate(names):
        y = labels == c
        drawn = int(y.sum())
        if drawn < MIN_DRAWN or not y[train].any() or not y[held].any() or y[train].all():
            skipped[name] = drawn
        else:
            w, b = fit(z[train], y[train])
            kept.append(c)
            normals.append(w / np.linalg.norm(w))
            boundaries.append({"class": name, "drawn": drawn, "held_out_accuracy": round(balanced_accuracy(z[held], y[held], w, b), 4)})
        tick("fit", 1)
    if len(kept) < 2:
        raise UserError(f"only {len(kept)} of {len(names)} classes were drawn by at least {MIN_DRAWN} of {n} samples: "
                        "no boundaries to fit (is the generator trained?)")
    info: dict[str, Any] = {
        "model_sha256": model_sha256, "dataset": dataset, "samples": n, "seed": seed,
        "classifier": {k: net.card.get(k) for k in ("name", "sha256", "held_out_accuracy")},
        "boundaries": boundaries, "skipped": skipped, "ganstudio": __version__,
    }
    cd = ClassDirections(tuple(names[c] for c in kept), np.asarray(normals, dtype=np.float32), info)
    measured = effect(gen, net, cd, kept, seed + n)
    tick("effect", len(kept))
    return ClassDirections(cd.names, cd.normals, {**info, "effect": {"amount": EFFECT_AMOUNT, "first_seed": seed + n,
                                                                     "seeds": EFFECT_SEEDS, **measured}})


def for_model(model: str | None, n: int = DEFAULT_SAMPLES, seed: int = 0, progress: bool = False) -> tuple[ClassDirections, Path]:
    """Compute a model's class directions and write them beside it: (them, the file's path)."""
    from ganstudio.explore import class_directions, runtime

    gen = runtime.load(model)
    classifier(gen.card.dataset)  # a model of unlabelled data: one line before any work
    if progress:
        from ganstudio.eval.progress import stages

        k = len(classes.CLASS_NAMES[gen.card.dataset])
        with stages(generate=n, classify=n, fit=k, effect=k) as (_, _, tick):
            cd = compute(gen, gen.card.dataset, gen.sha256, n, seed, tick)
    else:
        cd = compute(gen, gen.card.dataset, gen.sha256, n, seed)
    return cd, class_directions.save(gen.model, cd)
