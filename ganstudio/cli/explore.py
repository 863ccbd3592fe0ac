"""The exploring commands: sample (grids and sweeps), interpolate, walk, project (bring your own image). They import
no torch unless --backend torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ganstudio.cli.app import (
    BackendOpt,
    DeviceOpt,
    FpsOpt,
    GifOpt,
    ModelOpt,
    PsiOpt,
    ScaleOpt,
    SeedOpt,
    app,
    friendly,
    needs_train_extra,
)
from ganstudio.errors import UserError
from ganstudio.explore import limits


def _load(model: str | None, backend: str, device: str):
    """The generator on the backend the user asked for; torch is imported only for --backend torch."""
    if backend not in ("onnx", "torch"):
        raise UserError(f"--backend {backend[:40]!r}: use onnx or torch")
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device {device[:40]!r}: use auto, cpu or cuda")
    if backend == "torch":
        needs_train_extra("--backend torch")
        from ganstudio.train import torch_backend

        return torch_backend.load(model, device)
    from ganstudio.explore import runtime

    return runtime.load(model, device=device)  # type: ignore[arg-type]


def _write(rendered, png: Path, gif: bool, fps: float, scale: int) -> list[Path]:
    """The PNG (and the GIF beside it, its frames enlarged scale times); fps and scale were checked before anything was rendered."""
    from PIL import Image

    from ganstudio.explore import images

    written = [images.save_png(rendered.image, png, rendered.recipe)]
    if gif:
        frames = [f.resize((f.width * scale, f.height * scale), Image.Resampling.NEAREST) for f in rendered.gif_frames()]
        written.append(images.save_gif(frames, png.with_suffix(".gif"), rendered.recipe, fps))
    return written


def _check_gif(gif: bool, fps: float, scale: int) -> tuple[float, int]:
    """fps and --scale in range, and --scale only with --gif (the PNGs stay at the model's size)."""
    scale = int(limits.GIF_SCALE.check("--scale", scale))
    if scale != 1 and not gif:
        raise UserError(f"--scale {scale} enlarges the GIF: add --gif (the PNGs stay at the model's size)")
    return limits.FPS.check("--fps", fps), scale


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
    direction: Annotated[Optional[str], typer.Option("--direction", help="Sweep along this class direction (7, sandal; see `ganstudio directions`).")] = None,
    conditional: Annotated[bool, typer.Option("--conditional", help="With --direction: the other classes' directions projected out of it.")] = False,
    steps: Annotated[Optional[int], typer.Option("--steps", help=f"With --dim or --direction: frames per sweep ({limits.STEPS}; default 10).")] = None,
    value_range: Annotated[tuple[float, float], typer.Option("--range", help=f"Values the swept dimension takes, from..to (each in {limits.SWEEP_VALUE}; a direction's amount: {limits.DIRECTION}).")] = (-3.0, 3.0),
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Grid: a .png file. With --dim or --direction: a directory.")] = None,
    gif: GifOpt = False,
    fps: FpsOpt = 5.0,
    scale: ScaleOpt = 1,
    backend: BackendOpt = "onnx",
    device: DeviceOpt = "auto",
) -> None:
    """Draw a seeded grid of samples, or sweep single latent dimensions.

    Examples:

    * `ganstudio sample --seed 7 --n 64 --out grid.png` - an 8x8 grid of seeds 7..70

    * `ganstudio sample --dim 25 --steps 10` - 10 frames in which only dimension 25 moves (-3..+3), and a strip

    * `ganstudio sample --dim 25 --dim 50 --dim 75 --gif --scale 8` - one row per dimension, plus an animated GIF 8x enlarged

    * `ganstudio sample --direction 7 --steps 9` - 9 frames moving seed 0's image along "→ 7" (-3..+3)
    """
    from ganstudio.explore import images, latent, operations

    seed, psi = limits.SEED.check("--seed", seed), limits.PSI.check("--psi", psi)
    fps, scale = _check_gif(gif, fps, scale)
    if conditional and direction is None:
        raise UserError("--conditional goes with --direction NAME")
    if steps is not None and not dim and direction is None:
        raise UserError(f"--steps {steps} sets the frames of a sweep: it goes with --dim D or --direction NAME (a grid has --n images)")
    steps = 10 if steps is None else steps
    if direction is not None:
        if dim:
            raise UserError("--dim and --direction: sweep one or the other")
        steps = limits.STEPS.check("--steps", steps)
        lo, hi = (limits.DIRECTION.check("--range", x) for x in value_range)
        _check_range(lo, hi)
        _sweep_direction(_load(model, backend, device), model, direction, conditional, seed, psi, steps, lo, hi, out, gif, fps, scale)
        return
    gen = _load(model, backend, device)
    if not dim:
        rendered = operations.sample(gen, seed, limits.N.check("--n", n), psi)
        _done(_write(rendered, _png_path(out or Path("grid.png"), "grid.png"), gif, fps, scale))
        return
    steps, dim = limits.STEPS.check("--steps", steps), limits.check_dims("--dim", dim, gen.nz)
    lo, hi = (limits.SWEEP_VALUE.check("--range", x) for x in value_range)
    _check_range(lo, hi)
    rendered = operations.sweep(gen, operations.Vector.of_seed(seed, psi, gen.nz), dim, steps, lo, hi)
    folder = _frames_dir(out or Path("samples") / ("dim-" + "-".join(str(d) for d in dim)), "--dim")
    written = []
    for row, d in zip(rendered.frames, dim):
        for i, (frame, value) in enumerate(zip(row, latent.sweep_values(lo, hi, steps))):
            recipe = {**rendered.recipe, "frame": {"dim": d, "index": i, "value": round(float(value), 6)}}
            written.append(images.save_png(images.single(frame), folder / f"dim{d:03d}_{i:03d}.png", recipe))
    typer.echo(f"wrote {len(written)} frames to {folder}/")
    _done(_write(rendered, folder / "strip.png", gif, fps, scale))


