"""What the browser studio does, without the browser: the models it offers, the named operations, and a tab's
current image.

ganstudio.studio.app wires these to Gradio components; everything here takes and returns plain values (paths,
numbers, lists), raises UserError for a person's mistake, and is tested directly. Every input is checked
against ganstudio.explore.limits under the name the API gives it. The named operations (sample, sweep,
interpolate, walk) are the CLI's own (ganstudio.explore.operations), so the PNG they write is byte for byte
the one `ganstudio sample|interpolate|walk` writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganstudio.artifact import describe
from ganstudio.artifact.checkpoint import read_card
from ganstudio.errors import UserError
from ganstudio.explore import class_directions, images, limits, operations, runtime
from ganstudio.explore.operations import Vector
from ganstudio.studio import analysis, picker, timeline
from ganstudio.studio.analysis import Analysis
from ganstudio.studio.outputs import Outputs
from ganstudio.studio.session import Session, State, fitted, parse_dims


@dataclass(frozen=True)
class Slot:
    """What one dimension slider shows."""

    dim: int
    value: float
    rank: int
    score: float


class Studio:
    """The app's operations over the models it offers; one per server, shared by every session and thread."""

    def __init__(self, model: str | None = None, out_dir: Path | None = None,
                 recipe_defaults: Mapping[str, Any] | None = None):
        """recipe_defaults: every recipe key's default, from the command that starts the studio (ganstudio.train.recipe
        lives a wing over), so the card lists only what a run changed."""
        self.recipe_defaults = recipe_defaults
        self.models = picker.Models(model)
        read_card(self.models.get(self.models.default).weights)  # an unreadable --model: one line, before serving
        self.out = Outputs(out_dir)
        self._grids: OrderedDict[tuple, operations.Render] = OrderedDict()  # recent sample renders, for the tiles
        self._grids_lock = threading.Lock()

    # -- models ------------------------------------------------------------------------------------------

    def version(self, key: str) -> tuple[float, float]:
        """What a model's loaded state is keyed on: the modification times of its weights and of its class
        directions (0 without them). UnknownModel (HTTP 404) when the model left the disk after the picker's scan."""
        m = self.models.get(key)
        try:
            weights = m.weights.stat().st_mtime
        except OSError:
            raise picker.UnknownModel(f"model {limits.shown(key)!r} is no longer on disk: Rescan the models") from None
        try:
            return weights, (m.path / class_directions.FILE).stat().st_mtime
        except OSError:
            return weights, 0.0

    def generator(self, key: str) -> runtime.Generator:
        return analysis.generator(str(self.models.get(key).path), self.version(key)[0])

    def analysis(self, key: str) -> Analysis:
        return analysis.analysis(str(self.models.get(key).path), *self.version(key))

    def card_markdown(self, key: str) -> str:
        """The model card, with the model's eval table when it has a current one."""
        return describe.markdown(self.models.get(key), key, self.recipe_defaults) + self._eval(key)[0]

    def eval_sheet(self, key: str) -> str | None:
        """The eval's sheet of the closest generated/training pairs, when the model has a current eval: a copy
        in the studio's output folder, since Gradio serves files only from there, the temp dir and the cwd."""
        sheet = self._eval(key)[1]
        return None if sheet is None else self.out.copy(Path(sheet), f"{key.replace('/', '_')}-eval-neighbours.png")

    def _eval(self, key: str) -> tuple[str, str | None]:
        from ganstudio.eval.report import markdown as eval_markdown  # reads eval.json: no torch, no net loaded

        lines, sheet = eval_markdown(self.models.get(key))
        text = "\n\n**Eval** (`ganstudio eval`)\n\n" + "\n".join(lines) if lines else "\n\nNo eval yet: `ganstudio eval " + key + "`."
        if sheet:
            text += "\n\nBelow, the eval's closest pairs: each generated sample (top) over its nearest training image (bottom)."
        return text, (str(sheet) if sheet else None)

    # -- the named operations (the CLI's, from the tab's edited vector when it has one) ------------------
    # Each render_* checks its inputs under the names the APIs give them and returns the Render; the methods
    # without the prefix write its PNG (and GIF) for Gradio, ganstudio.studio.routes answers with the bytes.

    def render_sample(self, model: str, seed: int, n: int, psi: float) -> operations.Render:
        """A grid of n images from seeds seed..seed+n-1: what `ganstudio sample --seed --n --psi` renders."""
        gen = self.generator(model)
        seed, n, psi = limits.SEED.check("seed", seed), limits.SERVE_N.check("n", n), limits.PSI.check("psi", psi)
        return operations.sample(gen, seed, n, psi)

    def render_sweep(
        self, model: str, seed: int, dim: int, steps: int, lo: float, hi: float, psi: float,
        session: Session | None = None,
    ) -> operations.Render:
        """One latent dimension moving lo..hi, as `ganstudio sample --dim --steps --range`."""
        gen = self.generator(model)
        seed, dim = limits.SEED.check("seed", seed), limits.check_dims("dim", [dim], gen.nz)[0]
        steps = limits.SERVE_STEPS.check("steps", steps)
        lo, hi = limits.LATENT.check("lo", lo), limits.LATENT.check("hi", hi)
        limits.check_span(lo, hi, ("lo", "hi"))
        psi = limits.PSI.check("psi", psi)
        return operations.sweep(gen, self._start(session, model, seed, psi), [dim], steps, lo, hi)

    def render_direction_sweep(
        self, model: str, seed: int, name: str, steps: int, lo: float, hi: float, psi: float, conditional: bool = False,
    ) -> operations.Render:
        """Seed's image moving lo..hi along a class direction, as `ganstudio sample --direction [--conditional]`."""
        gen = self.generator(model)
        seed, steps = limits.SEED.check("seed", seed), limits.SERVE_STEPS.check("steps", steps)
        lo, hi = limits.DIRECTION.check("lo", lo), limits.DIRECTION.check("hi", hi)
        limits.check_span(lo, hi, ("lo", "hi"))
        psi = limits.PSI.check("psi", psi)
        an = self.analysis(model)
        if an.classes is None:
            raise UserError(an.class_note)
        return an.classes.sweep(gen, Vector.of_seed(seed, psi, gen.nz), name, bool(conditional), steps, lo, hi, "name")

    def render_interpolate(
        self, model: str, seed_from: int, seed_to: int, steps: int, method: str, psi: float,
        from_current: bool = False, session: Session | None = None,
    ) -> operations.Render:
        """From seed_from (or the tab's current image) to seed_to, as `ganstudio interpolate`."""
        gen = self.generator(model)
        seed_from, seed_to = limits.SEED.check("seed_from", seed_from), limits.SEED.check("seed_to", seed_to)
        steps, psi = limits.SERVE_STEPS.check("steps", steps), limits.PSI.check("psi", psi)
        if method not in limits.INTERPOLATIONS:
            raise UserError(f"method {limits.shown(method)!r} must be lerp or slerp")
        if not isinstance(from_current, bool):
            raise UserError(f"from_current {limits.shown(from_current)!r} must be true or false")
        if from_current:
            if session is None or session.model != model:
                raise UserError("'from the current image' needs the browser's current image; give a from seed instead")
            v = self.vector(session)
            psi = v.psi
        else:
            v = Vector.of_seed(seed_from, psi, gen.nz)
        return operations.interpolate(gen, v, seed_to, steps, method, psi)

    def render_walk(
        self, model: str, seed: int, steps: int, step_size: float, psi: float, session: Session | None = None,
    ) -> operations.Render:
        """A smooth random walk from seed's vector (or the tab's edited one), as `ganstudio walk`."""
        gen = self.generator(model)
        seed, steps = limits.SEED.check("seed", seed), limits.SERVE_STEPS.check("steps", steps)
        step_size, psi = limits.STEP_SIZE.check("step_size", step_size), limits.PSI.check("psi", psi)
        return operations.walk(gen, self._start(session, model, seed, psi), steps, step_size)

    def sample(self, model: str, seed: int, n: int, psi: float) -> str:
        """The grid's PNG (the one `ganstudio sample` writes), remembered for the tiles that follow."""
        r = self.render_sample(model, seed, n, psi)
        with self._grids_lock:
            self._grids[(model, r.recipe["seed"], r.recipe["n"], r.recipe["psi"])] = r
            while len(self._grids) > 16:
                self._grids.popitem(last=False)
        return self.out.png(r, f"grid-seed{r.recipe['seed']}-n{r.recipe['n']}")

    def sweep(
        self, model: str, seed: int, dim: int, steps: int, lo: float, hi: float, psi: float, fps: float,
        session: Session | None = None,
    ) -> tuple[str, str]:
        """(strip PNG, GIF), as `ganstudio sample --dim --steps --range --gif`."""
        fps = limits.FPS.check("fps", fps)  # before the work
        r = self.render_sweep(model, seed, dim, steps, lo, hi, psi, session)
        return self._files(r, f"sweep-dim{r.recipe['dims'][0]}-{_origin(r)}", fps)

    def interpolate(
        self, model: str, seed_from: int, seed_to: int, steps: int, method: str, psi: float, fps: float,
        from_current: bool = False, session: Session | None = None,
    ) -> tuple[str, str]:
        """(strip PNG, GIF), as `ganstudio interpolate --gif`."""
        fps = limits.FPS.check("fps", fps)  # before the work
        r = self.render_interpolate(model, seed_from, seed_to, steps, method, psi, from_current, session)
        start = r.recipe.get("seed_from", "edited")
        return self._files(r, f"interpolate-{start}-to-{r.recipe['seed_to']}-{r.recipe['method']}", fps)

    def walk(
        self, model: str, seed: int, steps: int, step_size: float, psi: float, fps: float,
        session: Session | None = None,
    ) -> tuple[str, str]:
        """(frames PNG, GIF), as `ganstudio walk --gif`."""
        fps = limits.FPS.check("fps", fps)  # before the work
        r = self.render_walk(model, seed, steps, step_size, psi, session)
        return self._files(r, f"walk-{_origin(r)}", fps)

    def _files(self, r: operations.Render, stem: str, fps: float) -> tuple[str, str]:
        return self.out.png(r, stem), self.out.gif(r, stem, fps)

    # -- a tab's current vector ----------------------------------------------------------------------------

    def new_session(self, model: str | None = None, seed: int = 0, psi: float = 1.0) -> Session:
        s = Session(model=self.models.default, seed=limits.SEED.check("seed", seed), psi=limits.PSI.check("psi", psi))
        self.switch_model(s, model or self.models.default)
        return s

    def switch_model(self, s: Session, key: str) -> None:
        """Keep the seed and psi; drop edits (dimensions mean different things in another model)."""
        an = self.analysis(key)  # before the switch: the session changes in one step, once this is known
        s.switch(key, {m: len(b) for m, b in an.bases().items()}, [int(d) for d in an.effects.order])

    def vector(self, s: Session) -> Vector:
        """The session's current vector, from one consistent copy of it (slider events may change s meanwhile)."""
        return self._now(s)[0]

    def state(self, s: Session) -> tuple[State, dict[str, np.ndarray]]:
        """(a consistent copy of the tab's state, its model's direction bases), the amounts fitted to those bases:
        `ganstudio directions` may have made, re-made for another number of classes, or removed them since."""
        st = s.state()
        bases = self.analysis(st.model).bases()
        want = {m: len(b) for m, b in bases.items()}
        if {m: len(a) for m, a in st.amounts.items()} != want:
            s.fit_directions(st.model, want)
            st = replace(st, amounts=fitted(st.amounts, want))
        return st, bases

    def _now(self, s: Session) -> tuple[Vector, State]:
        """(the current vector, the state it is the vector of): one consistent copy, as another event may switch
        the tab's model between reading its state and rendering it."""
        st, bases = self.state(s)
        return Vector.edited(st.seed, st.psi, self.generator(st.model).nz, st.edits, st.amounts, bases), st

    def _start(self, session: Session | None, model: str, seed: int, psi: float) -> Vector:
        """Where a named operation starts: the tab's vector when it is edited on this model, else the seed's."""
        if session is not None and session.model == model:
            v = self.vector(session)
            if not v.is_seed:
                return v
        return Vector.of_seed(seed, psi, self.generator(model).nz)

    def current(self, s: Session) -> tuple[str, str]:
        """(PNG of the current image, a line saying what it is). Unedited, its pixels are those of `sample --seed S
        --n 1` without the grid's border (a border enlarged to the page's 420 px framed colour images thickly)."""
        v, st = self._now(s)
        model = st.model
        r = operations.still(self.generator(model), v)
        if v.is_seed:
            return self.out.still(r, f"seed{v.seed}"), f"**seed {v.seed}** · ψ {v.psi:g} · unedited"
        parts = [f"**seed {v.seed}** · ψ {v.psi:g}"]
        if st.origin is not None:  # a projection or a clicked frame: named, and only what was edited since listed
            parts = [f"**{st.origin.label}**"]
            changed = sorted(d for d, x in st.edits.items() if st.origin.edits.get(d) != x)
            if changed:
                more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
                parts.append("dims " + ", ".join(f"{d}={v.z[d]:+.2f}" for d in changed[:8]) + more)
        elif len(v.edits) > 8:  # a vector restored from a file with every dimension written
            parts.append(f"{len(v.edits)} dims set")
        elif v.edits:  # each at its value in the final vector, as its slider shows it
            parts.append("dims " + ", ".join(f"{d}={v.z[d]:+.2f}" for d in sorted(v.edits)))
        an = self.analysis(model)
        parts += [an.moved(m, amounts) for m, amounts in v.directions.items() if any(amounts)]
        return self.out.still(r, f"seed{v.seed}-edited"), " · ".join(parts)

    def set_seed(self, s: Session, seed: int) -> None:
        s.set_seed(int(limits.SEED.check("seed", seed)))

    def set_psi(self, s: Session, psi: float) -> None:
        s.set_psi(float(limits.PSI.check("psi", psi)))

    def pick(self, s: Session, index: int) -> None:
        s.pick(index)

    # -- what the panels show ----------------------------------------------------------------------------

    def tiles(self, s: Session, model: str, seed: int, n: int, psi: float) -> list[tuple[Image.Image, str]]:
        """The images of the grid `sample` just made, one per tile, for picking; remembers which seeds they are."""
        seed, n, psi = limits.SEED.check("seed", seed), limits.SERVE_N.check("n", n), limits.PSI.check("psi", psi)
        with self._grids_lock:
            r = self._grids.get((model, seed, n, psi))
        if r is None:
            r = operations.sample(self.generator(model), seed, n, psi)
        s.show_grid(seed, n, model)
        return [(images.single(img), f"seed {seed + i}") for i, img in enumerate(r.frames[0])]

    def search(self, s: Session, query: str, by_effect: bool) -> None:
        """Fill the slider slots with the dimensions matching `query`, strongest effect first (or by index)."""
        model = s.model
        nz = self.generator(model).nz
        wanted = parse_dims(query, nz)
        order = self.analysis(model).effects.order if by_effect else range(nz)
        with s.lock:
            if s.model == model:  # a switch meanwhile brought its own view
                s.set_view([int(d) for d in order if wanted is None or d in wanted])

    def snapshots(self, key: str) -> list[tuple[int, Path]]:
        return timeline.snapshots(self.models.get(key).path)

    def snapshot(self, key: str, index: int) -> tuple[str, str]:
        shots = self.snapshots(key)
        if not shots:
            raise UserError(f"{key} kept no training snapshots (a run keeps them in samples/)")
        index = int(limits.Bound(0, len(shots) - 1, integer=True).check("snapshot", index))
        step, path = shots[index]
        return self.out.copy(path, f"{key.replace('/', '_')}-step{step}.png"), timeline.caption(shots, index)


def _origin(r: operations.Render) -> str:
    """'seed7', or 'seed7-edited' when the render started from an edited vector (a file name's part)."""
    return f"seed{r.recipe['seed']}" if "seed" in r.recipe else f"seed{r.recipe['vector']['seed']}-edited"
