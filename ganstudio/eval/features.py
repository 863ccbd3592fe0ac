"""Feature networks as ONNX graphs: the shipped ones (eval/nets/) or any extractor a user brings.

Every graph takes float32 (batch, C, H, W) in [0, 1]. Its first output is the feature vector; a shipped
classifier also has "logits" (class coverage reads those). Images are brought to the net's input shape
(channels replicated or averaged, sides resized) before they go in, and the shape of what comes out is
checked once on two images, so a wrong extractor is refused with one line before any real work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.errors import UserError
from ganstudio.eval.nets import NETS_DIR
from ganstudio.explore import runtime

SHIPPED = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}  # dataset -> its classifier; others: RANDOM
RANDOM = "random-rgb64"
BATCH = 500  # images per ONNX Runtime call


@dataclass(frozen=True)
class FeatureNet:
    name: str
    path: Path
    card: dict[str, Any]  # what the net is (see ganstudio.train.features), or what is known of a user's file
    session: Any = field(repr=False)
    input_shape: tuple[int | None, int | None, int | None]  # (C, H, W); None where the graph leaves it free
    has_logits: bool

    @property
    def space(self) -> dict[str, Any]:
        """How eval.json names the feature space."""
        return {k: self.card.get(k) for k in ("name", "kind", "what", "feature_layer", "held_out_accuracy", "sha256")}

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, C, H, W) -> float32 in [0, 1] in the net's input shape."""
        c, h, w = self.input_shape
        x = images
        if h is not None and w is not None and x.shape[2:] != (h, w):
            x = np.stack([_resize(img, h, w) for img in x])
        x = x.astype(np.float32) / 255.0
        if c is not None and x.shape[1] != c:
            x = np.repeat(x, c, axis=1) if x.shape[1] == 1 else x.mean(1, keepdims=True).repeat(c, axis=1)
        return np.ascontiguousarray(x)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """uint8 (N, C, H, W) -> (features (N, D) float32, logits (N, classes) or None)."""
        feats, logits = [], []
        for i in range(0, len(images), BATCH):
            outs = self.session.run(None, {self.session.get_inputs()[0].name: self.prepare(images[i : i + BATCH])})
            feats.append(outs[0].reshape(len(outs[0]), -1))
            if self.has_logits:
                logits.append(outs[1])
        return np.concatenate(feats).astype(np.float32), (np.concatenate(logits) if self.has_logits else None)


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """One (C, H, W) uint8 image resized (bilinear) to (C, h, w)."""
    chans = [np.asarray(Image.fromarray(ch).resize((w, h), Image.BILINEAR)) for ch in img]
    return np.stack(chans)




def _dims(session) -> tuple[int | None, int | None, int | None]:
    shape = session.get_inputs()[0].shape
    if len(shape) != 4:
        raise UserError(f"feature net: its input has shape {shape}; it must take images (batch, C, H, W)")
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape[1:])  # type: ignore[return-value]


@lru_cache(maxsize=8)
def shipped(name: str) -> FeatureNet:
    """A net from ganstudio/eval/nets/, its graph checked against the sha256 on its card."""
    graph, card_file = NETS_DIR / f"{name}.onnx", NETS_DIR / f"{name}.json"
    if not graph.is_file() or not card_file.is_file():
        raise UserError(f"feature net {name} is missing from {NETS_DIR}: rebuild it with `python -m ganstudio.train.features {name}`")
    card = json.loads(card_file.read_text())
    if sha256_file(graph) != card["sha256"]:
        raise UserError(f"{graph}: its sha256 differs from its card; rebuild it with `python -m ganstudio.train.features {name}`")
    session = runtime.session(graph)
    return FeatureNet(name, graph, card, session, _dims(session), card["kind"] == "classifier")


def for_dataset(dataset: str) -> FeatureNet:
    """The shipped classifier of a labelled dataset, else the fixed-seed random net."""
    return shipped(SHIPPED.get(dataset, RANDOM))


def user_file(path: str | Path) -> Path:
    """The --features file, refused in one line before anything else is done with it."""
    path = Path(path).expanduser()
    if not path.is_file() or path.suffix.lower() != ".onnx":
        raise UserError(f"--features {path}: expected an existing .onnx file")
    return path


def user(path: str | Path) -> FeatureNet:
    """Any ONNX extractor: (batch, C, H, W) float in [0, 1] -> (batch, D) (or (batch, D, 1, 1)); checked on two images."""
    path = user_file(path)
    session = runtime.session(path)
    c, h, w = _dims(session)
    card = {"name": path.name, "kind": "user", "what": f"the ONNX extractor {path}", "sha256": sha256_file(path),
            "feature_layer": f"its first output, {session.get_outputs()[0].name!r}"}
    net = FeatureNet(path.name, path, card, session, (c, h, w), False)
    probe = np.zeros((2, c or 3, h or 64, w or 64), np.uint8)
    try:
        out = session.run(None, {session.get_inputs()[0].name: net.prepare(probe)})[0]
    except Exception as e:
        raise UserError(f"--features {path}: it fails on a batch of 2 images of {probe.shape[1:]} ({str(e).splitlines()[0]})") from None
    if out.ndim not in (2, 4) or out.shape[0] != 2 or (out.ndim == 4 and out.shape[2:] != (1, 1)) or out.shape[1] < 2:
        raise UserError(f"--features {path}: its first output has shape {list(out.shape)} for 2 images; it must be (2, D) or (2, D, 1, 1)")
    return FeatureNet(path.name, path, {**card, "features": int(out.shape[1])}, session, (c, h, w), False)