def _check_range(lo: float, hi: float) -> None:
    if not lo < hi:
        raise UserError(f"--range {lo:g} {hi:g}: the first value must be below the second")


def _frames_dir(folder: Path, option: str) -> Path:
    if folder.suffix.lower() == ".png" or folder.is_file():
        raise UserError(f"--out {folder}: with {option}, --out is a directory for the frames")
    return folder


def _sweep_direction(gen, model: str | None, name: str, conditional: bool, seed: int, psi: float, steps: int,
                     lo: float, hi: float, out: Path | None, gif: bool, fps: float, scale: int) -> None:
    """`sample --direction NAME`: frames (each recipe naming its direction, amount and exact z) and the strip."""
    import re

    from ganstudio.explore import class_directions, images, latent, operations

    found = class_directions.of(gen.model, gen.nz, gen.sha256, model)
    if found is None:
        raise UserError(class_directions.none_yet(model or gen.model.name))
    start = operations.Vector.of_seed(seed, psi, gen.nz)
    rendered = found.sweep(gen, start, name, conditional, steps, lo, hi)
    method, j = rendered.recipe["method"], rendered.recipe["index"]
    direction = found.bases()[method][j]
    slug = re.sub(r"[^a-z0-9]+", "-", found.names[j].lower()).strip("-") + ("-cond" if conditional else "")
    folder = _frames_dir(out or Path("samples") / f"direction-{slug}", "--direction")
    written = []
    for i, (frame, value) in enumerate(zip(rendered.frames[0], latent.sweep_values(lo, hi, steps))):
        z = start.z + value * direction
        recipe = {**rendered.recipe, "frame": {"method": method, "direction": j, "index": i, "value": round(float(value), 6),
                                               "z": [float(x) for x in z]}}
        written.append(images.save_png(images.single(frame), folder / f"{slug}_{i:03d}.png", recipe))
    typer.echo(f"wrote {len(written)} frames to {folder}/")
    _done(_write(rendered, folder / "strip.png", gif, fps, scale))


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
    scale: ScaleOpt = 1,
    backend: BackendOpt = "onnx",
    device: DeviceOpt = "auto",
) -> None:
    """Interpolate between the latent vectors of two seeds.

    Example: `ganstudio interpolate --from 3 --to 9 --steps 16 --slerp --gif`
    """
    from ganstudio.explore import operations

    seed_from, seed_to = limits.SEED.check("--from", seed_from), limits.SEED.check("--to", seed_to)
    steps, psi = limits.STEPS.check("--steps", steps), limits.PSI.check("--psi", psi)
    fps, scale = _check_gif(gif, fps, scale)
    gen = _load(model, backend, device)
    start = operations.Vector.of_seed(seed_from, psi, gen.nz)
    rendered = operations.interpolate(gen, start, seed_to, steps, "slerp" if slerp else "lerp", psi)
    _done(_write(rendered, _png_path(out, "interpolation.png"), gif, fps, scale))


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
    scale: ScaleOpt = 1,
    backend: BackendOpt = "onnx",
    device: DeviceOpt = "auto",
) -> None:
    """A smooth random walk through latent space, starting at a seed's vector.

    Example: `ganstudio walk --seed 3 --steps 60 --gif`
    """
    from ganstudio.explore import operations

    seed, steps = limits.SEED.check("--seed", seed), limits.STEPS.check("--steps", steps)
    step_size, psi = limits.STEP_SIZE.check("--step-size", step_size), limits.PSI.check("--psi", psi)
    fps, scale = _check_gif(gif, fps, scale)
    gen = _load(model, backend, device)
    rendered = operations.walk(gen, operations.Vector.of_seed(seed, psi, gen.nz), steps, step_size)
    _done(_write(rendered, _png_path(out, "walk.png"), gif, fps, scale))


