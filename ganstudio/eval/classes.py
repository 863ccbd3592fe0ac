"""Class coverage on labelled data: which classes does a generator draw, and how often?

The MNIST notebook's GAN famously stopped drawing some digits. The shipped classifier (the same net whose
features the distances use) gives each generated sample its most likely class. A class drawn at under a
fifth of its share of the data counts as dropped, under half as under-drawn. Samples no class gets even
half the probability for are unrecognisable: a quality figure of its own, not a class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"],
}
RECOGNISABLE = 0.5  # a sample whose most likely class has less probability than this is unrecognisable
DROPPED, UNDER = 0.2, 0.5  # a class drawn at under these fractions of its share of the data


@dataclass(frozen=True)
class ClassCoverage:
    names: list[str]
    share: list[float]  # fraction of the samples whose most likely class this is
    data_share: list[float]  # each class's fraction of the real training images
    unrecognisable: float  # fraction of samples whose most likely class has under RECOGNISABLE probability

    def _below(self, fraction: float) -> list[str]:
        return [name for name, s, d in zip(self.names, self.share, self.data_share) if s < fraction * d]

    @property
    def dropped(self) -> list[str]:
        return self._below(DROPPED)

    @property
    def under_drawn(self) -> list[str]:
        return [name for name in self._below(UNDER) if name not in self.dropped]

    @property
    def drawn(self) -> int:
        """Classes drawn at least a fifth as often as the data has them."""
        return len(self.names) - len(self.dropped)

    def sentence(self) -> str:
        what = "digit" if self.names[0] == "0" else "class"
        order = np.argsort(self.share)
        rare, common = int(order[0]), int(order[-1])
        verdict = f"drops {what} {', '.join(self.dropped)}" if self.dropped else f"draws every {what}"
        if self.under_drawn:
            verdict += f"; draws {', '.join(self.under_drawn)} under half as often as the data has them"
        return (
            f"{verdict}; rarest {self.names[rare]} ({self.share[rare]:.1%}), commonest {self.names[common]} "
            f"({self.share[common]:.1%}); {self.unrecognisable:.1%} of samples are unrecognisable"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "dropped": self.dropped, "under_drawn": self.under_drawn}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassCoverage":
        return cls(d["names"], d["share"], d["data_share"], d["unrecognisable"])


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def measure(logits: np.ndarray, names: list[str], data_labels: np.ndarray) -> ClassCoverage:
    """Class shares of samples (from the classifier's logits) against the labels of the real training images."""
    probs = softmax(logits.astype(np.float64))
    counts = np.bincount(probs.argmax(1), minlength=len(names))
    data = np.bincount(data_labels, minlength=len(names)) / len(data_labels)
    return ClassCoverage(
        names, [round(float(c) / len(probs), 5) for c in counts], [round(float(d), 5) for d in data],
        round(float((probs.max(1) < RECOGNISABLE).mean()), 5),
    )
