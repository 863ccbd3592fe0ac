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
import sys
from pathlib import Path
from typing import Any

from ganstudio.artifact import atomic
from ganstudio.errors import UserError

STATE_DIR = "state"
SAMPLES_DIR = "samples"
METRICS_FILE = "metrics.jsonl"
ALERTS_FILE = "alerts.jsonl"
REPORT_FILE = "report.html"


_warned: set[Path] = set()  # logs whose torn last line was already reported in this process


def _lines(path: Path) -> list[str]:
    """The log's rows as text, oldest first, each checked to be a JSON object with an integer "step".

    A torn last line (a kill mid-append, a full disk: cut short of its newline) is dropped with one warning;
    damage anywhere else is a UserError, since rows after it cannot be trusted either.
    """
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if _row(line) is not None:
            continue
        if i < len(lines) - 1 or text.endswith("\n"):  # only a last line cut short (no newline) is torn
            raise UserError(f"{path}: line {i + 1} is not a JSON row with a step; the log is damaged (fix or delete it)")
        if path.resolve() not in _warned:
            _warned.add(path.resolve())
            print(f"warning: {path}: its last line is torn (a write cut short); ignoring it", file=sys.stderr)
        return lines[:-1]
    return lines


def _row(line: str) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    ok = isinstance(row, dict) and isinstance(row.get("step"), int) and not isinstance(row["step"], bool)
    return row if ok else None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every logged row, oldest first (non-finite values are the strings "nan", "inf", "-inf")."""
    return [json.loads(line) for line in _lines(path)]


def append_row(path: Path, row: dict[str, Any]) -> None:
    """One row at the end of a log; a full disk or a read-only run directory is one line."""
    try:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


def keep_rows(path: Path, n: int) -> None:
    """On resume or rollback, keep the first n rows (those the checkpoint gone back to had seen), atomically."""
    if path.is_file():
        atomic.write_text(path, "".join(line + "\n" for line in _lines(path)[:n]))


def last_row(path: Path, step: int) -> dict[str, float]:
    """The last logged monitors at or before `step`, without gradient norms (what a card records)."""
    rows = [row for row in read_rows(path) if row["step"] <= step]
    if not rows:
        return {}
    return {k: round(v, 4) for k, v in rows[-1].items() if k != "step" and not k.startswith("grad/") and isinstance(v, float)}
