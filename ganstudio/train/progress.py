"""The training progress bar.

The step count is always shown whole (the health text is what gets cut to the line's width), and where the
output is not a terminal (a file, a pipe, a CI log) rich draws nothing until the run ends, so a plain line
is printed at least every LINE_EVERY seconds instead.
"""

from __future__ import annotations

import datetime as dt
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

LINE_EVERY = 30.0  # seconds between plain progress lines when the output is not a terminal
BAR_WIDTH = 20
CLOCK = len("0:00:00")


class TrainProgress(Progress):
    """One task, "train", of `total` steps; its field "health" is the monitor's summary and the watchdog's badge."""

    def __init__(self, console: Console, total: int, line_every: float = LINE_EVERY) -> None:
        count = 2 * len(str(total)) + 1  # "600/7800"
        rest = console.width - (len("train") + BAR_WIDTH + count + 2 * CLOCK + 5)  # 5 spaces between 6 columns
        columns = [TextColumn("[bold]train"), BarColumn(bar_width=BAR_WIDTH),
                   MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=count)), TimeElapsedColumn(),
                   TimeRemainingColumn(),
                   TextColumn("{task.fields[health]}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=max(1, rest)))]
        # Redrawn twice a second: the bar moves only every log_every steps, and the default ten redraws a
        # second cost a measurable share of a small step on a 2-core CPU (docs/performance.md).
        super().__init__(*columns, console=console, transient=False, refresh_per_second=2)
        self.line_every = line_every
        self._done = threading.Event()
        self._lines: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        if not self.console.is_terminal and not self.console.quiet:
            self._lines = threading.Thread(target=self._print_lines, name="train-progress-lines", daemon=True)
            self._lines.start()

    def stop(self) -> None:
        self._done.set()
        if self._lines is not None:
            self._lines.join()
        super().stop()

    def _print_lines(self) -> None:
        while not self._done.wait(self.line_every):
            self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def line(self) -> str:
        """The bar as one plain line: steps done of all, time spent and left, health."""
        if not self.tasks:
            return "train: starting"
        task = self.tasks[0]
        elapsed = dt.timedelta(seconds=int(task.elapsed or 0))
        left = f", about {dt.timedelta(seconds=int(task.time_remaining))} left" if task.time_remaining is not None else ""
        health = Text.from_markup(task.fields.get("health", "")).plain  # the badge's colour is for terminals only
        return f"train {int(task.completed):,}/{int(task.total or 0):,} steps, {elapsed} elapsed{left}" + (f"  {health}" if health else "")
