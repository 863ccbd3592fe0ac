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

from ganstudio import shipped
from ganstudio.errors import UserError

# ./train, then the shipped recipes (train/*.toml at the checkout's root, or the wheel's copy).
RECIPE_DIRS = (Path.cwd() / "train", shipped.RECIPES)
# The recipe `ganstudio train DATASET` uses.
DEFAULT_RECIPES = {
    "mnist": "mnist-dcgan",
    "fashion-mnist": "fashion-mnist-wgangp",  # the choice; fashion-mnist-dcgan is there by name
    "celeba": "celeba-dcgan",
    "flowers": "flowers-dcgan",
    "emoji": "emoji-dcgan",
}
# What `--resume` may change: how long the run goes on, where it runs, where its data lies, how often it saves
# and samples, and how many rollbacks it may spend. Every other key defines the run itself (data, model,
# objective, optimiser, seed, and log_every, the rows the watchdog reads), which a resume must continue exactly.
RESUMABLE = ("steps", "epochs", "device", "data", "sample_every", "checkpoint_every", "keep_checkpoints", "max_rollbacks")
IMAGE_SIZES = (28, 32, 64, 128)  # the sizes models.py builds (kept here so checking a recipe needs no torch)
MAX_STEPS = 10_000_000
MAX_SEED = 2**32 - 1  # the loop derives other seeds from it (seed * 1_000_003 + epoch) that torch must accept
MAX_NZ = 1024
AUGMENTS = ("translation", "cutout")  # the DiffAugment operations tricks.DiffAugment has
# Widths beyond these allocate tens of GB: a DCGAN's widest layer has 8x ngf channels, an MLP's is ngf wide.
MAX_WIDTH = {"dcgan": 512, "wgan-gp": 512, "mlp": 16384}
MODELS = ("dcgan", "wgan-gp", "mlp")
DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: CUDA when torch sees a GPU, else the CPU
LABELLED = ("mnist", "fashion-mnist")  # the datasets whose loaders give labels (class_code needs them)
CLASSES = 10  # how many labels each of them has
# What a recipe gets from naming its model, unless it sets the key itself: `make` and `load` put these under
# the recipe's own values. WGAN-GP follows Gulrajani et al. (2017), Algorithm 1.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
}
# critic_norm = "auto" means: BatchNorm in the DCGAN D, LayerNorm in the WGAN-GP critic (the penalty is
# per sample, so a critic must not mix samples through batch statistics), none in the notebook's MLP D.
AUTO_NORM = {"dcgan": "batch", "wgan-gp": "layer", "mlp": "none"}


