"""Builds the feature networks `ganstudio eval` ships (torch side; eval itself only runs the ONNX graphs).

    mnist.onnx, fashion-mnist.onnx  a small CNN trained on the training part of the labelled data
                                    (eval.split); outputs "features" (its 128-wide pooled layer) and "logits"
    random-rgb64.onnx               a randomly initialised CNN with a fixed seed for unlabelled images
                                    (Naeem et al. 2020 found random embeddings workable off ImageNet)

Every net takes "images": float32 (batch, C, H, W) in [0, 1]. Each graph gets a card beside it
(<name>.json): what it learnt from, its held-out accuracy, input, feature layer, and the graph's sha256.
Rebuild them, byte for byte on the same torch, with `python -m ganstudio.train.features [NAME ...]`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.artifact import atomic
from ganstudio.data import datasets
from ganstudio.eval import split
from ganstudio.eval.nets import NETS_DIR
from ganstudio.eval.classes import CLASS_NAMES

SEED = 0
EPOCHS = {"mnist": 8, "fashion-mnist": 3}


class Classifier(nn.Module):
    """(B, C, 28, 28) in [0, 1] -> features (B, 128) and logits (B, classes)."""

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Conv2d(64, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),  # (B, 32 * 4 * 4)
            nn.Linear(512, 128), nn.ReLU(),  # (B, 128): the feature layer
        )
        self.head = nn.Linear(128, n_classes)  # (B, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body((x - 0.5) / 0.5)
        return f, self.head(f)


class RandomNet(nn.Module):
    """(B, 3, 64, 64) in [0, 1] -> features (B, 256): four stride-2 convolutions, He-initialised, never trained."""

    def __init__(self) -> None:
        super().__init__()
        widths = [3, 32, 64, 128, 64]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            conv = nn.Conv2d(a, b, 3, stride=2, padding=1)  # halves the map: 64 -> 32 -> 16 -> 8 -> 4
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.AvgPool2d(2), nn.Flatten())  # (B, 64, 2, 2) -> (B, 256)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.5) / 0.5)


def onnx_graph(net: nn.Module, example: torch.Tensor, outputs: list[str]) -> bytes:
    """The net as ONNX with a dynamic batch; the exporter's own progress lines kept off the user's screen."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            net.eval(), (example,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},),
            input_names=["images"], output_names=outputs, verbose=False,
        )
    return program.model_proto.SerializeToString()


def train_classifier(name: str) -> tuple[Classifier, float, int, int]:
    """A classifier fitted on the training part of `name`; (net, held-out accuracy, train size, held-out size)."""
    ds = datasets.load(name)
    assert ds.labels is not None
    train_idx, held_idx = split.split(name, len(ds.images))
    x = torch.from_numpy(ds.images).float().div_(255.0)
    y = torch.from_numpy(ds.labels)
    torch.manual_seed(SEED)
    net = Classifier(ds.channels, len(CLASS_NAMES[name]))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS[name]):
        for idx in torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=order)].split(64):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[idx])[1], y[idx]).backward()
            opt.step()
    net.eval()
    with torch.inference_mode():
        held = torch.from_numpy(held_idx)
        correct = sum(int((net(x[b])[1].argmax(1) == y[b]).sum()) for b in held.split(1000))
    return net, correct / len(held_idx), len(train_idx), len(held_idx)


@contextlib.contextmanager
def deterministic(threads: int | None = None) -> Iterator[None]:
    """Deterministic algorithms (and `threads` torch threads) inside; torch's own settings again after, so a
    training later in the same process (a test's, a notebook's) runs, bit for bit, as it would alone."""
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


def build(name: str) -> dict:
    """Build net `name`, write <name>.onnx and its card <name>.json into the package; return the card."""
    with deterministic():
        return _build(name)


def _build(name: str) -> dict:
    if name == "random-rgb64":
        torch.manual_seed(SEED)
        net: nn.Module = RandomNet()
        graph = onnx_graph(net, torch.zeros(2, 3, 64, 64), ["features"])
        card = {
            "kind": "random", "input": [3, 64, 64], "features": 256,
            "what": f"a randomly initialised 4-layer CNN (He init, torch seed {SEED}), never trained",
            "feature_layer": "the last convolution's ReLU, average-pooled to 2x2x64",
        }
    else:
        net, accuracy, n_train, n_held = train_classifier(name)
        graph = onnx_graph(net, torch.zeros(2, 1, 28, 28), ["features", "logits"])
        card = {
            "kind": "classifier", "input": [1, 28, 28], "features": 128, "classes": CLASS_NAMES[name],
            "what": f"a 3-layer CNN trained on {n_train:,} {name} images ({EPOCHS[name]} epochs, seed {SEED})",
            "held_out_accuracy": round(accuracy, 4), "held_out_images": n_held,
            "feature_layer": "the 128-unit hidden layer after ReLU, before the class logits",
        }
    card = {"name": name, **card, "sha256": hashlib.sha256(graph).hexdigest(), "torch": torch.__version__}
    atomic.write_bytes(NETS_DIR / f"{name}.onnx", graph)
    atomic.write_text(NETS_DIR / f"{name}.json", json.dumps(card, indent=2) + "\n")
    return card


def main(names: list[str]) -> None:
    for name in names or ["mnist", "fashion-mnist", "random-rgb64"]:
        card = build(name)
        acc = f", held-out accuracy {card['held_out_accuracy']:.2%}" if "held_out_accuracy" in card else ""
        print(f"wrote {NETS_DIR / name}.onnx ({card['sha256'][:12]}{acc})")


if __name__ == "__main__":
    main(sys.argv[1:])
