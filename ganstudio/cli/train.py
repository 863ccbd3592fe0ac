"""`ganstudio train`: a recipe, a run directory, and the exported generator at its end (torch, imported inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganstudio.cli.app import app, friendly, needs_train_extra, warn_short_run
from ganstudio.errors import UserError


@app.command()
@friendly
def train(
    what: Annotated[str, typer.Argument(help="A dataset (mnist), a recipe name (mnist-dcgan) or a recipe file (train/x.toml).")] = "mnist",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory. Default: runs/<recipe name>.")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Train this many steps (overrides epochs).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Train this many passes over the data.")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto (CUDA when present), cpu, cuda or mps (Apple GPUs).")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Where the dataset's files are (celeba, flowers, folder, ...). Default: $GANSTUDIO_DATA.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe value: --set lr_d=4e-4 (repeatable).")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue this run directory from its last checkpoint.")] = None,
) -> None:
    """Train a generator; the run directory gets checkpoints, sample grids, metrics, alerts, the exported model and report.html.

    Examples:

    * `ganstudio train mnist --out runs/mnist-dcgan` - class-coded DCGAN on 2,500 real MNIST digits, on the CPU

    * `ganstudio train mnist --steps 500 --set label_smoothing=0.1`

    * `ganstudio train --resume runs/mnist-dcgan` - continue exactly where a stopped run left off
    """
    needs_train_extra("ganstudio train")
    from ganstudio.artifact import rundir
    from ganstudio.train import recipe as recipes

    if steps is not None and steps < 1:
        raise UserError(f"--steps {steps} is out of range: use 1..{recipes.MAX_STEPS:,}")
    sets = list(overrides or [])
    sets += [f"steps={steps}"] if steps is not None else []
    sets += [f"epochs={epochs}"] if epochs is not None else []
    sets += [f"device={device}"] if device is not None else []
    sets += [f"data={data}"] if data is not None else []
    if resume is not None:
        from ganstudio.train import state

        last = state.latest(resume)
        if last is None:
            raise UserError(f"--resume {resume}: no training checkpoint there")
        meta, _ = state.read(last)
        r = recipes.for_resume(recipes.from_dict(meta["recipe"]), sets)
        run_dir = resume
    else:
        r = recipes.load(what, sets)
        run_dir = out or Path("runs") / recipes.run_name(what, r)
        if (run_dir / rundir.STATE_DIR).is_dir():
            raise UserError(f"{run_dir} already holds a run: resume it with --resume {run_dir}, or pick another --out")
    from ganstudio.train.loop import train as run_training

    card = run_training(r, run_dir, resume=resume is not None)
    if card is None:  # a torchrun rank other than 0: rank 0 reports
        return
    typer.echo(f"trained {card.training['steps']:,} steps in {card.training['seconds']:.0f} s; generator in {run_dir}/")
    warn_short_run(card)
    typer.echo(f"onnx parity: max abs diff {card.parity['max_abs_diff']:.2e}")
    typer.echo(f"report: {run_dir / 'report.html'}")
