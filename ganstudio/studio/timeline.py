"""A training run's timeline: the fixed-z sample grids it kept (samples/step_0000250.png ...), by step."""

from __future__ import annotations

import re
from pathlib import Path

from ganstudio.artifact import rundir


def snapshots(model_dir: Path) -> list[tuple[int, Path]]:
    """(step, grid) of every kept snapshot, oldest first; empty for a model that is not a run."""
    folder = model_dir / rundir.SAMPLES_DIR
    found = [(int(m[1]), p) for p in folder.glob("step_*.png") if (m := re.fullmatch(r"step_(\d+)\.png", p.name))]
    return sorted(found)


def caption(shots: list[tuple[int, Path]], index: int) -> str:
    step = shots[index][0]
    return f"step {step:,} (snapshot {index + 1} of {len(shots)}; the run's last step is {shots[-1][0]:,})"
