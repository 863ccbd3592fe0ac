"""The `ganstudio` command: one job per command.

Sampling commands (sample, interpolate, walk, info) import only numpy, Pillow, rich and onnxruntime, so they
start in well under a second; torch is imported inside train and export (and --backend torch) only.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ganstudio.errors import UserError
from ganstudio.explore import limits  # the bounds every option's help and check quote (tiny, no numpy)

app = typer.Typer(
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
        except KeyboardInterrupt:
            _err("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _load(model: str | None, backend: str, device: str):
    """The generator on the backend the user asked for; torch is imported only for --backend torch."""
    if backend not in ("onnx", "torch"):
        raise UserError(f"--backend {backend[:40]!r}: use onnx or torch")
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device {device[:40]!r}: use auto, cpu or cuda")
    if backend == "torch":
        from ganstudio.train import torch_backend

        return torch_backend.load(model, device)
    from ganstudio.explore import runtime

    return runtime.load(model, device=device)  # type: ignore[arg-type]


def _write(r, png: Path, gif: bool, fps: float) -> list[Path]:
    """The PNG (and the GIF beside it); fps was checked before anything was rendered."""
    from ganstudio.explore import images

    written = [images.save_png(r.image, png, r.recipe)]
    if gif:
        written.append(images.save_gif(r.gif_frames(), png.with_suffix(".gif"), r.recipe, fps))
    return written


def _png_path(out: Path, default_name: str) -> Path:
    if out.is_dir():
        return out / default_name
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: expected a .png file (or an existing directory)")
    return out


def _done(paths: list[Path]) -> None:
    for p in paths:
        typer.echo(f"wrote {p}")


@app.command()
@friendly
def sample(
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    n: Annotated[int, typer.Option("--n", "-n", help=f"Number of images in the grid ({limits.N}).")] = 64,
    psi: PsiOpt = 1.0,
    dim: Annotated[Optional[list[int]], typer.Option("--dim", "-d", help="Sweep this latent dimension (repeat for one row per dimension).")] = None,
    steps: Annotated[int, typer.Option("--steps", help=f"Frames per swept dimension ({limits.STEPS}).")] = 10,
    value_range: Annotated[tuple[float, float], typer.Option("--range", help=f"Values the swept dimension takes, from..to (each in {limits.SWEEP_VALUE}).")] = (-3.0, 3.0),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Grid: a .png file. With --dim: a directory.")] = None,
    gif: GifOpt = False,
    fps: FpsOpt = 5.0,
    backend: BackendOpt = "onnx",
    device: DeviceOpt = "auto",
) -> None:
    """Draw a seeded grid of samples, or sweep single latent dimensions.

    Examples:

    * `ganstudio sample --seed 7 --n 64 --out grid.png` - an 8x8 grid of seeds 7..70

    * `ganstudio sample --dim 25 --steps 10` - 10 frames in which only dimension 25 moves (-3..+3), and a strip

    * `ganstudio sample --dim 25 --dim 50 --dim 75 --gif` - one row per dimension, plus an animated GIF
    """
    from ganstudio.explore import images, latent, operations

    seed, psi = limits.SEED.check("--seed", seed), limits.PSI.check("--psi", psi)
    fps = limits.FPS.check("--fps", fps)
    gen = _load(model, backend, device)
    if not dim:
        r = operations.sample(gen, seed, limits.N.check("--n", n), psi)
        _done(_write(r, _png_path(out or Path("grid.png"), "grid.png"), gif, fps))
        return
    steps, dim = limits.STEPS.check("--steps", steps), limits.check_dims("--dim", dim, gen.nz)
    lo, hi = (limits.SWEEP_VALUE.check("--range", x) for x in value_range)
    if not lo < hi:
        raise UserError(f"--range {lo:g} {hi:g}: the first value must be below the second")
    r = operations.sweep(gen, operations.Vector.of_seed(seed, psi, gen.nz), dim, steps, lo, hi)
    folder = out or Path("samples") / ("dim-" + "-".join(str(d) for d in dim))
    if folder.suffix.lower() == ".png" or folder.is_file():
        raise UserError(f"--out {folder}: with --dim, --out is a directory for the frames")
    written = []
    for row, d in zip(r.frames, dim):
        for i, (frame, value) in enumerate(zip(row, latent.sweep_values(lo, hi, steps))):
            recipe = {**r.recipe, "frame": {"dim": d, "index": i, "value": round(float(value), 6)}}
            written.append(images.save_png(images.single(frame), folder / f"dim{d:03d}_{i:03d}.png", recipe))
    typer.echo(f"wrote {len(written)} frames to {folder}/")
    _done(_write(r, folder / "strip.png", gif, fps))


@app.command()
@friendly
def interpolate(
    seed_from: Annotated[int, typer.Option("--from", help="Seed of the first image.")] = 0,
    seed_to: Annotated[int, typer.Option("--to", help="Seed of the last image.")] = 1,
    steps: Annotated[int, typer.Option("--steps", help=f"Images along the path, ends included ({limits.STEPS}).")] = 16,
    slerp: Annotated[bool, typer.Option("--slerp", help="Spherical interpolation (keeps |z| typical) instead of linear.")] = False,
    model: ModelOpt = None,
    psi: PsiOpt = 1.0,
    out: Annotated[Path, typer.Option("--out", "-o", help="The strip, a .png file.")] = Path("interpolation.png"),
    gif: GifOpt = False,
    fps: FpsOpt = 10.0,
    backend: BackendOpt = "onnx",
    device: DeviceOpt = "auto",
) -> None:
    """Interpolate between the latent vectors of two seeds.

    Example: `ganstudio interpolate --from 3 --to 9 --steps 16 --slerp --gif`
    """
    from ganstudio.explore import operations

    seed_from, seed_to = limits.SEED.check("--from", seed_from), limits.SEED.check("--to", seed_to)
    steps, psi, fps = limits.STEPS.check("--steps", steps), limits.PSI.check("--psi", psi), limits.FPS.check("--fps", fps)
    gen = _load(model, backend, device)
    start = operations.Vector.of_seed(seed_from, psi, gen.nz)
    r = operations.interpolate(gen, start, seed_to, steps, "slerp" if slerp else "lerp", psi)
    _done(_write(r, _png_path(out, "interpolation.png"), gif, fps))


@app.command()
@friendly
def walk(
    seed: SeedOpt = 0,
    steps: Annotated[int, typer.Option("--steps", help=f"Frames in the walk ({limits.STEPS}).")] = 60,
    step_size: Annotated[float, typer.Option("--step-size", help=f"How far each frame moves ({limits.STEP_SIZE}).")] = 0.08,
    model: ModelOpt = None,
    psi: PsiOpt = 1.0,
    out: Annotated[Path, typer.Option("--out", "-o", help="The frames as a grid, a .png file.")] = Path("walk.png"),
    gif: GifOpt = False,
    fps: FpsOpt = 15.0,
    backend: BackendOpt = "onnx",
    device: DeviceOpt = "auto",
) -> None:
    """A smooth random walk through latent space, starting at a seed's vector.

    Example: `ganstudio walk --seed 3 --steps 60 --gif`
    """
    from ganstudio.explore import operations

    seed, steps = limits.SEED.check("--seed", seed), limits.STEPS.check("--steps", steps)
    step_size, psi = limits.STEP_SIZE.check("--step-size", step_size), limits.PSI.check("--psi", psi)
    fps = limits.FPS.check("--fps", fps)
    gen = _load(model, backend, device)
    r = operations.walk(gen, operations.Vector.of_seed(seed, psi, gen.nz), steps, step_size)
    _done(_write(r, _png_path(out, "walk.png"), gif, fps))


@app.command()
@friendly
def info(
    model: Annotated[Optional[str], typer.Argument(help="A checkpoint name, model directory or file. Default: mnist-dcgan.")] = None,
    list_models: Annotated[bool, typer.Option("--list", help="List every generator found instead.")] = False,
) -> None:
    """Print a generator's card: architecture, latent space, images, data, training, metrics, files, parity.

    Examples: `ganstudio info mnist-dcgan`, `ganstudio info runs/mnist-dcgan`, `ganstudio info --list`
    """
    from ganstudio.artifact import catalog
    from ganstudio.artifact.describe import describe, list_table

    from rich.console import Console

    console = Console()
    if list_models:
        console.print(list_table(catalog.available()))
        return
    console.print(describe(catalog.resolve(model)))


@app.command()
@friendly
def train(
    what: Annotated[str, typer.Argument(help="A dataset (mnist), a recipe name (mnist-dcgan) or a recipe file (train/x.toml).")] = "mnist",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory. Default: runs/<recipe name>.")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Train this many steps (overrides epochs).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Train this many passes over the data.")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Where the dataset's files are (celeba, flowers, folder, ...). Default: $GANSTUDIO_DATA.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe value: --set lr_d=4e-4 (repeatable).")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue this run directory from its last checkpoint.")] = None,
) -> None:
    """Train a generator; the run directory gets checkpoints, sample grids, metrics, alerts, the exported model and report.html.

    Examples:

    * `ganstudio train mnist --out runs/mnist-dcgan` - DCGAN on 5,000 real MNIST digits, on the CPU

    * `ganstudio train mnist --steps 500 --set label_smoothing=0.1`

    * `ganstudio train --resume runs/mnist-dcgan` - continue exactly where a stopped run left off
    """
    from ganstudio.artifact import rundir
    from ganstudio.train import recipe as recipes

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
        r = recipes.with_overrides(recipes.from_dict(meta["recipe"]), sets)
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
    typer.echo(f"onnx parity: max abs diff {card.parity['max_abs_diff']:.2e}")
    typer.echo(f"report: {run_dir / 'report.html'}")


@app.command()
@friendly
def export(
    run: Annotated[Path, typer.Argument(help="A training run directory (or a model directory to re-export).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write. Default: the run directory itself.")] = None,
) -> None:
    """Export a run's generator: generator.safetensors + generator.onnx + card.json + grid.png (+ a run's report.html).

    The ONNX graph is checked against torch at batch 1, 7 and 64; export fails if they differ by more than 1e-4.

    Example: `ganstudio export runs/mnist-dcgan`
    """
    if not run.is_dir():
        raise UserError(f"{run}: no such run directory")
    from ganstudio.artifact import rundir
    from ganstudio.train.export import export_run

    card = export_run(run, out)
    typer.echo(f"exported {out or run}/ (onnx vs torch max abs diff {card.parity['max_abs_diff']:.2e}, tolerance {card.parity['tolerance']:g})")
    if (report := (out or run) / rundir.REPORT_FILE).is_file():
        typer.echo(f"report: {report}")


@app.command()
@friendly
def coverage(
    model: Annotated[Optional[str], typer.Argument(help="A checkpoint name, model directory or file. Default: mnist-dcgan.")] = None,
    n: Annotated[int, typer.Option("--n", help="Samples to label (100..20000), seeds --seed onwards.")] = 2000,
    seed: SeedOpt = 0,
    data: Annotated[Optional[str], typer.Option("--data", help="Where the dataset is, if not where `train` finds it.")] = None,
    record: Annotated[bool, typer.Option("--record", help="Write the finding into the model's card (re-exports it).")] = False,
) -> None:
    """Mode coverage: which classes does the generator draw? (mnist and fashion-mnist models; needs the train extra)

    A small CNN is trained on the dataset's labelled images, then labels n samples. A class drawn at under a
    fifth of its share of the data is reported as dropped, under half as under-drawn.

    Example: `ganstudio coverage mnist-mlp --record`
    """
    if not 100 <= n <= 20000:
        raise UserError(f"--n {n} is out of range: use 100..20000")
    from rich.console import Console
    from rich.table import Table

    from ganstudio.artifact import catalog
    from ganstudio.explore import runtime
    from ganstudio.train.coverage import NOTE_PREFIX, measure

    found = catalog.resolve(model)
    result = measure(runtime.load(found.path), n, seed, data)
    table = Table("class", "share of samples", "share of data", title=f"{found.name}: {n:,} samples")
    for name, share, want in zip(result.names, result.share, result.data_share):
        mark = "  [red]dropped[/]" if name in result.dropped else "  [yellow]under-drawn[/]" if name in result.under_drawn else ""
        table.add_row(name, f"{share:.1%}{mark}", f"{want:.1%}")
    table.add_row("unrecognisable", f"{result.unrecognisable:.1%}", "")
    console = Console()
    console.print(table)
    console.print(result.note())
    if record:
        from ganstudio.train.export import annotate

        annotate(found.path, result.note(), result.metrics(), replaces=NOTE_PREFIX)
        console.print(f"recorded in {found.path / 'card.json'}")


@app.command()
@friendly
def serve(
    model: ModelOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind (127.0.0.1 keeps it on this machine).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    share: Annotated[bool, typer.Option("--share", help="Ask Gradio for a public share link.")] = False,
) -> None:
    """Open the browser studio: sample, sweep dimensions, find directions, interpolate, walk.

    Example: `ganstudio serve` then open http://127.0.0.1:7860
    """
    # Gradio imports IPython (its notebook magics) and matplotlib (to switch plot backends around every
    # request) whenever they are installed: a tenth of the start-up, and CPU on every request (docs/performance.md). This process is
    # never a notebook and draws no plots, so those imports fail here as they would without the packages.
    for unused in ("IPython", "matplotlib"):
        sys.modules.setdefault(unused, None)  # type: ignore[arg-type]
    from ganstudio.studio.app import launch

    launch(model=model, host=host, port=port, share=share)


def main() -> None:
    app(prog_name="ganstudio")


if __name__ == "__main__":
    sys.exit(main())
