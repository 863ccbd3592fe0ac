"""Progress bars for the eval wing's commands: one line per stage, on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def stages(**totals: int) -> Iterator[tuple[Progress, dict, Callable[[str, int], None]]]:
    """(the bars, their tasks by stage, a tick(stage, k) that advances a stage by k), one bar per stage."""
    columns = [TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        tasks = {stage: progress.add_task(stage, total=total) for stage, total in totals.items()}
        yield progress, tasks, lambda stage, k: progress.advance(tasks[stage], k)


@contextmanager
def bar(n: int) -> Iterator[Callable[[str, int], None]]:
    """A tick(stage, k) for evaluate(); n: the samples asked for (corrected by tick("n", n) once eval caps it)."""
    with stages(generate=n, featurise=3 * n, metrics=2) as (progress, tasks, advance):

        def tick(stage: str, k: int) -> None:
            if stage == "n":  # the sample count eval settled on
                progress.update(tasks["generate"], total=k)
                progress.update(tasks["featurise"], total=3 * k)
            else:
                advance(stage, k)

        yield tick
