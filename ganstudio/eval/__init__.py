"""`ganstudio eval`: honest offline numbers for a generator (torch-free at run time).

    from ganstudio import eval as gs_eval
    result = gs_eval.evaluate(generator, "mnist", n=5000, seed=0, data_dir=None)   # -> Result
    result, path = gs_eval.evaluate_model("mnist-dcgan", n=5000)                   # + eval.json, sheet

FD, KID, precision/recall, density/coverage (each beside its real-vs-real baseline), class coverage on
labelled data and a memorisation test, in a feature space that needs no download (eval/nets/).
"""

from __future__ import annotations

import os
from pathlib import Path

from ganstudio.eval.report import EVAL_FILE, SHEET_FILE, markdown, read
from ganstudio.eval.run import Result, Source, evaluate

__all__ = ["EVAL_FILE", "SHEET_FILE", "Result", "Source", "evaluate", "evaluate_model", "markdown", "read"]


def held_out_seen(recipe: dict | None) -> bool | None:
    """Whether a generator trained on the eval's held-out images: its recipe says (hold_out), else unknown."""
    if not recipe:
        return None
    return not recipe.get("hold_out", False)


def evaluate_model(
    model: str | os.PathLike | None = None,
    n: int = 5000,
    seed: int = 0,
    data_dir: str | None = None,
    feature_net: str | None = None,
    progress: bool = False,
) -> tuple[Result, Path]:
    """Evaluate a model on the dataset its card names; write eval.json and the neighbour sheet beside it."""
    from ganstudio.eval import report
    from ganstudio.explore import runtime

    from rich.console import Console

    gen = runtime.load(model)
    warn = lambda message: Console(stderr=True).print(f"[yellow]{message}", soft_wrap=True)  # noqa: E731
    args = dict(n=n, seed=seed, data_dir=data_dir, feature_net=feature_net, model_sha256=gen.sha256, measure_latent=True,
                held_out_seen=held_out_seen(gen.card.training.get("recipe")), warn=warn)
    if progress:
        from ganstudio.eval.progress import bar

        with bar(min(n, 10_000)) as tick:
            result = evaluate(gen, gen.card.dataset, tick=tick, **args)
    else:
        result = evaluate(gen, gen.card.dataset, **args)
    path = report.write(gen.model, result)
    report.write_sheet(gen.model, gen, result, data_dir)
    return result, path
