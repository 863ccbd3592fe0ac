"""What the studio loads and works out once per model: its generator, which dimensions matter, its directions.

Both are cached by (path, file modification time), so a re-exported model is loaded afresh. The analysis takes
about a second of CPU; it is guarded per model, so two tabs opening the same new model share one computation
and a tab on another model is never kept waiting.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ganstudio.artifact.checkpoint import load_weights
from ganstudio.explore import directions, effects, limits, runtime

# ONNX Runtime threads per request: many small requests share the cores (see runtime._ort_session).
SERVING_THREADS = 1
METHODS = ("sefa", "ganspace")
METHOD_TITLES = {"sefa": "SeFa", "ganspace": "GANSpace"}


@dataclass(frozen=True)
class Analysis:
    effects: effects.Effects
    directions: dict[str, directions.Directions]

    def bases(self) -> dict[str, np.ndarray]:
        return {m: d.vectors for m, d in self.directions.items()}

    def summary(self) -> str:
        fx = self.effects
        top = ", ".join(f"**{d}** ({fx.scores[d]:.3f})" for d in fx.order[:8])
        weakest = fx.order[-1]
        return (
            f"Strongest dimensions (mean pixel change 0..1 when one moves ±1.5, over 4 seeds): {top}. "
            f"Weakest: {weakest} ({fx.scores[weakest]:.3f})."
        )

    def labels(self) -> dict[str, list[str]]:
        """The slider label of every direction."""
        d = self.directions
        return {
            "sefa": [f"SeFa {j + 1} · eigenvalue {x:.2f}" for j, x in enumerate(d["sefa"].strength)],
            "ganspace": [f"PC {j + 1} · {100 * x:.1f}% of variance" for j, x in enumerate(d["ganspace"].strength)],
        }


@lru_cache(maxsize=8)
def generator(path: str, mtime: float) -> runtime.Generator:
    """One ORT session per model, loaded once and shared (its run() is thread-safe)."""
    return runtime.load(path, threads=SERVING_THREADS)


_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def analysis(path: str, mtime: float) -> Analysis:
    with _locks_guard:
        lock = _locks[path]
    with lock:
        return _analysis(path, mtime)


@lru_cache(maxsize=8)
def _analysis(path: str, mtime: float) -> Analysis:
    gen = generator(path, mtime)
    _, tensors = load_weights(gen.model.weights)
    sefa, ganspace = directions.from_weights(tensors, gen.nz, min(limits.N_DIRECTIONS, gen.nz))
    return Analysis(effects.rank_dimensions(gen.images, gen.nz), {"sefa": sefa, "ganspace": ganspace})
