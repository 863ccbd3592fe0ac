"""Class directions ("→ 7", "→ sandal") as a model keeps them: class-directions.safetensors beside its weights.

`ganstudio directions MODEL` (ganstudio.eval.boundaries) labels samples with ganstudio's classifier, fits one
linear boundary in z per class and writes here the unit normal of each, pointing into the class. Reading is
strict, like the generator's loader: a file that is not ours, has mis-shaped or non-unit rows, or was made for
other weights (its generator sha256 differs) is refused with one line; nothing is unpickled. Writing never
touches the model's own files, so the sha256 every image recipe names stays the same.

Two kinds of direction are offered per class (InterFaceGAN's primal and conditional editing):
    class       the boundary's normal: the image becomes more like the class, and less like whatever it was
    class_cond  the normal with every other class's normal projected out: moving along it changes this class's
                score and leaves the other classes' linear scores where they were (conditional manipulation
                conditioned on all other classes: one fixed basis, so a recipe needs nothing but the file)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.artifact import atomic
from ganstudio.artifact.catalog import ModelDir
from ganstudio.errors import UserError
from ganstudio.explore import limits, operations
from ganstudio.explore.operations import Render, Vector
from ganstudio.explore.runtime import Generator

FILE = "class-directions.safetensors"
FORMAT = "ganstudio-class-directions"
VERSION = 1
META = "ganstudio.class_directions"  # the metadata key holding the JSON record
CLASS, CONDITIONAL = "class", "class_cond"
METHODS = (CLASS, CONDITIONAL)
UNIT_TOLERANCE = 1e-3


def label(name: str) -> str:
    """A class direction's name as sliders and captions show it."""
    return f"→ {name}"


def _key(name: str) -> str:
    """How names are compared: '→ Ankle-Boot', 'ankle_boot' and 'ankle boot' are the same class."""
    name = re.sub(r"^\s*(→|->)\s*", "", name)
    return re.sub(r"[\s_-]+", " ", name.strip()).lower()


@dataclass(frozen=True)
class ClassDirections:
    names: tuple[str, ...]
    normals: np.ndarray  # (K, nz) float32, unit rows, each pointing into its class
    info: dict[str, Any] = field(default_factory=dict)  # model_sha256, dataset, samples, seed, classifier, per class

    @cached_property
    def conditional(self) -> np.ndarray:
        """(K, nz) unit rows: each normal minus its projection on the span of the other classes' normals."""
        n = self.normals.astype(np.float64)
        out = []
        for c in range(len(n)):
            others = np.delete(n, c, axis=0)
            coef, *_ = np.linalg.lstsq(others.T, n[c], rcond=None)
            d = n[c] - others.T @ coef
            norm = np.linalg.norm(d)
            if norm < 1e-6:
                raise UserError(f"class {self.names[c]}'s direction lies in the span of the others: it has no conditional direction")
            out.append(d / norm)
        return np.asarray(out, dtype=np.float32)

    def bases(self) -> dict[str, np.ndarray]:
        """Each method's (K, nz) rows, as the other direction methods give theirs."""
        return {CLASS: self.normals, CONDITIONAL: self.conditional}

    def index(self, name: str, option: str = "--direction") -> int:
        """The row of a class named as a person would ('7', '→ 7', 'sandal', 'Ankle boot'); one line otherwise."""
        wanted = _key(str(name))
        for j, n in enumerate(self.names):
            if _key(n) == wanted:
                return j
        raise UserError(f"{option} {limits.shown(name)!r} is not a class direction of this model: use one of {', '.join(self.names)}")

    def sweep(self, gen: Generator, v: Vector, name: str, conditional: bool, steps: int, lo: float, hi: float,
              option: str = "--direction") -> Render:
        """The strip of v moving lo..hi along the class `name`'s direction (conditional: the others held)."""
        j = self.index(name, option)
        method = CONDITIONAL if conditional else CLASS
        return operations.direction_sweep(gen, v, method, j, self.bases()[method][j], steps, lo, hi, label(self.names[j]))


def to_bytes(cd: ClassDirections) -> bytes:
    from safetensors.numpy import save

    record = {"format": FORMAT, "version": VERSION, "classes": list(cd.names), **cd.info}
    return save({"normals": np.ascontiguousarray(cd.normals, dtype=np.float32)}, metadata={META: json.dumps(record, sort_keys=True)})


def save(model: ModelDir, cd: ClassDirections) -> Path:
    """Write the file beside the model, atomically; the model's own files are not touched."""
    return atomic.write_bytes(model.path / FILE, to_bytes(cd))


def read(path: Path, nz: int, sha256: str, rerun: str) -> ClassDirections:
    """The file at `path`, checked for a generator with nz latents whose weights have `sha256`.

    rerun: the command that makes a current file, quoted in the one-line refusal.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta, keys = f.metadata() or {}, list(f.keys())
            dtype = f.get_slice("normals").get_dtype() if keys == ["normals"] else None
            normals = f.get_tensor("normals") if dtype == "F32" else None
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable safetensors file ({str(e)[:80]}); re-make it with `{rerun}`") from None
    try:
        record = json.loads(meta[META])
        ok = record["format"] == FORMAT and isinstance(record["classes"], list)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok or normals is None:
        raise UserError(f"{path}: not a ganstudio class-directions file (expected one F32 tensor 'normals' and its record); re-make it with `{rerun}`")
    if record.get("version") != VERSION:
        raise UserError(f"{path}: class-directions format version {limits.shown(record.get('version'))}, this ganstudio reads {VERSION}; re-make it with `{rerun}`")
    if record.get("model_sha256") != sha256:
        raise UserError(f"{path}: made for other weights (sha256 {str(record.get('model_sha256'))[:12]}…, this model's is {sha256[:12]}…); "
                        f"re-make it with `{rerun}`")
    names = tuple(str(n) for n in record["classes"])
    k = len(names)
    if not 2 <= k <= limits.MAX_CLASSES or normals.shape != (k, nz) or len({_key(n) for n in names}) != k:
        raise UserError(f"{path}: holds normals of shape {list(normals.shape)} for {k} classes; expected ({k}, {nz}) for 2..{limits.MAX_CLASSES} "
                        f"distinct classes; re-make it with `{rerun}`")
    if not np.isfinite(normals).all() or np.abs(np.linalg.norm(normals.astype(np.float64), axis=1) - 1).max() > UNIT_TOLERANCE:
        raise UserError(f"{path}: its directions are not finite unit vectors; re-make it with `{rerun}`")
    info = {key: v for key, v in record.items() if key not in ("format", "version", "classes")}
    return ClassDirections(names, normals, info)


def of(model: ModelDir, nz: int, sha256: str, key: str | None = None) -> ClassDirections | None:
    """The model's class directions; None when it has none (a refused file is one line, as read says)."""
    path = model.path / FILE
    if not path.is_file():
        return None
    return read(path, nz, sha256, command(key or str(model.path)))


def command(model: str) -> str:
    """The command that (re)makes a model's class directions."""
    return f"ganstudio directions {model}"


def none_yet(model: str) -> str:
    return f"{model} has no class directions yet: `{command(model)}` fits them for a model of labelled data"
