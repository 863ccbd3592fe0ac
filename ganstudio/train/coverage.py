"""Mode coverage on a labelled dataset: which classes does a generator draw, and how often?

The MNIST notebook's GAN famously stopped drawing some digits. To see that without squinting at grids, a
small CNN is trained on the dataset's own labelled images (a tenth held out to measure its accuracy), then
gives each of `n` seeded samples its most likely class. A class drawn less than a fifth as often as it
appears in the data counts as dropped, less than half as often as under-drawn. Samples no class gets even
half the probability for are reported as unrecognisable: a quality figure of its own, not a class.

Torch side (the classifier trains here); the samples come from the model's ONNX graph like every image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.data import datasets
from ganstudio.explore import latent, runtime
from ganstudio.errors import UserError

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"],
}
RECOGNISABLE = 0.5  # a sample whose most likely class has less probability than this is unrecognisable
DROPPED, UNDER = 0.2, 0.5  # a class drawn at under these fractions of its share of the data
NOTE_PREFIX = "Mode coverage"


def classifier(n_classes: int, channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(64 * 49, 128), nn.ReLU(), nn.Linear(128, n_classes),
    )


def _pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1]: generated and real images go through the same scaling."""
    return torch.from_numpy(images).float().div_(255.0)


def train_classifier(ds: datasets.Dataset, epochs: int = 4, seed: int = 0) -> tuple[nn.Module, float]:
    """A CNN fitted on 90% of the labelled images; (model in eval mode, accuracy on the other 10%)."""
    if ds.labels is None:
        raise UserError(f"dataset {ds.name} has no labels to check coverage against")
    torch.manual_seed(seed)
    order = torch.randperm(len(ds.labels), generator=torch.Generator().manual_seed(seed))
    held = len(order) // 10
    x, y = _pixels(ds.images)[order], torch.from_numpy(ds.labels)[order]
    x_test, y_test, x_train, y_train = x[:held], y[:held], x[held:], y[held:]
    model = classifier(int(ds.labels.max()) + 1, ds.channels)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train)).split(64):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
    model.eval()
    with torch.inference_mode():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    return model, accuracy


@dataclass(frozen=True)
class Coverage:
    names: list[str]
    share: np.ndarray  # (classes,) fraction of the samples whose most likely class this is
    data_share: np.ndarray  # (classes,) each class's fraction of the training data
    unrecognisable: float  # fraction of samples whose most likely class has under RECOGNISABLE probability
    n: int
    accuracy: float  # the classifier's held-out accuracy on real images

    def _below(self, fraction: float) -> list[str]:
        return [name for name, s, d in zip(self.names, self.share, self.data_share) if s < fraction * d]

    @property
    def dropped(self) -> list[str]:
        return self._below(DROPPED)

    @property
    def under_drawn(self) -> list[str]:
        return [name for name in self._below(UNDER) if name not in self.dropped]

    def note(self) -> str:
        """One sentence for the card."""
        what = "class" if self.names[0] != "0" else "digit"
        order = np.argsort(self.share)
        rare, common = order[0], order[-1]
        verdict = f"drops {what} {', '.join(self.dropped)}" if self.dropped else f"draws every {what}"
        if self.under_drawn:
            verdict += f", {', '.join(self.under_drawn)} under half as often as the data has them"
        return (
            f"{NOTE_PREFIX} ({self.n:,} samples labelled by a CNN with {self.accuracy:.1%} held-out accuracy): "
            f"{verdict}; rarest {self.names[rare]} ({self.share[rare]:.1%}), commonest {self.names[common]} "
            f"({self.share[common]:.1%}); {self.unrecognisable:.1%} of samples are unrecognisable."
        )

    def metrics(self) -> dict[str, float]:
        return {
            "classes_drawn": float(len(self.names) - len(self.dropped)),
            "rarest_class_share": round(float(self.share.min()), 4),
            "unrecognisable": round(self.unrecognisable, 4),
        }


@functools.lru_cache(maxsize=2)
def _fitted(name: str, data_path: str | None, size: int) -> tuple[nn.Module, float, np.ndarray, datasets.Dataset]:
    """(classifier, its held-out accuracy, each class's share of the data, the dataset), once per process."""
    ds = datasets.load(name, data_path, size)
    model, accuracy = train_classifier(ds)
    assert ds.labels is not None  # train_classifier refused otherwise
    return model, accuracy, np.bincount(ds.labels) / len(ds.labels), ds


def measure(gen: runtime.Generator, n: int = 2000, seed: int = 0, data_path: str | None = None) -> Coverage:
    """Label n samples (seeds seed..seed+n-1, as `ganstudio sample` draws them) with a classifier trained on
    the labelled images of the dataset the generator's card names."""
    names = CLASS_NAMES.get(gen.card.dataset)
    if names is None:
        raise UserError(f"coverage needs a model of a labelled dataset ({', '.join(CLASS_NAMES)}); this one is of {gen.card.dataset}")
    model, accuracy, data_share, ds = _fitted(gen.card.dataset, data_path, gen.card.image_size)
    if (ds.channels, ds.image_size) != (gen.card.channels, gen.card.image_size):
        raise UserError(
            f"the generator draws {gen.card.image_size}px x{gen.card.channels} but {ds.name} is "
            f"{ds.image_size}px x{ds.channels}"
        )
    samples = gen.images(latent.z_batch(seed, n, gen.nz)).transpose(0, 3, 1, 2)  # (n, C, H, W) uint8
    with torch.inference_mode():
        probs = torch.cat([F.softmax(model(_pixels(np.ascontiguousarray(b))), 1) for b in np.array_split(samples, 16)])
    best, label = probs.max(1)
    counts = np.bincount(label.numpy(), minlength=len(names))
    return Coverage(names, counts / n, data_share, float((best < RECOGNISABLE).float().mean()), n, accuracy)
