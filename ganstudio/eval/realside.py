"""The real side of an eval: what it computes from real images alone, once per dataset, kept on disk.

An eval scores n samples against n reference images, beside n held-out images scored the same way. The
held-out baseline, the reference's k-NN radii and KID subsets, the real features and the held-out images'
nearest training images depend on the data, the seed, n and the feature net, never on the generator:
they are computed at a dataset's first eval and read back by every later eval of any generator on it.

The cache file is named by a sha256 of everything that went in (the very images used, their order, the
net's sha256, the seed and every setting), so changed data or a changed net can never be served stale
results; a file that does not read back whole is computed again. Where: data.cache.cache_dir()/eval.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganstudio.artifact import atomic
from ganstudio.data.cache import cache_dir
from ganstudio.errors import UserError
from ganstudio.eval import copying, metrics
from ganstudio.eval.features import FeatureNet

FORMAT = 2  # bump when what is computed here changes, so files written by older code are not read
MEMO = 4  # real sides kept in memory: a training run evaluates against the same one every eval_every steps
KEEP = 32  # files kept on disk, the least recently used removed first (one per dataset, n, seed and net)


@dataclass
class RealSide:
    reference: metrics.Reference
    held_f: np.ndarray  # held-out images' features (n, D)
    held_logits: np.ndarray | None  # their class logits, when the net is a classifier
    extra_f: np.ndarray | None  # features of the training images searched beyond the reference (memorisation)
    baseline: dict[str, float]  # held-out vs reference: what a perfect generator would score
    held_fd: np.ndarray  # each held-out image's squared feature distance to its nearest searched training image
    held_pd: np.ndarray | None  # the same in pixels (memorisation)
    mem_px: np.ndarray | None  # the searched training images' pixels, as the copying test compares them (memorisation)
    centroids: np.ndarray | None = None  # the copying test's k-means cells of the reference features (memorisation)

    def arrays(self, n_fake: int) -> dict[str, np.ndarray]:
        out = {f"reference_{k}": v for k, v in self.reference.arrays(n_fake).items()}
        out |= {"held_f": self.held_f, "held_fd": self.held_fd,
                "baseline_keys": np.array(list(self.baseline)), "baseline_values": np.array(list(self.baseline.values()))}
        for k in ("held_logits", "extra_f", "held_pd", "mem_px", "centroids"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "RealSide":
        reference = metrics.Reference.from_arrays({k.removeprefix("reference_"): v for k, v in a.items() if k.startswith("reference_")})
        baseline = {str(k): float(v) for k, v in zip(a["baseline_keys"], a["baseline_values"])}
        return cls(reference, a["held_f"], a.get("held_logits"), a.get("extra_f"), baseline, a["held_fd"], a.get("held_pd"),
                   a.get("mem_px"), a.get("centroids"))


def key(net: FeatureNet, parts: dict[str, np.ndarray], settings: str) -> str:
    """sha256 of everything the real side depends on: the images themselves (each part, in order), the net, the settings."""
    # the same graph can come as a shipped net (logits read) or as a user's --features file (not): both count
    h = hashlib.sha256(f"realside {FORMAT} net {net.card.get('sha256')} logits {net.has_logits} input {net.input_shape} {settings} "
                       f"k {metrics.K} kid {metrics.KID_SUBSETS}x{metrics.KID_SUBSET_SIZE}\n".encode())
    for name, images in parts.items():
        h.update(f"{name} {images.shape} {images.dtype}\n".encode())
        h.update(np.ascontiguousarray(images).data)
    return h.hexdigest()


def compute(net: FeatureNet, ref: np.ndarray, held: np.ndarray, extra: np.ndarray | None, held_px: np.ndarray | None,
            mem_px: np.ndarray | None, seed: int, tick: Callable[[str, int], None]) -> RealSide:
    """ref, held, extra: uint8 (N, C, H, W); held_px, mem_px: flat pixels for the copying test (None: no memorisation)."""
    ref_f, _ = net.run(ref)
    held_f, held_logits = net.run(held)
    extra_f = net.run(extra)[0] if extra is not None and len(extra) else None
    tick("featurise", 2 * len(held))
    reference = metrics.Reference(ref_f, seed)
    baseline, held_fd = reference.compare(held_f)
    held_pd, centroids = None, None
    if held_px is not None:
        if extra_f is not None:  # nearest training image: in the reference (from the k-NN pass) or beyond it
            held_fd = np.minimum(held_fd, metrics.nearest(held_f, extra_f)[1])
        held_pd = metrics.nearest(held_px, mem_px)[1]
        centroids = copying.partition(ref_f, len(held), seed)
    return RealSide(reference, held_f, held_logits, extra_f, baseline, held_fd, held_pd, mem_px, centroids)


_MEMO: dict[str, RealSide] = {}


def get(net: FeatureNet, parts: dict[str, np.ndarray], settings: str, make: Callable[[], RealSide], n_fake: int,
        warn: Callable[[str], None] = lambda message: None) -> tuple[RealSide, str]:
    """(the real side of these images under these settings, "cache" or "computed"): from memory, from disk,
    else make() and keep it. settings: every other value the real side depends on (seed, memorisation, ...)."""
    name = key(net, parts, settings)
    if name in _MEMO:
        return _MEMO[name], "cache"
    path = cache_dir() / "eval" / f"{name[:32]}.npz"
    found, source = _read(path), "cache"
    if found is None:
        found, source = make(), "computed"
        try:
            atomic.write_with(path, lambda f: np.savez(f, **found.arrays(n_fake)))
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
    if len(side.held_f) != n or len(side.held_fd) != n or len(side.reference.radii) != n:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept by _prune
    return side


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently used files."""
    files = sorted(folder.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
