"""What the studio loads and works out once per model: its generator, which dimensions matter, its directions.

All are cached by (path, file modification time), so a re-exported model is loaded afresh, and class directions
made (or re-made) by `ganstudio directions` while the studio runs are picked up. The analysis takes about a
second of CPU; it is guarded per model, so two tabs opening the same new model share one computation and a tab
on another model is never kept waiting.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ganstudio.artifact.checkpoint import load_weights
from ganstudio.errors import UserError
from ganstudio.explore import class_directions, directions, effects, limits, runtime
from ganstudio.explore.class_directions import ClassDirections

# ONNX Runtime threads per request: many small requests share the cores (see runtime._ort_session).
SERVING_THREADS = 1
METHODS = ("sefa", "ganspace")
METHOD_TITLES = {"sefa": "SeFa", "ganspace": "GANSpace"}


@dataclass(frozen=True)
class Analysis:
    effects: effects.Effects
    directions: dict[str, directions.Directions]
    classes: ClassDirections | None = None
    class_note: str = ""  # why the model has no class directions (none made, or the file was refused)

    def bases(self) -> dict[str, np.ndarray]:
        """Every direction method's (k, nz) rows: SeFa, GANSpace, and the class directions when there are some."""
        out = {m: d.vectors for m, d in self.directions.items()}
        return out | (self.classes.bases() if self.classes is not None else {})

    def moved(self, method: str, amounts: Sequence[float]) -> str:
        """The directions moved, as the current image's line says them ("SeFa 2:+1.5", "→ 7 +2.0 (others held)")."""
        if method in class_directions.METHODS and self.classes is not None:
            held = " (others held)" if method == class_directions.CONDITIONAL else ""
            return ", ".join(f"{class_directions.label(self.classes.names[j])} {a:+.1f}{held}" for j, a in enumerate(amounts) if a)
        return f"{METHOD_TITLES.get(method, method)} " + ", ".join(f"{j + 1}:{a:+.1f}" for j, a in enumerate(amounts) if a)

    def summary(self) -> str:
        fx = self.effects
        top = ", ".join(f"**{d}** ({fx.scores[d]:.3f})" for d in fx.free[:8])
        weakest = fx.free[-1]
        ranked = (
            f"{'Strongest of the other dimensions' if fx.classes else 'Strongest dimensions'} (mean pixel change 0..1 "
            f"when one moves ±1.5, over 4 seeds): {top}. Weakest: {weakest} ({fx.scores[weakest]:.3f})."
        )
        if not fx.classes:
            return ranked
        code = fx.scores[:fx.classes]
        return (f"Class dimensions **0–{fx.classes - 1}** pick the class (the largest of them wins; listed first, "
                f"each moves the image {float(np.median(code)):.3f} in the median). {ranked}")

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


def analysis(path: str, mtime: float, classes_mtime: float = 0.0) -> Analysis:
    """classes_mtime: of the model's class-directions file (0 without one)."""
    with _locks_guard:
        lock = _locks[path]
    with lock:
        return _with_classes(path, mtime, classes_mtime)


@lru_cache(maxsize=8)
def _with_classes(path: str, mtime: float, classes_mtime: float) -> Analysis:
    gen = generator(path, mtime)
    try:
        found = class_directions.of(gen.model, gen.nz, gen.sha256, gen.model.name)
    except UserError as e:  # a stale or foreign file: the studio says so and offers no class sliders
        return dataclasses.replace(_analysis(path, mtime), class_note=str(e))
    note = "" if found else class_directions.none_yet(gen.model.name)
    return dataclasses.replace(_analysis(path, mtime), classes=found, class_note=note)


@lru_cache(maxsize=8)
def _analysis(path: str, mtime: float) -> Analysis:
    gen = generator(path, mtime)
    _, tensors = load_weights(gen.model.weights)
    sefa, ganspace = directions.from_weights(tensors, gen.nz, min(limits.N_DIRECTIONS, gen.nz), gen.card.classes)
    return Analysis(effects.rank_dimensions(gen.images, gen.nz, classes=gen.card.classes), {"sefa": sefa, "ganspace": ganspace})
