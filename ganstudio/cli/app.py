"""The typer app every command registers on, the options they share, and how a mistake becomes one line."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from ganstudio.cli.usage import OneLineErrors
from ganstudio.errors import UserError
from ganstudio.explore import (
    limits,  # the bounds every option's help and check quote (tiny, no numpy)
)

app = typer.Typer(
    cls=OneLineErrors,  # usage errors (a word for --n, an unknown option) are one line too
    name="ganstudio",
    help="Train GAN generators, export them safely, and explore their latent space.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", "-m", help="A checkpoint name (see `ganstudio info --list`), a model directory or one of its files. Default: mnist-dcgan."),
]
SeedOpt = Annotated[int, typer.Option("--seed", "-s", help=f"Seed of the latent vector ({limits.SEED}).")]
PsiOpt = Annotated[float, typer.Option("--psi", help=f"Truncation ({limits.PSI}): scale z toward the prior's mean (1 = off, 0.7 = typical images).")]
BackendOpt = Annotated[str, typer.Option("--backend", help="onnx (fast, no torch) or torch (for comparison).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")]
GifOpt = Annotated[bool, typer.Option("--gif", help="Also write an animated GIF.")]
FpsOpt = Annotated[float, typer.Option("--fps", help=f"GIF frames per second ({limits.FPS}).")]
ScaleOpt = Annotated[int, typer.Option("--scale", help=f"With --gif: enlarge its frames this many times, nearest neighbour ({limits.GIF_SCALE}; the PNGs stay at the model's size).")]


def _err(message: str) -> None:
    typer.echo(f"error: {message}", err=True)


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A user's mistake (UserError) prints one line and exits 2; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            _err(str(e))
            raise typer.Exit(2) from None
        except OSError as e:
            if e.filename is None:  # not about a path the user named or a file ganstudio touches: a bug
                raise
            _err(f"cannot use {str(e.filename)[:200]}: {e.strerror or e}")  # e.g. a path too long for the filesystem
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _err("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def needs_train_extra(what: str) -> None:
    """Name the missing install in one line, before a torch import fails with a traceback."""
    import importlib.util

    for module in ("torch", "torchvision", "onnx", "onnxscript"):  # what the torch side takes from the extra
        try:
            if importlib.util.find_spec(module) is not None:
                continue
        except ImportError:
            pass
        raise UserError(f'{what} needs the train extra ({module} is missing): pip install "ganstudio[train]", or pip install -e ".[train]" in a checkout')


def warn_short_run(card) -> None:
    """Say so when an exported run is far too short to have learnt anything (train and export both do)."""
    from ganstudio.train.export import short_run_note

    if "steps" in card.training and (note := short_run_note(card.training["steps"])):
        typer.echo(f"warning: {note}", err=True)
