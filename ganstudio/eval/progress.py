"""The eval's progress bar: one line per stage (generating, featurising, the metrics), on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def bar(n: int) -> Iterator[Callable[[str, int], None]]:
    """A tick(stage, k) for evaluate(); n: the samples asked for (corrected by tick("n", n) once eval caps it)."""
    columns = [TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        tasks = {
            "generate": progress.add_task("generate", total=n),
            "featurise": progress.add_task("featurise", total=3 * n),
            "metrics": progress.add_task("metrics", total=2),
        }

        def tick(stage: str, k: int) -> None:
            if stage == "n":  # the sample count eval settled on
                progress.update(tasks["generate"], total=k)
                progress.update(tasks["featurise"], total=3 * k)
            else:
                progress.advance(tasks[stage], k)

        yield tick
