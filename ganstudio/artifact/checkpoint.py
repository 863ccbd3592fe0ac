"""The generator checkpoint: safetensors weights with the card in their metadata. Readable without torch.

A checkpoint directory holds
    generator.safetensors  weights; metadata["ganstudio.card"] is the card, metadata["ganstudio.tensors"]
                           the manifest {name: shape} the weights must match exactly
    generator.onnx         the same generator as an ONNX graph (dynamic batch); its sha256 is in the card
    card.json              the card again, plus the sha256 of generator.safetensors, for people and tools
    grid.png               a sample grid

Like stylegan3's `legacy` loader, the reader is strict: anything that is not exactly one of ours is refused
with one line naming the problem. Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganstudio.artifact import atomic
from ganstudio.errors import UserError

FORMAT = "ganstudio-generator"
FORMAT_VERSION = 1
WEIGHTS = "generator.safetensors"
GRAPH = "generator.onnx"
CARD = "card.json"
GRID = "grid.png"

ARCHITECTURES = ("dcgan", "mlp")
# The hyper-parameters each architecture's constructor takes; the card must give exactly these.
ARCH_PARAMS = {
    "dcgan": ("nz", "ngf", "image_size", "channels"),
    "mlp": ("nz", "hidden", "image_size", "channels"),
}
# What any architecture may add: a class-coded generator's class count (z's first `classes` entries pick one).
ARCH_OPTIONAL = ("classes",)
Number = (int, float)
# The card's training entries that readers format (`info`, the report): each, when present, must be of its type.
TRAINING_TYPES: dict[str, type | tuple[type, ...]] = {
    "steps": int, "epochs": Number, "images_seen": int, "seconds": Number, "device": str, "precision": str, "exported": str,
    "date": str, "ganstudio_version": str, "recipe": dict,
}


@dataclass(frozen=True)
class Card:
    """Everything needed to use a generator without the code or the recipe that trained it."""

    architecture: dict[str, Any]  # {"name": "dcgan", "nz": 100, "ngf": 64, "image_size": 28, "channels": 1}
    output_range: tuple[float, float]  # what the last activation spans: (-1, 1) for tanh, (0, 1) for sigmoid
    dataset: str
    latent_distribution: str = "normal"  # z ~ N(0, I); see ganstudio.latent for the seed recipe
    training: dict[str, Any] = field(default_factory=dict)  # steps, epochs, seconds, device, recipe, date
    metrics: dict[str, Any] = field(default_factory=dict)  # last logged monitors
    notes: str = ""  # what a person should know (e.g. a digit the generator never draws)
    parity: dict[str, Any] = field(default_factory=dict)  # ONNX vs torch max abs difference per batch size
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def name(self) -> str:
        return self.architecture["name"]

    @property
    def nz(self) -> int:
        return int(self.architecture["nz"])

    @property
    def classes(self) -> int:
        """A class-coded generator's class count (z's first `classes` entries pick one); 0 otherwise."""
        return int(self.architecture.get("classes", 0))

    @property
    def image_size(self) -> int:
        return int(self.architecture["image_size"])

    @property
    def channels(self) -> int:
        return int(self.architecture["channels"])

    def replace(self, **changes: Any) -> "Card":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["output_range"] = list(self.output_range)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any, source: str) -> "Card":
        """Validate strictly: wrong format or version, unknown or missing keys, bad values are refused."""
        if not isinstance(d, dict):
            raise UserError(f"{source}: the card is not a JSON object")
        if d.get("format") != FORMAT:
            raise UserError(f"{source}: not a ganstudio generator (card format {d.get('format')!r})")
        if d.get("format_version") != FORMAT_VERSION:
            raise UserError(
                f"{source}: card format version {d.get('format_version')!r} is not supported "
                f"(this ganstudio reads version {FORMAT_VERSION})"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"{source}: the card has unknown keys {unknown}")
        span = d.get("output_range")
        if not (isinstance(span, list) and len(span) == 2 and all(_is(v, Number) for v in span)):
            raise UserError(f"{source}: the card's output_range must be [low, high], got {_short(span)}")
        try:
            card = cls(**{**d, "output_range": (float(span[0]), float(span[1]))})
        except (TypeError, KeyError, ValueError) as e:
            raise UserError(f"{source}: the card is incomplete or malformed ({e})") from None
        _check_architecture(card.architecture, source)
        _check_fields(card, source)
        lo, hi = card.output_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise UserError(f"{source}: the card's output_range {card.output_range} is not an interval")
        if card.latent_distribution != "normal":
            raise UserError(f"{source}: latent distribution {card.latent_distribution!r} is not supported")
        return card


def _check_architecture(arch: Any, source: str) -> None:
    if not isinstance(arch, dict) or arch.get("name") not in ARCHITECTURES:
        name = arch.get("name") if isinstance(arch, dict) else arch
        raise UserError(f"{source}: unknown architecture {name!r} (known: {', '.join(ARCHITECTURES)})")
    want = set(ARCH_PARAMS[arch["name"]])
    have = set(arch) - {"name"}
    if not want <= have <= want | set(ARCH_OPTIONAL):
        raise UserError(f"{source}: architecture {arch['name']} needs exactly {sorted(want)} (and optionally "
                        f"{', '.join(ARCH_OPTIONAL)}), got {sorted(have)}")
    for k in have:
        if not isinstance(arch[k], int) or isinstance(arch[k], bool) or arch[k] <= 0:
            raise UserError(f"{source}: architecture parameter {k}={arch[k]!r} must be a positive integer")
    if not 2 <= arch.get("classes", 2) <= arch["nz"]:
        raise UserError(f"{source}: classes={arch['classes']} must be 2..nz ({arch['nz']}): z's first entries code the class")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is(value: Any, types: type | tuple[type, ...]) -> bool:
    """isinstance, but a bool is not a number here (JSON true is not a step count)."""
    return isinstance(value, types) and not isinstance(value, bool)


def _check_fields(card: Card, source: str) -> None:
    """Every nested field has the shape its readers expect, so a malformed card fails here, in one line."""
    for name in ("dataset", "notes"):
        if not isinstance(getattr(card, name), str):
            raise UserError(f"{source}: the card's {name} must be a string")
    tr = card.training
    if not isinstance(tr, dict) or any(k in tr and not _is(tr[k], t) for k, t in TRAINING_TYPES.items()):
        raise UserError(f"{source}: the card's training record is malformed (expected {{steps: int, seconds: number, ...}})")
    m = card.metrics
    if not isinstance(m, dict) or not all(_is(v, Number) for v in m.values()):
        raise UserError(f"{source}: the card's metrics must map names to numbers")
    p = card.parity
    per_batch = p.get("per_batch") if isinstance(p, dict) else None
    if not isinstance(p, dict) or (p and not (
        _is(p.get("max_abs_diff"), Number) and _is(p.get("tolerance"), Number)
        and isinstance(per_batch, dict) and all(_is(v, Number) for v in per_batch.values())
    )):
        raise UserError(f"{source}: the card's parity record is malformed (expected max_abs_diff, tolerance, per_batch)")
    if not isinstance(card.files, dict) or not all(isinstance(v, str) for v in card.files.values()):
        raise UserError(f"{source}: the card's files must map file names to sha256 strings")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(path: str | Path, card: Card, tensors: dict[str, np.ndarray]) -> Path:
    """Write weights + card atomically. Tensors must be finite float32 arrays."""
    from safetensors.numpy import save

    for name, t in tensors.items():
        if t.dtype != np.float32 or not np.isfinite(t).all():
            raise ValueError(f"tensor {name} must be finite float32")
    manifest = {name: list(t.shape) for name, t in tensors.items()}
    metadata = {"ganstudio.card": card.to_json(), "ganstudio.tensors": json.dumps(manifest, sort_keys=True)}
    data = save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)
    return atomic.write_bytes(path, data)


def read_header(path: Path) -> tuple[Card, dict[str, list[int]]]:
    """Read and validate the header only: card, manifest and the file's real tensor shapes."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            shapes = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
            dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable safetensors file ({e}); is it truncated or a pickle?") from None
    if "ganstudio.card" not in meta or "ganstudio.tensors" not in meta:
        raise UserError(f"{path}: a safetensors file, but not a ganstudio generator (no card in its metadata)")
    try:
        card_dict = json.loads(meta["ganstudio.card"])
        manifest = json.loads(meta["ganstudio.tensors"])
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: the card in its metadata is not valid JSON ({e})") from None
    card = Card.from_dict(card_dict, str(path))
    missing = sorted(set(manifest) - set(shapes))
    extra = sorted(set(shapes) - set(manifest))
    if missing or extra:
        raise UserError(f"{path}: tensors do not match the card's manifest (missing {missing}, extra {extra})")
    for name, shape in shapes.items():
        if shape != manifest[name]:
            raise UserError(f"{path}: tensor {name} has shape {shape}, the manifest says {manifest[name]}")
        if dtypes[name] != "F32":
            raise UserError(f"{path}: tensor {name} is {dtypes[name]}, expected F32")
    return card, manifest


def read_card(path: str | Path) -> Card:
    """The card of a weights file, validated, reading only the header (fast, for `info` and the app)."""
    return read_header(Path(path))[0]


def load_weights(path: str | Path) -> tuple[Card, dict[str, np.ndarray]]:
    """Card and tensors, strictly checked: manifest, dtype, and every value finite."""
    from safetensors.numpy import load_file

    path = Path(path)
    card, _ = read_header(path)
    tensors = load_file(str(path))
    bad = sorted(name for name, t in tensors.items() if not np.isfinite(t).all())
    if bad:
        raise UserError(f"{path}: tensors {bad} contain NaN or Inf; this generator is broken")
    return card, tensors


def write_card_json(directory: Path, card: Card) -> Path:
    """card.json: the card plus the sha256 of every file in the set, for humans and other tools."""
    files = dict(card.files)
    files[WEIGHTS] = sha256_file(directory / WEIGHTS)
    return atomic.write_text(directory / CARD, card.replace(files=files).to_json() + "\n")
