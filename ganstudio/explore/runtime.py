"""A generator behind one small interface: z (n, nz) float32 -> images (n, H, W, C) uint8.

This module runs generator.onnx with ONNX Runtime and never imports torch, so the CLI starts fast. The torch
backend (ganstudio.train.torch_backend, the PyTorch module rebuilt from generator.safetensors, for
comparison) builds the same Generator; the CLI picks it where --backend is parsed. Both see the same z and
turn outputs into pixels through the same function, so one seed gives the same image from either (within 1/255).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from ganstudio.artifact import catalog
from ganstudio.explore import images
from ganstudio.artifact.checkpoint import GRAPH, Card, load_weights, sha256_file
from ganstudio.errors import UserError

Device = Literal["auto", "cpu", "cuda"]
CHUNK = 64  # images per forward pass: bounds memory for n up to 1024


@dataclass(frozen=True)
class Generator:
    """A loaded generator: its card, the sha256 of its weights (its identity), and a forward function."""

    card: Card
    model: catalog.ModelDir
    sha256: str
    backend: str
    forward: Callable[[np.ndarray], np.ndarray]  # (n, nz) float32 -> (n, C, H, W) float32

    @property
    def nz(self) -> int:
        return self.card.nz

    def raw(self, z: np.ndarray) -> np.ndarray:
        z = np.ascontiguousarray(z, dtype=np.float32).reshape(-1, self.nz)
        return np.concatenate([self.forward(z[i : i + CHUNK]) for i in range(0, len(z), CHUNK)])

    def images(self, z: np.ndarray) -> np.ndarray:
        """(n, nz) latent vectors -> (n, H, W, C) uint8 images."""
        return images.to_uint8(self.raw(z), self.card.output_range)


def cuda_driver_present() -> bool:
    """True when an NVIDIA driver is loaded. Asking ORT for CUDA without one logs a loud error, so we don't."""
    return os.path.exists("/proc/driver/nvidia/version")


def ort_providers(device: Device) -> list[str]:
    import onnxruntime as ort

    cuda_ok = "CUDAExecutionProvider" in ort.get_available_providers() and cuda_driver_present()
    if device == "cuda" and not cuda_ok:
        raise UserError("--device cuda: no usable CUDA (no NVIDIA driver, or onnxruntime without CUDA)")
    if device == "cpu" or not cuda_ok:
        return ["CPUExecutionProvider"]
    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # load CUDA/cuDNN from the nvidia-* wheels, if that is where they are
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def session(graph: str | bytes | os.PathLike, device: Device = "cpu", threads: int | None = None):
    """An ONNX Runtime session over `graph` (a file, or a graph's bytes), with ganstudio's settings in this one place.

    ORT's own warnings (unused initialisers and the like) are silenced: they are not the user's business. Every
    graph optimisation; the providers `device` asks for. threads=None is ORT's default, every core for one call
    with its workers spinning between calls: the fastest single command. A number is for calls side by side (a
    server, one image at a time): each on that many threads, none spin-waiting (docs/performance.md). A graph ORT
    cannot load is one line naming it.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = graph if isinstance(graph, bytes) else os.fspath(graph)
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=ort_providers(device))
    except Exception as e:  # ORT raises its own Fail/InvalidGraph types
        name = "the graph" if isinstance(graph, bytes) else source
        raise UserError(f"{name}: ONNX Runtime cannot load this graph ({str(e).splitlines()[0]})") from None


_session_lock = threading.Lock()


@lru_cache(maxsize=8)
def _ort_session(graph_path: str, mtime: float, device: Device, threads: int | None):
    """One session per graph file (and version of it), shared: ORT's run() is thread-safe."""
    return session(graph_path, device, threads)


def _onnx_forward(
    model: catalog.ModelDir, card: Card, device: Device, threads: int | None
) -> Callable[[np.ndarray], np.ndarray]:
    if not model.graph.is_file():
        raise UserError(f"{model.path}: no {GRAPH}; run `ganstudio export {model.path}` to make it")
    fix = f"re-export with `ganstudio export {model.path}`"
    recorded = card.files.get(GRAPH)
    if recorded is None or sha256_file(model.graph) != recorded:
        raise UserError(f"{model.graph}: does not match the weights' card (sha256 differs); {fix}")
    with _session_lock:
        session = _ort_session(str(model.graph), model.graph.stat().st_mtime, device, threads)
    inputs = session.get_inputs()
    nz = inputs[0].shape[1] if len(inputs) == 1 and len(inputs[0].shape) == 2 else -1  # an int, or a symbolic dim
    if len(inputs) != 1 or inputs[0].name != "z" or (isinstance(nz, int) and nz != card.nz):
        got = ", ".join(f"{i.name!r} {i.shape}" for i in inputs)
        raise UserError(f"{model.graph}: the graph takes {got}, expected one input 'z' of shape (batch, {card.nz}); {fix}")
    shape = (card.channels, card.image_size, card.image_size)

    def forward(z: np.ndarray) -> np.ndarray:
        try:
            out = session.run(None, {"z": z})[0]
        except Exception as e:  # ORT raises its own types
            raise UserError(f"{model.graph}: ONNX Runtime cannot run this graph ({str(e).splitlines()[0]}); {fix}") from None
        if out.shape != (len(z), *shape):
            raise UserError(f"{model.graph}: the graph draws images of shape {list(out.shape)}, the card says (n, {', '.join(map(str, shape))}); {fix}")
        return out

    return forward


def load(model: str | os.PathLike | None = None, device: Device = "auto", threads: int | None = None) -> Generator:
    """Find a model (see ganstudio.artifact.catalog) and load its ONNX graph (threads: see _ort_session)."""
    found = catalog.resolve(model)
    card, _ = load_weights(found.weights)  # every check, NaN/Inf weights included, whichever backend runs it
    return Generator(card, found, sha256_file(found.weights), "onnx", _onnx_forward(found, card, device, threads))
