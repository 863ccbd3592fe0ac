"""What the page needs to know about a model besides its graph: model.json, written beside generator.onnx.

explore.js draws z from the seed itself (rng.js) and applies ψ, dimension edits and directions exactly as
ganstudio.explore.operations.Vector.edited does, so the record carries the direction rows themselves (float32,
which JSON holds exactly), the dimension ranking, and the limits the page's inputs accept, read from
ganstudio.explore.limits so they are defined once.

Directions are named "<method>:<n>" in the page's state: n is 1-based for SeFa and GANSpace (as their sliders
count), a class name for class directions ("class:7", "class_cond:Ankle boot").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganstudio.explore import class_directions, directions, effects, limits
from ganstudio.explore.class_directions import ClassDirections
from ganstudio.explore.runtime import Generator

FORMAT = "ganstudio-web-model"
VERSION = 1
TITLES = {"sefa": "SeFa", "ganspace": "GANSpace", class_directions.CLASS: "Classes",
          class_directions.CONDITIONAL: "Classes (others held)"}


def analyse(gen: Generator) -> tuple[effects.Effects, dict[str, directions.Directions], ClassDirections | None]:
    """The dimension ranking and directions the studio shows for this model (its own analysis, for export)."""
    from ganstudio.artifact.checkpoint import load_weights

    _, tensors = load_weights(gen.model.weights)
    sefa, ganspace = directions.from_weights(tensors, gen.nz, min(limits.N_DIRECTIONS, gen.nz), gen.card.classes)
    classes = class_directions.of(gen.model, gen.nz, gen.sha256, gen.model.name)
    return effects.rank_dimensions(gen.images, gen.nz, classes=gen.card.classes), {"sefa": sefa, "ganspace": ganspace}, classes


def _rows(vectors: np.ndarray) -> list[list[float]]:
    return [[float(x) for x in row] for row in np.asarray(vectors, dtype=np.float32)]


def _bound(b: limits.Bound) -> dict[str, Any]:
    return {"lo": b.lo, "hi": b.hi, "integer": b.integer, "open_lo": b.open_lo, "text": str(b)}


def model_record(gen: Generator, fx: effects.Effects, dirs: dict[str, directions.Directions],
                 classes: ClassDirections | None, graph: str = "generator.onnx") -> dict[str, Any]:
    """model.json's content; `graph` is the ONNX file's URL relative to the record."""
    methods: dict[str, Any] = {}
    for m, d in dirs.items():
        methods[m] = {"title": TITLES.get(m, m), "names": [str(j + 1) for j in range(len(d.vectors))],
                      "strength": [float(x) for x in d.strength], "vectors": _rows(d.vectors)}
    if classes is not None:
        for m, rows in classes.bases().items():
            methods[m] = {"title": TITLES[m], "names": list(classes.names), "vectors": _rows(rows)}
    card = gen.card
    return {
        "format": FORMAT, "version": VERSION, "name": gen.model.name, "sha256": gen.sha256, "graph": graph,
        "nz": gen.nz, "channels": card.channels, "image_size": card.image_size,
        "output_range": [float(x) for x in card.output_range], "dataset": card.dataset,
        "effects": {"order": [int(d) for d in fx.order], "scores": [round(float(s), 6) for s in fx.scores], "classes": fx.classes},
        "directions": methods,
        "limits": {"seed": _bound(limits.SEED), "psi": _bound(limits.PSI), "latent": _bound(limits.LATENT),
                   "direction": _bound(limits.DIRECTION), "value": _bound(limits.SWEEP_VALUE)},
    }