@dataclass(frozen=True)
class Recipe:
    # what to learn
    dataset: str = "mnist"
    data: str = ""  # local path for datasets that are not shipped (celeba, flowers, folder)
    image_size: int = 0  # 0 = the dataset's native size (28 for the MNISTs, 64 for photos and emoji)
    # the model
    model: str = "dcgan"  # dcgan | wgan-gp (DCGAN G, critic without BatchNorm) | mlp (the MNIST notebook's)
    nz: int = 100  # latent size
    ngf: int = 64  # generator width at its last hidden layer (mlp: G's hidden width, notebook 1200)
    ndf: int = 64  # discriminator width at its first layer (mlp: D's hidden width, notebook 200)
    critic_norm: str = "auto"  # D's normalisation: auto (see AUTO_NORM) | batch | layer | none
    spectral_norm: bool = False  # divide each D weight by its largest singular value (Miyato et al.)
    minibatch_std: bool = False  # dcgan/wgan-gp D also sees its batch's feature spread (Karras et al. 2018): look-alikes show
    class_code: bool = False  # labelled data: z's largest of its first K entries picks a class G draws, D judges each image with its class
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics of the global batch, not each process's shard
    # the objective
    loss: str = "nonsaturating"  # dcgan/mlp generator objective: nonsaturating | minimax
    label_smoothing: float = 0.0  # one-sided: real labels become 1 - this (0.1 -> 0.9); dcgan/mlp
    n_critic: int = 1  # D steps per G step, each on its own real batch and fresh fakes (wgan-gp: 5)
    gp_weight: float = 10.0  # wgan-gp: lambda of the gradient penalty on random real/fake interpolates
    feature_matching: float = 0.0  # weight of |mean f(real) - mean f(fake)|^2 (D's last hidden features) in G's loss
    feature_matching_ramp: int = 0  # steps over which that weight ramps up from 0: the adversarial term leads early
    feature_matching_only: bool = False  # G trains on feature matching alone (Salimans et al.) instead of adding it
    mode_seeking: float = 0.0  # weight of 1 / (image distance / latent distance) over pairs in G's loss (Mao et al. 2019); 0 = off
    mode_seeking_axis: float = 0.0  # the same over axis pairs: a latent and itself with one dimension redrawn (extra G rows); 0 = off
    instance_noise: float = 0.0  # sigma of Gaussian noise on every D input (real and fake) at step 0; 0 = off
    instance_noise_steps: int = 0  # steps over which that sigma decays linearly to 0
    augment: str = ""  # DiffAugment of every image D sees: "translation", "cutout", "translation,cutout"; "" = off
    ema_decay: float = 0.999  # EMA of G's weights (0 turns it off); the EMA generator is what gets exported
    # the optimisation (DCGAN paper: Adam 2e-4, beta1 0.5, batch 64)
    optimizer: str = "adam"  # adam | sgd (with momentum, as the MNIST notebook)
    batch_size: int = 64
    lr_g: float = 2e-4  # two time-scales (TTUR): a faster D, e.g. lr_d 4e-4, lr_g 1e-4
    lr_d: float = 2e-4
    beta1: float = 0.5  # adam
    beta2: float = 0.999  # adam
    momentum: float = 0.5  # sgd: momentum at step 0 ...
    momentum_final: float = 0.7  # sgd: ... reached linearly at momentum_ramp_steps (notebook: 0.5 -> 0.7 over 250)
    momentum_ramp_steps: int = 250
    lr_decay: float = 1.0  # both lrs at step t are max(lr / lr_decay**t, lr_min) (notebook: 1.000004); 1 = constant
    lr_min: float = 0.0  # the floor of that decay (notebook: 1e-6)
    weight_decay: float = 0.0  # L2 penalty on both networks' weights (not biases or norm gains)
    amp: bool = True  # bf16 autocast of forward passes on GPUs with native bf16 (devices.precision); fp32 elsewhere
    # how long, and how often to look
    epochs: int = 20
    steps: int = 0  # if > 0, overrides epochs
    seed: int = 0
    log_every: int = 25  # steps between metric rows (one host sync each)
    sample_every: int = 250  # steps between fixed-z sample grids (kept, as a timeline)
    checkpoint_every: int = 500  # steps between atomic training-state checkpoints
    hold_out: bool = False  # train on eval's training part only (eval.split), so the copying test sees unseen images
    eval_every: int = 500  # steps between cheap evals (ganstudio.eval: FD, KID, recall, class coverage); 0 = off
    eval_n: int = 500  # samples in each of those evals (a full `ganstudio eval` uses 5,000)
    keep_checkpoints: int = 2
    max_rollbacks: int = 3  # on NaN/Inf: back to the last checkpoint at half the lr at most this often, then stop
    # where
    device: str = "auto"  # auto | cpu | cuda | mps

    @property
    def d_norm(self) -> str:
        """critic_norm with auto resolved for this model."""
        return AUTO_NORM[self.model] if self.critic_norm == "auto" else self.critic_norm

    def changed(self, *keys: str) -> list[str]:
        """Those of keys whose value differs from the code default."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return [k for k in keys if getattr(self, k) != defaults[k]]

    def check(self) -> "Recipe":
        """Every rule about combinations, in one place."""
        if self.model not in MODELS:
            raise UserError(f"model {self.model!r} is not one of {', '.join(MODELS)}")
        if self.loss not in ("nonsaturating", "minimax"):
            raise UserError(f"loss {self.loss!r} is not one of nonsaturating, minimax")
        self._check_model()
        self._check_tricks()
        self._check_optimizer()
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
        for k in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, k) < 1:
                raise UserError(f"{k} must be at least 1")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"seed {self.seed} is out of range: use 0..{MAX_SEED}")
        if self.eval_every < 0 or self.eval_every % self.log_every:
            raise UserError(f"eval_every {self.eval_every} must be 0 (off) or a multiple of log_every ({self.log_every})")
        if not 50 <= self.eval_n <= 10_000:
            raise UserError(f"eval_n {self.eval_n} is out of range: use 50..10000")
        if not 0 <= self.max_rollbacks <= 20:
            raise UserError(f"max_rollbacks {self.max_rollbacks} is out of range: use 0..20")
        for k in ("lr_g", "lr_d"):
            if not 0 < getattr(self, k) < 1:
                raise UserError(f"{k} {getattr(self, k)} is out of range: use 0 < lr < 1")
        if self.image_size and self.image_size not in IMAGE_SIZES:
            raise UserError(f"image_size {self.image_size} is not one of {', '.join(map(str, IMAGE_SIZES))} (or 0: the dataset's own)")
        if self.device not in DEVICES:
            raise UserError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        return self

    def _check_model(self) -> None:
        if not 1 <= self.nz <= MAX_NZ:
            raise UserError(f"nz {self.nz} is out of range: use 1..{MAX_NZ}")
        for k in ("ngf", "ndf"):
            if not 1 <= getattr(self, k) <= MAX_WIDTH[self.model]:
                raise UserError(f"{k} {getattr(self, k)} is out of range for model {self.model}: use 1..{MAX_WIDTH[self.model]}")
        if self.critic_norm not in ("auto", "batch", "layer", "none"):
            raise UserError(f"critic_norm {self.critic_norm!r} is not one of auto, batch, layer, none")
        if not 1 <= self.n_critic <= 100:
            raise UserError(f"n_critic {self.n_critic} is out of range: use 1..100")
        if self.model == "wgan-gp":
            if self.d_norm == "batch":
                raise UserError("a WGAN-GP critic must not use BatchNorm (the penalty is per sample): critic_norm layer or none")
            if bad := self.changed("loss", "label_smoothing"):
                raise UserError(f"{', '.join(bad)}: for dcgan and mlp only (a WGAN-GP critic has no labels; its G maximises the score)")
            if not 0 < self.gp_weight <= 1000:
                raise UserError(f"gp_weight {self.gp_weight} is out of range: use 0 < x <= 1000 (the paper's is 10)")
        elif self.changed("gp_weight"):
            raise UserError("gp_weight applies to model wgan-gp only")
        if self.model == "mlp" and self.d_norm != "none":
            raise UserError("the MLP discriminator has no normalisation layers: leave critic_norm auto (or none)")
        if self.model == "mlp" and self.sync_batchnorm:
            raise UserError("sync_batchnorm: the MLP GAN has no BatchNorm layers to synchronise (dcgan and wgan-gp have)")
        if self.class_code and self.dataset not in LABELLED:
            raise UserError(f"class_code needs a labelled dataset ({', '.join(LABELLED)}); {self.dataset} has no labels")
        if self.model == "mlp" and self.minibatch_std:
            raise UserError("minibatch_std: for the convolutional D of dcgan and wgan-gp, not the MLP GAN's")

    def _check_tricks(self) -> None:
        if not 0 <= self.feature_matching <= 1000:
            raise UserError(f"feature_matching {self.feature_matching} is out of range: use 0..1000 (0 = off)")
        if self.feature_matching == 0 and (bad := self.changed("feature_matching_ramp", "feature_matching_only")):
            raise UserError(f"{', '.join(bad)}: only with feature_matching > 0 (its weight)")
        if self.feature_matching_only and self.feature_matching_ramp:
            raise UserError("feature_matching_only leaves no adversarial term to lead early: drop feature_matching_ramp")
        if self.feature_matching_ramp < 0 or self.instance_noise_steps < 0:
            raise UserError("feature_matching_ramp and instance_noise_steps must be >= 0")
        if not 0 <= self.mode_seeking <= 100:
            raise UserError(f"mode_seeking {self.mode_seeking} is out of range: use 0..100 (0 = off; Mao et al. used 1)")
        if not 0 <= self.mode_seeking_axis <= 100:
            raise UserError(f"mode_seeking_axis {self.mode_seeking_axis} is out of range: use 0..100 (0 = off)")
        if self.mode_seeking_axis and self.batch_size < 2:
            raise UserError(f"mode_seeking_axis pairs half the batch with partners: batch_size {self.batch_size} is too small, use at least 2")
        if self.mode_seeking_axis and self.class_code and self.nz <= CLASSES:
            raise UserError(f"mode_seeking_axis redraws a dimension outside the class code: nz {self.nz} leaves none, use nz > {CLASSES}")
        least = CLASSES + 1 if self.class_code else 2  # a pair (of one class: by pigeonhole) in every batch
        if self.mode_seeking and self.batch_size < least:
            raise UserError(f"mode_seeking compares pairs of images in a batch: batch_size {self.batch_size} is too small, use at least {least}")
        if not 0 <= self.instance_noise <= 2:
            raise UserError(f"instance_noise {self.instance_noise} is out of range: use 0..2 (images span 1 or 2)")
        if (self.instance_noise > 0) != (self.instance_noise_steps > 0):
            raise UserError("instance_noise (sigma at step 0) and instance_noise_steps (its decay) go together: set both or neither")
        augments = [a for a in self.augment.split(",") if a]
        if any(a not in AUGMENTS for a in augments) or len(set(augments)) != len(augments):
            raise UserError(f"augment {self.augment!r} is not a comma-separated list of {', '.join(AUGMENTS)} (each once), or empty")

    def _check_optimizer(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise UserError(f"optimizer {self.optimizer!r} is not one of adam, sgd")
        if self.optimizer == "adam" and (bad := self.changed("momentum", "momentum_final", "momentum_ramp_steps")):
            raise UserError(f"{', '.join(bad)}: for optimizer sgd only")
        if self.optimizer == "sgd" and self.model == "wgan-gp":
            raise UserError("model wgan-gp trains with adam (beta1 0, beta2 0.9): drop optimizer sgd")
        if self.optimizer == "sgd" and (bad := self.changed("beta1", "beta2")):
            raise UserError(f"{', '.join(bad)}: for optimizer adam only")
        for k in ("beta1", "beta2", "momentum", "momentum_final", "weight_decay"):
            if not 0 <= getattr(self, k) < 1:
                raise UserError(f"{k} {getattr(self, k)} is out of range: use 0 <= x < 1")
        if self.momentum_ramp_steps < 0:
            raise UserError("momentum_ramp_steps must be >= 0")
        if not 1 <= self.lr_decay <= 1.01:
            raise UserError(f"lr_decay {self.lr_decay} is out of range: use 1 (constant) .. 1.01 (a per-step factor)")
        if not 0 <= self.lr_min < min(self.lr_g, self.lr_d):
            raise UserError(f"lr_min {self.lr_min} must be >= 0 and below lr_g and lr_d")
        if self.lr_decay == 1 and self.lr_min:
            raise UserError("lr_min is the floor of the lr decay: it needs lr_decay > 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def defaults() -> dict[str, Any]:
    """Every key's default: a card lists only the keys a run changed (the studio's card, the training report)."""
    return {f.name: f.default for f in dataclasses.fields(Recipe)}


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
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: not valid TOML ({e})") from None
        except OSError as e:
            raise UserError(f"cannot read {path}: {e.strerror or e}") from None
    elif spec in DEFAULT_RECIPES or spec.endswith(".toml"):
        raise UserError(f"recipe for {spec!r} not found in {', '.join(map(str, RECIPE_DIRS))}")
    else:
        values = {"dataset": spec}  # a dataset without a recipe file trains on the defaults
    return make(**{**values, **parse_overrides(overrides or [])})


def make(**values: Any) -> Recipe:
    """Code defaults <- the model's defaults (MODEL_DEFAULTS) <- values, checked: how a partial recipe becomes whole."""
    values = {k: coerce(k, v) for k, v in values.items()}
    return Recipe(**{**MODEL_DEFAULTS.get(values.get("model", Recipe.model), {}), **values}).check()


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`key=value` strings (from --set, --steps, ...) as typed values."""
    values: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected key=value")
        values[key.strip()] = coerce(key.strip(), value.strip())
    return values


def for_resume(saved: Recipe, overrides: list[str]) -> Recipe:
    """A resumed run's recipe: the one in its checkpoint, with only RESUMABLE keys changed (then checked)."""
    values = parse_overrides(overrides)
    for key, value in values.items():
        if key not in RESUMABLE and value != getattr(saved, key):
            raise UserError(
                f"--resume: {key} cannot change (the run was trained with {key}={getattr(saved, key)!r}); "
                f"a resumed run may change only {', '.join(RESUMABLE)}"
            )
    return Recipe(**{**saved.to_dict(), **values}).check()


def from_dict(values: dict[str, Any]) -> Recipe:
    """A recipe saved in a checkpoint, type-checked like any other."""
    return Recipe(**{k: coerce(k, v) for k, v in values.items()}).check()


def run_name(spec: str, r: Recipe) -> str:
    """Default run directory name: the recipe file's name, else dataset-model."""
    return Path(spec).stem if spec.endswith(".toml") else f"{r.dataset}-{r.model}"
