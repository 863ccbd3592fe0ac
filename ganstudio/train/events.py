"""A run's TensorBoard event file, named so that a resumed run's file is read after the ones it resumes.

TensorBoard reads a run's event files in name order, and the usual name (`events.out.tfevents.SECOND.HOST.PID.N`)
orders two files started in the same second by host and pid: a run resumed within the second its previous
process began writing could sort first, and the older file's later steps would then purge the new events.
This writer takes the usual name unless it would not sort last; then it names the file one second after the
newest file's (a name TensorBoard only sorts by), rather than waiting for the clock.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard.summary import scalar

PREFIX = "events.out.tfevents."


def _second(name: str) -> int:
    field = name[len(PREFIX):].split(".")[0]
    return int(field) if field.isdigit() else 0


def new_name(folder: Path, now: float) -> str:
    """The usual event file name for `now`, or one sorting after every event file already in `folder`."""
    tail = f"{socket.gethostname()}.{os.getpid()}.0"
    older = sorted(p.name for p in folder.glob(PREFIX + "*"))
    name = f"{PREFIX}{int(now):010d}.{tail}"
    if older and name <= older[-1]:
        name = f"{PREFIX}{max(_second(n) for n in older) + 1:010d}.{tail}"
    return name


class EventFile:
    """Scalars written to a new event file in `folder`; `purge_step` hides the run's older events from that step on."""

    def __init__(self, folder: Path, purge_step: int | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / new_name(folder, time.time())
        self._records = RecordWriter(open(self.path, "wb"))
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step is not None:  # what TensorBoard reads as a restart at that step
            self._write(Event(wall_time=time.time(), step=purge_step, session_log=SessionLog(status=SessionLog.START)))
        self._records.flush()

    def _write(self, event: Event) -> None:
        self._records.write(event.SerializeToString())

    def add_scalars(self, values: dict[str, float], step: int) -> None:
        """One event per value at `step`, flushed (a row is written once per logging interval)."""
        wall = time.time()
        for tag, value in values.items():
            self._write(Event(wall_time=wall, step=step, summary=scalar(tag, value)))
        self._records.flush()

    def close(self) -> None:
        self._records.close()