@app.command()
@friendly
def project(
    image: Annotated[Path, typer.Argument(help="An image file: PNG, JPEG, WebP, BMP, GIF... (anything Pillow opens).")],
    model: ModelOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The reconstruction, a .png file. Default: IMAGE-projected.png here.")] = None,
    steps: Annotated[int, typer.Option("--steps", help=f"Rounds of the search after the encoder's guess ({limits.PROJECT_ROUNDS}; 0: the guess alone).")] = limits.PROJECT_ROUNDS_DEFAULT,
    seed: Annotated[int, typer.Option("--seed", "-s", help=f"Seed of the search ({limits.SEED}).")] = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Find the latent vector whose image is closest to IMAGE, and write that image with its exact vector.

    The image is brought to the model's size and channels (centre square, resized, grey or colour), encoded
    by the model's encoder.onnx (`ganstudio encoder MODEL` builds it; without one the search starts from the
    nearest of many random samples, and says so), then refined by a seeded gradient-free search on the ONNX
    generator. The PNG's recipe carries the vector: drop it onto the studio to edit it.

    Examples: `ganstudio project digit.png`, `ganstudio project face.jpg --model emoji-dcgan --steps 100 --out me.png`
    """
    from ganstudio.explore import images, operations, projection

    steps, seed = limits.PROJECT_ROUNDS.check("--steps", steps), limits.SEED.check("--seed", seed)
    png = _png_path(out or Path(f"{image.stem}-projected.png"), f"{image.stem}-projected.png")
    gen = _load(model, "onnx", device)
    target = projection.read_image(image, gen.card.image_size, gen.card.channels)
    p = projection.project(gen, target, steps, seed)
    if p.note:
        typer.echo(f"note: {p.note}; the search started from the nearest of {limits.PROJECT_SAMPLES} random samples", err=True)
    rendered = operations.still(gen, projection.vector(p.z))
    recipe = {**rendered.recipe, "op": "project", "source": image.name[:200], "projection": {**p.recipe(), "seed": seed}}
    images.save_png(rendered.image, png, recipe)
    typer.echo(f"{image.name}: {p.summary()}")
    _done([png])
