"""Training recipes: typed defaults live here; a recipe file (train/*.toml) holds only what differs.

Unknown keys are refused, values are type-checked, and invalid combinations are checked in one place
(`Recipe.check`), so a typo fails before any compute is spent.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from ganstudio.catalog import REPO_ROOT
from ganstudio.errors import UserError

RECIPE_DIRS = (Path.cwd() / "train", REPO_ROOT / "train")
# The recipe `ganstudio train DATASET` uses.
DEFAULT_RECIPES = {
    "mnist": "mnist-dcgan",
    "fashion-mnist": "fashion-mnist-dcgan",
    "celeba": "celeba-dcgan",
    "flowers": "flowers-dcgan",
    "emoji": "emoji-dcgan",
}
IMAGE_SIZES = (28, 32, 64, 128)  # the sizes models.py builds (kept here so checking a recipe needs no torch)
MAX_STEPS = 10_000_000


@dataclass(frozen=True)
class Recipe:
    # what to learn
    dataset: str = "mnist"
    data: str = ""  # local path for datasets that are not shipped (celeba, flowers, folder)
    image_size: int = 0  # 0 = the dataset's native size (28 for the MNISTs, 64 for photos and emoji)
    # the model
    model: str = "dcgan"  # dcgan (non-saturating or minimax loss) | mlp
    nz: int = 100  # latent size
    ngf: int = 64  # generator width at its last hidden layer
    ndf: int = 64  # discriminator width at its first layer
    # the optimisation (DCGAN paper: Adam 2e-4, beta1 0.5, batch 64)
    loss: str = "nonsaturating"  # nonsaturating | minimax (generator objective)
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    label_smoothing: float = 0.0  # one-sided: real labels become 1 - this (0.1 -> 0.9)
    ema_decay: float = 0.999  # EMA of G's weights (0 turns it off); the EMA generator is what gets exported
    # how long, and how often to look
    epochs: int = 20
    steps: int = 0  # if > 0, overrides epochs
    seed: int = 0
    log_every: int = 25  # steps between metric rows (one host sync each)
    sample_every: int = 250  # steps between fixed-z sample grids (kept, as a timeline)
    checkpoint_every: int = 500  # steps between atomic training-state checkpoints
    keep_checkpoints: int = 2
    # where
    device: str = "auto"  # auto | cpu | cuda

    def check(self) -> "Recipe":
        """Every rule about combinations, in one place."""
        if self.model not in ("dcgan", "mlp"):
            raise UserError(f"model {self.model!r} is not one of dcgan, mlp")
        if self.loss not in ("nonsaturating", "minimax"):
            raise UserError(f"loss {self.loss!r} is not one of nonsaturating, minimax")
        if not 0 <= self.steps <= MAX_STEPS:
            raise UserError(f"steps {self.steps} is out of range: use 1..{MAX_STEPS:,} (or 0 to use epochs)")
        if self.steps == 0 and not 1 <= self.epochs <= 100_000:
            raise UserError(f"epochs {self.epochs} is out of range: use 1..100000")
        if not 1 <= self.batch_size <= 4096:
            raise UserError(f"batch_size {self.batch_size} is out of range: use 1..4096")
        if not 0 <= self.label_smoothing < 0.5:
            raise UserError(f"label_smoothing {self.label_smoothing} is out of range: use 0 <= x < 0.5")
        if not 0 <= self.ema_decay < 1:
            raise UserError(f"ema_decay {self.ema_decay} is out of range: use 0 <= x < 1")
        for k in ("nz", "ngf", "ndf", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, k) < 1:
                raise UserError(f"{k} must be at least 1")
        for k in ("lr_g", "lr_d"):
            if not 0 < getattr(self, k) < 1:
                raise UserError(f"{k} {getattr(self, k)} is out of range: use 0 < lr < 1")
        if self.image_size and self.image_size not in IMAGE_SIZES:
            raise UserError(f"image_size {self.image_size} is not one of {', '.join(map(str, IMAGE_SIZES))} (or 0: the dataset's own)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"device {self.device!r} is not one of auto, cpu, cuda")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def coerce(key: str, value: Any) -> Any:
    """A value of the field's type: TOML values as they are, --set strings parsed."""
    hints = get_type_hints(Recipe)
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(Recipe))
        raise UserError(f"unknown recipe key {key!r} (known: {known})")
    typ = hints[key]
    if isinstance(value, str) and typ is not str:
        if typ is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise UserError(f"{key}={value!r}: expected true or false")
            return value.lower() in ("true", "1")
        try:
            return typ(value)
        except ValueError:
            raise UserError(f"{key}={value!r}: expected {typ.__name__}") from None
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise UserError(f"{key}={value!r}: expected {typ.__name__}")
    return value


def find(spec: str) -> Path | None:
    """A recipe file from a path, a recipe name (mnist-dcgan) or a dataset name (mnist); None if none."""
    path = Path(spec)
    if path.suffix == ".toml":
        if not path.is_file():
            raise UserError(f"{spec}: no such recipe file")
        return path
    name = DEFAULT_RECIPES.get(spec, spec)
    for d in RECIPE_DIRS:
        if (d / f"{name}.toml").is_file():
            return d / f"{name}.toml"
    return None


def load(spec: str, overrides: list[str] | None = None) -> Recipe:
    """Defaults <- recipe file <- --set key=value overrides, then checked."""
    values: dict[str, Any] = {}
    path = find(spec)
    if path is not None:
        try:
            values = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{path}: not valid TOML ({e})") from None
    elif spec in DEFAULT_RECIPES or spec.endswith(".toml"):
        raise UserError(f"recipe for {spec!r} not found in {', '.join(map(str, RECIPE_DIRS))}")
    else:
        values = {"dataset": spec}  # a dataset without a recipe file trains on the defaults
    return with_overrides(Recipe(**{k: coerce(k, v) for k, v in values.items()}), overrides or [])


def with_overrides(base: Recipe, overrides: list[str]) -> Recipe:
    """base with `key=value` strings applied (from --set, --steps, ...), then checked."""
    values = base.to_dict()
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected key=value")
        values[key.strip()] = coerce(key.strip(), value.strip())
    return Recipe(**values).check()


def from_dict(values: dict[str, Any]) -> Recipe:
    """A recipe saved in a checkpoint, type-checked like any other."""
    return Recipe(**{k: coerce(k, v) for k, v in values.items()}).check()


def run_name(spec: str, r: Recipe) -> str:
    """Default run directory name: the recipe file's name, else dataset-model."""
    return Path(spec).stem if spec.endswith(".toml") else f"{r.dataset}-{r.model}"
