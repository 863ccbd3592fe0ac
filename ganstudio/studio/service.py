"""What the browser studio does, without the browser: models, a session's current vector, and every operation.

ganstudio.app wires these to Gradio components; everything here takes and returns plain values (paths,
numbers, lists), raises UserError for a person's mistake, and is tested directly. The operations a client
can call by name (sample, sweep, interpolate, walk) are the CLI's: they call ganstudio.render with the same
arguments, so the PNG they write is byte-for-byte the one `ganstudio sample|interpolate|walk` writes.

All limits of the app live here, and every input is checked against them on the server.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio.explore import directions, edits, effects, images, latent, render, runtime
from ganstudio.studio import picker
from ganstudio.studio.outputs import Outputs
from ganstudio.artifact.checkpoint import load_weights, read_card
from ganstudio.errors import UserError

# The app's limits (tighter than the CLI's: one server, many people).
MAX_N = 256  # images in a grid
MAX_STEPS = 128  # frames in a sweep, interpolation or walk
LATENT_LIMIT = 4.0  # a dimension's slider spans +-this; z ~ N(0, 1) lies inside for all but 1 in 15,000
DIRECTION_LIMIT = 10.0  # a direction's slider spans +-this; directions are unit vectors and |z| ~ sqrt(nz)
N_DIRECTIONS = 8  # sliders per direction method
MAX_SLIDERS = 512  # dimension sliders on the page, at most
PSI_RANGE = (0.0, 2.0)
FPS_RANGE = (0.5, 50.0)
STEP_SIZE_RANGE = (0.001, 1.0)
SWEEP_RANGE = (-LATENT_LIMIT, LATENT_LIMIT)
METHODS = ("sefa", "ganspace")
METHOD_TITLES = {"sefa": "SeFa", "ganspace": "GANSpace"}


def as_int(name: str, value: float, lo: int, hi: int) -> int:
    """A whole number in lo..hi, or a one-line UserError (API clients can send 3.5 or 1e12)."""
    if value is None or not float(value).is_integer():
        raise UserError(f"{name} {value} must be a whole number in {lo}..{hi}")
    render.check_range(name, int(value), lo, hi)
    return int(value)


def as_float(name: str, value: float, lo: float, hi: float) -> float:
    if value is None or not np.isfinite(value):
        raise UserError(f"{name} {value} must be a number in {lo}..{hi}")
    render.check_range(name, float(value), lo, hi)
    return float(value)  # recipes must say 1.0, not 1, whatever the client sent: the PNG bytes depend on it


@dataclass
class Session:
    """One browser tab's state: the current vector (seed, psi, hand edits) and what is on screen."""

    model: str
    seed: int = 0
    psi: float = 1.0
    edits: dict[int, float] = field(default_factory=dict)  # dimension -> value written into z
    amounts: dict[str, list[float]] = field(default_factory=dict)  # method -> amount along each direction
    grid_seed: int = 0  # the grid on screen shows seeds grid_seed .. grid_seed + grid_n - 1
    grid_n: int = 0
    view: list[int] = field(default_factory=list)  # the dimensions the slider slots show, in order

    def clear_edits(self) -> None:
        self.edits.clear()
        self.amounts = {m: [0.0] * len(a) for m, a in self.amounts.items()}


@dataclass(frozen=True)
class Analysis:
    """What the studio works out once per model: which dimensions matter, and the two sets of directions."""

    effects: effects.Effects
    directions: dict[str, directions.Directions]


SERVING_THREADS = 1  # ONNX Runtime threads per request: many small requests share the cores (runtime._ort_session)


@lru_cache(maxsize=8)
def _generator(path: str, mtime: float) -> runtime.Generator:
    return runtime.load(path, backend="onnx", threads=SERVING_THREADS)


_analysis_lock = threading.Lock()


@lru_cache(maxsize=8)
def _analysis(path: str, mtime: float) -> Analysis:
    gen = _generator(path, mtime)
    _, tensors = load_weights(gen.model.weights)
    sefa, ganspace = directions.from_weights(tensors, gen.nz, min(N_DIRECTIONS, gen.nz))
    return Analysis(effects.rank_dimensions(gen.images, gen.nz), {"sefa": sefa, "ganspace": ganspace})


@dataclass(frozen=True)
class Slot:
    """What one dimension slider shows."""

    dim: int
    value: float
    rank: int
    score: float


def parse_dims(query: str, nz: int) -> set[int] | None:
    """'3, 10-20 42' -> {3, 10, ..., 20, 42}; empty -> None (all dimensions)."""
    tokens = [t for t in re.split(r"[,\s]+", query.strip()) if t]
    if not tokens:
        return None
    dims: set[int] = set()
    for t in tokens:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", t)
        if not m:
            raise UserError(f"dimension filter {t!r}: use numbers and ranges, like 3, 10-20")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if not lo <= hi < nz:
            raise UserError(f"dimension filter {t!r}: this generator has dimensions 0..{nz - 1}")
        dims.update(range(lo, hi + 1))
    return dims


