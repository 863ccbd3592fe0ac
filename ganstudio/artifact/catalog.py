"""Where generators live and how a `--model NAME|PATH` argument finds one.

A model is a directory holding generator.safetensors (+ generator.onnx, card.json). It is named by
  - a name from a checkpoints folder ($GANSTUDIO_CHECKPOINTS, ./checkpoints, or the shipped one: the checkout's
    checkpoints/ or an installed wheel's copy, see ganstudio.shipped; mnist-dcgan is the default model), else
    from a runs folder ($GANSTUDIO_RUNS, ./runs);
  - a path to such a directory (a checkpoint, or a training run directory once the run has exported);
  - a path to one of its files (generator.safetensors, generator.onnx or card.json).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ganstudio import shipped
from ganstudio.artifact import rundir
from ganstudio.artifact.checkpoint import CARD, GRAPH, WEIGHTS
from ganstudio.errors import UserError

DEFAULT_MODEL = "mnist-dcgan"
HUB_GRAPH = f"onnx/{GRAPH}"  # where a Hugging Face Hub folder (`export --hf`) keeps the graph
REPO_ROOT = shipped.ROOT  # the checkout, or ganstudio/_shipped in an installed wheel


@dataclass(frozen=True)
class ModelDir:
    """The files of one generator."""

    path: Path

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS

    @property
    def graph(self) -> Path:
        """generator.onnx beside the weights, or onnx/generator.onnx in a Hub folder that has no plain one."""
        plain = self.path / GRAPH
        return self.path / HUB_GRAPH if not plain.is_file() and (self.path / HUB_GRAPH).is_file() else plain

    @property
    def name(self) -> str:
        return self.path.name


def checkpoint_roots() -> list[Path]:
    """Folders searched for model names, first match wins."""
    roots = []
    if env := os.environ.get("GANSTUDIO_CHECKPOINTS"):
        roots.append(Path(env))
    roots += [Path.cwd() / "checkpoints", shipped.CHECKPOINTS]
    unique: list[Path] = []
    for r in roots:
        if r.is_dir() and r.resolve() not in unique:
            unique.append(r.resolve())
    return unique


def run_roots() -> list[Path]:
    """Folders whose sub-directories are training runs ($GANSTUDIO_RUNS, ./runs)."""
    roots = [Path(os.environ["GANSTUDIO_RUNS"])] if os.environ.get("GANSTUDIO_RUNS") else []
    roots.append(Path.cwd() / "runs")
    return [r.resolve() for r in roots if r.is_dir()]


def available() -> list[ModelDir]:
    """Every generator found in checkpoint folders and run folders, newest first (for pickers)."""
    found: dict[Path, ModelDir] = {}
    for root in checkpoint_roots() + run_roots():
        for d in root.iterdir():
            if (d / WEIGHTS).is_file():
                found.setdefault(d.resolve(), ModelDir(d.resolve()))
    return sorted(found.values(), key=lambda m: m.weights.stat().st_mtime, reverse=True)


def default_model() -> ModelDir:
    """What a picker opens first: the newest training run (the one just trained), else the default checkpoint.

    Not simply the newest file: in a fresh clone every shipped checkpoint has the same checkout time.
    """
    runs = [m for m in available() if any(m.path.is_relative_to(r) for r in run_roots())]
    return runs[0] if runs else resolve(None)


def resolve(model: str | os.PathLike | None) -> ModelDir:
    """Turn a --model argument into a model directory, or say in one line why not."""
    spec = os.fspath(model) if model is not None else os.environ.get("GANSTUDIO_MODEL", DEFAULT_MODEL)
    path = Path(spec).expanduser()
    if path.is_file():
        if path.name not in (WEIGHTS, GRAPH, CARD):
            raise UserError(
                f"{path}: not a ganstudio model file (expected {WEIGHTS}, {GRAPH} or {CARD}, "
                "or the directory holding them)"
            )
        path = path.parent
    if path.is_dir():
        if not (path / WEIGHTS).is_file():
            hint = " (a training run exports when it ends: `ganstudio export RUN`)" if (path / rundir.STATE_DIR).is_dir() else ""
            raise UserError(f"{path}: no {WEIGHTS} in this directory{hint}")
        return ModelDir(path.resolve())
    if os.sep in spec or spec.startswith("."):
        raise UserError(f"{spec}: no such file or directory")
    for root in checkpoint_roots() + run_roots():
        if (root / spec / WEIGHTS).is_file():
            return ModelDir((root / spec).resolve())
    names = sorted({m.name for m in available()})
    listing = ", ".join(names) if names else "none found"
    raise UserError(f"unknown model {spec!r}: give a checkpoint name ({listing}) or a path")
