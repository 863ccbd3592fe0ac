"""The real side of an eval: what it computes from real images alone, once per dataset, kept on disk.

An eval scores n samples against n reference images, beside n held-out images scored the same way. The
held-out baseline, the reference's k-NN radii and KID sums, the real features and the copying test's cells
and held-out distances depend on the data, the seed, n, the feature net and the settings, never on the
generator: they are computed at a dataset's first eval and read back by every later eval of any generator.

The cache file is named by a sha256 of everything that went in: the very images used and their order, the
net's file (sha256), how images are prepared for it (the prepared pixels of the first image of each part,
so a change to resizing or scaling is seen), the ONNX Runtime and numpy releases, the seed and every
setting the cached arrays depend on (k, the copying test's cells, pixels). Changed data, a changed net or
changed settings can never be served stale results; a file that does not read back whole is computed again.
Where: data.cache.cache_dir()/eval.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ganstudio.artifact import atomic
from ganstudio.data.cache import cache_dir
from ganstudio.errors import UserError
from ganstudio.eval import copying, metrics
from ganstudio.eval.features import FeatureNet

FORMAT = 3  # bump when what is computed here changes, so files written by older code are not read
MEMO = 4  # real sides kept in memory: a training run evaluates against the same one every eval_every steps
KEEP = 32  # files kept on disk, the least recently used removed first (one per dataset, n, seed and net)


@dataclass
class RealSide:
    reference: metrics.Reference
    held_f: np.ndarray  # held-out images' features (n, D)
    held_logits: np.ndarray | None  # their class logits, when the net is a classifier
    extra_f: np.ndarray | None  # features of the training images beyond the reference (memorisation)
    baseline: dict[str, float]  # held-out vs reference: what a perfect generator would score
    copy_f: copying.Side | None = None  # the copying test's cells and held-out distances in features (memorisation)
    copy_px: copying.Side | None = None  # the same in pixels

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"reference_{k}": v for k, v in self.reference.arrays().items()}
        out |= {"held_f": self.held_f, "baseline_keys": np.array(list(self.baseline)),
                "baseline_values": np.array(list(self.baseline.values()))}
        for k in ("held_logits", "extra_f"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        for space in ("copy_f", "copy_px"):
            side = getattr(self, space)
            if side is not None:
                out |= {f"{space}_{f.name}": getattr(side, f.name) for f in fields(copying.Side)}
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "RealSide":
        reference = metrics.Reference.from_arrays({k.removeprefix("reference_"): v for k, v in a.items() if k.startswith("reference_")})
        baseline = {str(k): float(v) for k, v in zip(a["baseline_keys"], a["baseline_values"])}
        sides = {space: copying.Side(**{f.name: a[f"{space}_{f.name}"] for f in fields(copying.Side)})
                 if f"{space}_centroids" in a else None for space in ("copy_f", "copy_px")}
        return cls(reference, a["held_f"], a.get("held_logits"), a.get("extra_f"), baseline, **sides)


def settings() -> str:
    """Every setting the cached arrays depend on, read when called (so a changed constant changes the key)."""
    import onnxruntime

    c = copying
    return (f"realside {FORMAT} k {metrics.K_PR} {metrics.K_DC} cells {c.HELD_PER_CELL} {c.MAX_CELLS} {c.KMEANS_ROUNDS} "
            f"pixels {c.PIXEL_SIDE} onnxruntime {onnxruntime.__version__} numpy {np.__version__}")


def key(net: FeatureNet, parts: dict[str, np.ndarray], run_settings: str) -> str:
    """sha256 of everything the real side depends on: the images themselves (each part, in order), the net
    and how images are prepared for it, the settings (run_settings: the eval's own, such as the seed)."""
    # the same graph can come as a shipped net (logits read) or as a user's --features file (not): both count
    h = hashlib.sha256(f"net {net.card.get('sha256')} logits {net.has_logits} input {net.input_shape} {settings()} "
                       f"{run_settings}\n".encode())
    for name, images in parts.items():
        h.update(f"{name} {images.shape} {images.dtype}\n".encode())
        h.update(np.ascontiguousarray(images).data)
        if len(images):  # what the net is fed: resizing, channels and scaling, as prepare() does them today
            h.update(np.ascontiguousarray(net.prepare(images[:1])).data)
    return h.hexdigest()


def compute(net: FeatureNet, ref: np.ndarray, held: np.ndarray, extra: np.ndarray | None, train_px: np.ndarray | None,
            held_px: np.ndarray | None, seed: int, tick: Callable[[str, int], None]) -> RealSide:
    """ref, held, extra: uint8 (N, C, H, W) (extra: the training images beyond the reference); train_px,
    held_px: copying.pixels() of every training image (reference first) and of the held-out images
    (None: no memorisation)."""
    ref_f, _ = net.run(ref)
    held_f, held_logits = net.run(held)
    extra_f = net.run(extra)[0] if extra is not None and len(extra) else None
    tick("featurise", 2 * len(held))
    reference = metrics.Reference(ref_f)
    baseline = reference.compare(held_f)
    copy_f = copy_px = None
    if train_px is not None and held_px is not None:
        train_f = ref_f if extra_f is None else np.concatenate([ref_f, extra_f])
        copy_f, copy_px = (copying.Side.of(train_f, held_f, seed, len(ref)), copying.Side.of(train_px, held_px, seed, len(ref)))
    return RealSide(reference, held_f, held_logits, extra_f, baseline, copy_f, copy_px)


_MEMO: dict[str, RealSide] = {}


def get(net: FeatureNet, parts: dict[str, np.ndarray], run_settings: str, make: Callable[[], RealSide],
        warn: Callable[[str], None] = lambda message: None) -> tuple[RealSide, str]:
    """(the real side of these images under these settings, "cache" or "computed"): from memory, from disk,
    else make() and keep it. run_settings: the eval's own values the real side depends on (seed, memorisation)."""
    name = key(net, parts, run_settings)
    if name in _MEMO:
        return _MEMO[name], "cache"
    path = cache_dir() / "eval" / f"{name[:32]}.npz"
    found, source = _read(path), "cache"
    if found is None:
        found, source = make(), "computed"
        try:
            atomic.write_with(path, lambda f: np.savez(f, **found.arrays()))
            _prune(path.parent)
        except UserError as e:
            warn(f"cannot cache the real side of this eval ({e}): the next eval computes it again")
    if len(_MEMO) >= MEMO:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[name] = found
    return found, source


def _read(path: Path) -> RealSide | None:
    """The cached real side, or None when there is none or it does not read back whole."""
    try:
        with np.load(path, allow_pickle=False) as z:
            side = RealSide.from_arrays({k: z[k] for k in z.files})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n = len(side.reference.real)
    if len(side.held_f) != n or len(side.reference.radii) != n or len(side.reference.kid_rows) != n:
        return None
    if any(s is not None and len(s.held_nn) != n for s in (side.copy_f, side.copy_px)):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept by _prune
    return side


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently used files."""
    files = sorted(folder.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