class Studio:
    """The app's operations over the models it offers; one per server, shared by every session and thread."""

    def __init__(self, model: str | None = None, out_dir: Path | None = None):
        self.models = picker.Models(model)
        self.out = Outputs(out_dir)
        self._grids: OrderedDict[tuple, render.Render] = OrderedDict()  # recent sample renders, for the tiles
        self._grids_lock = threading.Lock()

    # -- models ------------------------------------------------------------------------------------------

    def generator(self, key: str) -> runtime.Generator:
        """The model's generator: one ORT session per model, loaded once and shared (its run() is thread-safe)."""
        m = self.models.get(key)
        return _generator(str(m.path), m.weights.stat().st_mtime)

    def analysis(self, key: str) -> Analysis:
        m = self.models.get(key)
        with _analysis_lock:  # two tabs opening a new model must not both spend seconds on it
            return _analysis(str(m.path), m.weights.stat().st_mtime)

    def card_markdown(self, key: str) -> str:
        m = self.models.get(key)
        c = read_card(m.weights)
        arch = ", ".join(f"{k}={v}" for k, v in c.architecture.items() if k != "name")
        tr = c.training
        lines = [
            f"**{key}** — `{m.path}`",
            f"- **architecture** {c.name} ({arch})",
            f"- **latent** {c.nz} dimensions, z ~ N(0, I); seed s → `default_rng(s).standard_normal({c.nz})`",
            f"- **images** {c.image_size}×{c.image_size}, {c.channels} channel(s); **dataset** {c.dataset}",
        ]
        if tr:
            lines.append(f"- **training** {tr.get('steps', 0):,} steps, {tr.get('seconds', 0):.0f} s on {tr.get('device')}, {tr.get('date', '')}")
        if c.metrics:
            lines.append("- **last metrics** " + ", ".join(f"{k} {v:.3g}" for k, v in c.metrics.items()))
        if c.notes:
            lines.append(f"- **notes** {c.notes}")
        return "\n".join(lines)

    # -- the named operations (the CLI's, plus the session's edits when a browser tab has some) --------

    def sample(self, model: str, seed: int, n: int, psi: float) -> str:
        """A grid of n images from seeds seed..seed+n-1: the PNG `ganstudio sample --seed --n --psi` writes."""
        seed, n = as_int("seed", seed, 0, latent.MAX_SEED), as_int("n", n, 1, MAX_N)
        psi = as_float("psi", psi, *PSI_RANGE)
        gen = self.generator(model)
        r = render.sample(gen, seed, n, psi)
        with self._grids_lock:
            self._grids[(model, seed, n, psi)] = r
            while len(self._grids) > 16:
                self._grids.popitem(last=False)
        return self.out.png(r, f"grid-seed{seed}-n{n}")

    def sweep(
        self, model: str, seed: int, dim: int, steps: int, lo: float, hi: float, psi: float, fps: float,
        session: Session | None = None,
    ) -> tuple[str, str]:
        """One latent dimension moving lo..hi: (strip PNG, GIF), as `ganstudio sample --dim --steps --range --gif`."""
        gen = self.generator(model)
        seed, dim = as_int("seed", seed, 0, latent.MAX_SEED), as_int("dimension", dim, 0, gen.nz - 1)
        steps = as_int("steps", steps, 2, MAX_STEPS)
        lo, hi = as_float("from", lo, *SWEEP_RANGE), as_float("to", hi, *SWEEP_RANGE)
        if not lo < hi:
            raise UserError(f"sweep from {lo} to {hi}: 'from' must be below 'to'")
        psi, fps = as_float("psi", psi, *PSI_RANGE), as_float("fps", fps, *FPS_RANGE)
        v = self._edited_in(session, model)
        r = edits.sweep(gen, v, [dim], steps, lo, hi) if v else render.sweep(gen, seed, [dim], steps, lo, hi, psi)
        stem = f"sweep-dim{dim}-seed{v.seed if v else seed}{'-edited' if v else ''}"
        return self.out.png(r, stem), self.out.gif(r, stem, fps)

    def interpolate(
        self, model: str, seed_from: int, seed_to: int, steps: int, method: str, psi: float, fps: float,
        from_current: bool = False, session: Session | None = None,
    ) -> tuple[str, str]:
        """From seed_from (or the tab's current image) to seed_to: (strip PNG, GIF), as `ganstudio interpolate`."""
        gen = self.generator(model)
        seed_from, seed_to = as_int("from seed", seed_from, 0, latent.MAX_SEED), as_int("to seed", seed_to, 0, latent.MAX_SEED)
        steps = as_int("steps", steps, 2, MAX_STEPS)
        psi, fps = as_float("psi", psi, *PSI_RANGE), as_float("fps", fps, *FPS_RANGE)
        if method not in ("lerp", "slerp"):
            raise UserError(f"interpolation {method!r}: use lerp or slerp")
        v = None
        if from_current:
            if session is None or session.model != model:
                raise UserError("'from the current image' needs the browser's current image; give a from seed instead")
            v = self.edited(session)
            seed_from, psi = v.seed, v.psi
            v = None if v.is_seed else v
        if v:
            r = edits.interpolate(gen, v, seed_to, steps, method, psi)
        else:
            r = render.interpolate(gen, seed_from, seed_to, steps, method, psi)
        stem = f"interpolate-{'edited' if v else seed_from}-to-{seed_to}-{method}"
        return self.out.png(r, stem), self.out.gif(r, stem, fps)

    def walk(
        self, model: str, seed: int, steps: int, step_size: float, psi: float, fps: float,
        session: Session | None = None,
    ) -> tuple[str, str]:
        """A smooth random walk from seed's vector (or the tab's edited one): (frames PNG, GIF), as `ganstudio walk`."""
        gen = self.generator(model)
        seed, steps = as_int("seed", seed, 0, latent.MAX_SEED), as_int("steps", steps, 2, MAX_STEPS)
        step_size = as_float("step size", step_size, *STEP_SIZE_RANGE)
        psi, fps = as_float("psi", psi, *PSI_RANGE), as_float("fps", fps, *FPS_RANGE)
        v = self._edited_in(session, model)
        r = edits.walk(gen, v, steps, step_size) if v else render.walk(gen, seed, steps, step_size, psi)
        stem = f"walk-seed{v.seed if v else seed}{'-edited' if v else ''}"
        return self.out.png(r, stem), self.out.gif(r, stem, fps)

    # -- a session's current vector --------------------------------------------------------------------

    def new_session(self, model: str | None = None, seed: int = 0, psi: float = 1.0) -> Session:
        s = Session(model=self.models.default, seed=seed, psi=psi)
        self.switch_model(s, model or self.models.default)
        return s

    def switch_model(self, s: Session, key: str) -> None:
        """Keep the seed and psi; drop edits (dimensions mean different things in another model)."""
        an = self.analysis(key)
        s.model = key
        s.edits.clear()
        s.amounts = {m: [0.0] * len(an.directions[m].vectors) for m in METHODS}
        s.view = [int(d) for d in an.effects.order]

    def edited(self, s: Session) -> edits.Edited:
        """The session's vector. Works on copies: a tab's slider events may run concurrently and edit s."""
        gen, an = self.generator(s.model), self.analysis(s.model)
        seed, psi, dims, amounts = s.seed, s.psi, dict(s.edits), {m: list(a) for m, a in s.amounts.items()}
        z = latent.truncate(latent.z_from_seed(seed, gen.nz), psi)
        for d, value in dims.items():
            z[d] = value
        for m, a in amounts.items():
            if any(a):
                z = z + np.asarray(a, dtype=np.float32) @ an.directions[m].vectors
        return edits.Edited(seed, psi, z.astype(np.float32), dims, amounts)

    def _edited_in(self, session: Session | None, model: str) -> edits.Edited | None:
        """The tab's vector when it is edited (and on this model); None means: use the seed, as the CLI does."""
        if session is None or session.model != model:
            return None
        v = self.edited(session)
        return None if v.is_seed else v

    def current(self, s: Session) -> tuple[str, str]:
        """(PNG of the current image, a line saying what it is). Unedited, the PNG is `sample --seed S --n 1`."""
        gen = self.generator(s.model)
        v = self.edited(s)
        if v.is_seed:
            return self.out.png(render.sample(gen, v.seed, 1, v.psi), f"seed{v.seed}"), f"**seed {v.seed}** · ψ {v.psi:g} · unedited"
        parts = [f"**seed {v.seed}** · ψ {v.psi:g}"]
        if v.edits:
            parts.append("dims " + ", ".join(f"{d}={x:+.2f}" for d, x in sorted(v.edits.items())))
        for m, amounts in v.directions.items():
            moved = [f"{j + 1}:{a:+.1f}" for j, a in enumerate(amounts) if a]
            if moved:
                parts.append(f"{METHOD_TITLES[m]} " + ", ".join(moved))
        return self.out.png(edits.still(gen, v), f"seed{v.seed}-edited"), " · ".join(parts)

    def set_seed(self, s: Session, seed: int) -> None:
        s.seed = as_int("seed", seed, 0, latent.MAX_SEED)
        s.clear_edits()

    def set_psi(self, s: Session, psi: float) -> None:
        s.psi = as_float("psi", psi, *PSI_RANGE)

    def pick(self, s: Session, index: int) -> None:
        """Make tile `index` of the grid on screen the current vector."""
        self.set_seed(s, s.grid_seed + as_int("tile", index, 0, max(s.grid_n - 1, 0)))

    def set_dim(self, s: Session, slot: int, value: float) -> int:
        """Slider `slot` moved: write the value (clamped) into the dimension it shows; returns that dimension."""
        view = s.view  # a search may replace it meanwhile
        if not 0 <= slot < len(view):
            raise UserError(f"slider {slot} shows no dimension")
        dim = view[slot]
        s.edits[dim] = float(np.clip(as_float(f"dimension {dim}", value, -1e6, 1e6), -LATENT_LIMIT, LATENT_LIMIT))
        return dim

    def set_amount(self, s: Session, method: str, j: int, value: float) -> None:
        amounts = s.amounts.get(method)
        if amounts is None or not 0 <= j < len(amounts):
            raise UserError(f"no direction {method} {j + 1} for this model")
        amounts[j] = float(np.clip(as_float("amount", value, -1e6, 1e6), -DIRECTION_LIMIT, DIRECTION_LIMIT))

    # -- what the panels show ----------------------------------------------------------------------------

    def tiles(self, s: Session, model: str, seed: int, n: int, psi: float) -> list[tuple[Image.Image, str]]:
        """The images of the grid `sample` just made, one per tile, for picking; remembers which seeds they are."""
        seed, n, psi = as_int("seed", seed, 0, latent.MAX_SEED), as_int("n", n, 1, MAX_N), as_float("psi", psi, *PSI_RANGE)
        with self._grids_lock:
            r = self._grids.get((model, seed, n, psi))
        if r is None:
            r = render.sample(self.generator(model), seed, n, psi)
        s.grid_seed, s.grid_n = seed, n
        return [(images.single(img), f"seed {seed + i}") for i, img in enumerate(r.frames[0])]

    def search(self, s: Session, query: str, by_effect: bool) -> None:
        """Fill the slider slots with the dimensions matching `query`, strongest effect first (or by index)."""
        nz = self.generator(s.model).nz
        wanted = parse_dims(query, nz)
        order = self.analysis(s.model).effects.order if by_effect else range(nz)
        s.view = [int(d) for d in order if wanted is None or d in wanted]

    def slots(self, s: Session, count: int) -> list[Slot]:
        """The first `count` dimensions of the view, with the value each holds in the current vector."""
        gen, fx = self.generator(s.model), self.analysis(s.model).effects
        z = latent.truncate(latent.z_from_seed(s.seed, gen.nz), s.psi)
        for d, value in dict(s.edits).items():
            z[d] = value
        clipped = np.clip(z, -LATENT_LIMIT, LATENT_LIMIT)
        return [Slot(d, round(float(clipped[d]), 2), fx.rank_of(d), float(fx.scores[d])) for d in s.view[:count]]

    def effects_summary(self, key: str) -> str:
        fx = self.analysis(key).effects
        top = ", ".join(f"**{d}** ({fx.scores[d]:.3f})" for d in fx.order[:8])
        weakest = fx.order[-1]
        return (
            f"Strongest dimensions (mean pixel change 0..1 when one moves ±1.5, over 4 seeds): {top}. "
            f"Weakest: {weakest} ({fx.scores[weakest]:.3f})."
        )

    def direction_labels(self, key: str) -> dict[str, list[str]]:
        dirs = self.analysis(key).directions
        return {
            "sefa": [f"SeFa {j + 1} · eigenvalue {x:.2f}" for j, x in enumerate(dirs["sefa"].strength)],
            "ganspace": [f"PC {j + 1} · {100 * x:.1f}% of variance" for j, x in enumerate(dirs["ganspace"].strength)],
        }

    def snapshots(self, key: str) -> list[tuple[int, Path]]:
        """The sample grids a training run kept (samples/step_0000250.png ...), by step."""
        folder = self.models.get(key).path / "samples"
        found = [(int(m[1]), p) for p in folder.glob("step_*.png") if (m := re.fullmatch(r"step_(\d+)\.png", p.name))]
        return sorted(found)

    def snapshot(self, key: str, index: int) -> tuple[str, str]:
        shots = self.snapshots(key)
        if not shots:
            raise UserError(f"{key} kept no training snapshots (a run keeps them in samples/)")
        step, path = shots[as_int("snapshot", index, 0, len(shots) - 1)]
        caption = f"step {step:,} (snapshot {index + 1} of {len(shots)}; the run's last step is {shots[-1][0]:,})"
        return self.out.copy(path, f"{key.replace('/', '_')}-step{step}.png"), caption
