"""Image files -> one uint8 array (N, 3, size, size): centre-cropped, resized, RGB, transparency on white.

Decoding photos is the slow part of training on them, so it is done once (see datacache.py) and fast:
JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale when that is still at least the target size, and Pillow
releases the GIL while decoding and resizing, so a small thread pool uses every core without pickling.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ganstudio.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
JPEG = (".jpg", ".jpeg")
RESAMPLE = Image.Resampling.LANCZOS  # antialiased, for both shrinking photos and enlarging small digits
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)  # what Pillow raises on bad files
CHUNK = 256  # images per progress update


def list_images(folder: Path, extensions: Sequence[str] = EXTENSIONS, recursive: bool = False) -> list[Path]:
    """Image files in folder (by extension, any case), sorted; hidden files and folders are skipped."""
    found: list[Path] = []
    stack = [folder]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue  # ._name.jpg AppleDouble files are not images
                if e.is_dir():
                    if recursive:
                        stack.append(Path(e.path))
                elif e.name.lower().endswith(tuple(extensions)):
                    found.append(Path(e.path))
    return sorted(found)


def decode(path: Path, size: int) -> np.ndarray:
    """One image as (3, size, size) uint8: upright (EXIF), on white, centre square crop, resized."""
    with Image.open(path) as im:
        im.draft("RGB", (size, size))  # JPEG only: decode straight at a reduced scale that is still >= size
        ImageOps.exif_transpose(im, in_place=True)
        im = on_white(im)
        w, h = im.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        im = im.resize((size, size), RESAMPLE, box=box)
    return np.asarray(im).transpose(2, 0, 1)


def on_white(im: Image.Image) -> Image.Image:
    """RGB; an image with transparency (RGBA, LA, or a palette with a transparent index) composited on white."""
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return im.convert("RGB")


def _decode_or_none(path: Path, size: int) -> np.ndarray | BaseException:
    try:
        return decode(path, size)
    except UNREADABLE as e:
        return e


def _chunks(files: Sequence[Path]) -> Iterator[Sequence[Path]]:
    for i in range(0, len(files), CHUNK):
        yield files[i : i + CHUNK]


def check_memory(name: str, n: int, size: int, channels: int = 3) -> None:
    """Refuse, before hours of decoding, a dataset that cannot be held in memory (training keeps it there)."""
    need = n * channels * size * size
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return  # not knowable here (non-POSIX): let it run
    if need > have // 2:
        raise UserError(
            f"{name}: {n:,} images at {size}px need {need / 2**30:.1f} GiB in memory, more than half of this "
            f"machine's {have / 2**30:.1f} GiB: use a smaller image_size or fewer images"
        )


def decode_all(name: str, files: Sequence[Path], size: int, console: Console) -> np.ndarray:
    """Every file decoded (threads, progress bar); unreadable files are skipped and counted, not fatal."""
    check_memory(name, len(files), size)
    out = np.empty((len(files), 3, size, size), np.uint8)
    keep = np.zeros(len(files), bool)
    bad: list[tuple[Path, BaseException]] = []
    columns = [TextColumn(f"[bold]decode {name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress, ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        task = progress.add_task("decode", total=len(files))
        i = 0
        for chunk in _chunks(files):
            for path, result in zip(chunk, pool.map(_decode_or_none, chunk, [size] * len(chunk))):
                if isinstance(result, np.ndarray):
                    out[i], keep[i] = result, True
                else:
                    bad.append((path, result))
                i += 1
            progress.advance(task, len(chunk))
    if bad:
        path, err = bad[0]
        if len(bad) == len(files):
            raise UserError(f"{name}: none of the {len(files):,} images could be read (first: {path}: {err})")
        console.print(f"[yellow]{name}: skipped {len(bad):,} unreadable image(s) of {len(files):,} (first: {path}: {err})")
    return out if keep.all() else out[keep]


def resize_all(images: np.ndarray, size: int) -> np.ndarray:
    """(N, C, h, w) uint8 -> (N, C, size, size), every image resized by Pillow (antialiased); C is 1 or 3."""
    n, c = images.shape[:2]
    out = np.empty((n, c, size, size), np.uint8)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[0] if c == 1 else image.transpose(1, 2, 0))
        resized = np.asarray(pil.resize((size, size), RESAMPLE))
        out[i] = resized[None] if c == 1 else resized.transpose(2, 0, 1)
    return out
