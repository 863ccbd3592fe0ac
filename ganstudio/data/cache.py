"""Decoded datasets cached on disk as .npy, so image files are decoded once, not at every run.

A cache file is named by dataset, image size, the folder the files came from and a fingerprint of those
files (relative names, sizes, mtimes): a changed folder gets a new cache file, and the stale one is removed.
Where: $GANSTUDIO_CACHE, else $XDG_CACHE_HOME/ganstudio, else ~/.cache/ganstudio.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console

from ganstudio.artifact import atomic
from ganstudio.errors import UserError

FORMAT = 1  # bump when decoding or resizing changes, so arrays made by older code are not reused


def cache_dir() -> Path:
    if env := os.environ.get("GANSTUDIO_CACHE"):
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ganstudio"


def fingerprint(root: Path, files: Sequence[Path]) -> str:
    """Changes when a file is added, removed, renamed, resized or touched (not a content hash: that is a read)."""
    h = hashlib.sha256(f"format {FORMAT}\n".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def cached(
    name: str, size: int, root: Path, files: Sequence[Path], build: Callable[[], np.ndarray], console: Console
) -> np.ndarray:
    """The array build() makes from files, built once per (name, size, root, fingerprint) and then read back."""
    prefix = f"{name}-{size}px-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]}-"
    path = cache_dir() / f"{prefix}{fingerprint(root, files)}.npy"
    images = _read(path, size)
    if images is not None:
        return images
    # One process decodes: torchrun's other ranks on this machine (or a second run started meanwhile) wait
    # here for its file and read it, rather than each decoding the whole dataset again.
    with _one_at_a_time(path):
        images = _read(path, size)
        if images is not None:
            return images
        t0 = time.perf_counter()
        images = build()
        if _write(path, images, console):
            console.print(f"{name}: {len(images):,} images at {size}px decoded in {time.perf_counter() - t0:.1f} s, cached in {path}", soft_wrap=True)
            for stale in path.parent.glob(f"{prefix}*.npy"):
                if stale != path:
                    stale.unlink(missing_ok=True)
                    stale.with_suffix(".lock").unlink(missing_ok=True)
    return images


@contextlib.contextmanager
def _one_at_a_time(path: Path) -> Iterator[None]:
    """An exclusive lock on path's .lock file for the block; no lock where the cache folder cannot be written
    (each process then decodes for itself) or the system has no flock (Windows)."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_suffix(".lock"), "a")
    except (ImportError, OSError):
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read(path: Path, size: int) -> np.ndarray | None:
    """The cached array, or None when there is none (or it is not one this code wrote)."""
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[2:] != (size, size):
        return None
    return images


def _write(path: Path, images: np.ndarray, console: Console) -> bool:
    """Atomically (a killed run never leaves half an array to be read later); False, with a warning, if it failed."""
    atomic.clean(path.parent)
    try:
        atomic.write_with(path, lambda f: np.save(f, images, allow_pickle=False))
    except UserError as e:
        console.print(f"[yellow]cannot cache decoded images ({e}): they will be decoded again next time", soft_wrap=True)
        return False
    return True
