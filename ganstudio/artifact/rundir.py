"""A training run's directory on disk: where each thing lives, and its append-only logs.

Torch-free: the trainer writes these files; the report, the exporter, the studio's timeline and eval read them.

    runs/NAME/
      state/step_*.safetensors   training checkpoints (ganstudio.train.state)
      samples/step_*.png         a fixed-z grid every `sample_every` steps (the timeline)
      metrics.jsonl              one averaged row every `log_every` steps
      alerts.jsonl               the watchdog's findings
      report.html                the end-of-run report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATE_DIR = "state"
SAMPLES_DIR = "samples"
METRICS_FILE = "metrics.jsonl"
ALERTS_FILE = "alerts.jsonl"
REPORT_FILE = "report.html"


def truncate_after(path: Path, step: int) -> None:
    """On resume or rollback, drop rows (of metrics.jsonl or alerts.jsonl) logged after the checkpoint we go back to."""
    if not path.is_file():
        return
    rows: list[str] = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(r + "\n" for r in rows))


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every logged row, oldest first (non-finite values are the strings "nan", "inf", "-inf")."""
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []


def last_row(path: Path, step: int) -> dict[str, float]:
    """The last logged monitors at or before `step`, without gradient norms (what a card records)."""
    rows = [row for row in read_rows(path) if row["step"] <= step]
    if not rows:
        return {}
    return {k: round(v, 4) for k, v in rows[-1].items() if k != "step" and not k.startswith("grad/") and isinstance(v, float)}
