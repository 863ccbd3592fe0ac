"""The page's own operations on a tab's session, beside the named ones (ganstudio.studio.service):
undoable edits that respect direction amounts, restoring a dropped PNG or a link, clickable strip frames,
the before image and the enlarged downloads.

Plain values in and out, UserError for a person's mistake, as in the service; each change of the vector is
one step of the session's history (ganstudio.studio.session).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.errors import UserError
from ganstudio.explore import class_directions, images, limits, operations, projection
from ganstudio.explore.operations import Render, Vector
from ganstudio.studio import recipes
from ganstudio.studio.analysis import METHODS
from ganstudio.studio.service import Slot, Studio
from ganstudio.studio.session import Session, clamp

DOWNLOAD_SIZES = (256, 512)


def bases(studio: Studio, model: str) -> dict[str, np.ndarray]:
    return studio.analysis(model).bases()


def slots(studio: Studio, s: Session, count: int) -> list[Slot]:
    """The view's first `count` dimensions with their value in the final vector, direction amounts included."""
    st, b = studio.state(s)
    fx = studio.analysis(st.model).effects
    z = recipes.z_of(st, b, studio.generator(st.model).nz)
    return [Slot(d, round(clamp(limits.LATENT, float(z[d])), 2), fx.rank_of(d), float(fx.scores[d])) for d in st.view[:count]]


def set_dim(studio: Studio, s: Session, slot: int, value: float, model: str | None = None) -> int | None:
    """Slider `slot` moved: the dimension it shows takes `value` in the final vector (so a dimension slider
    and the direction sliders agree); None when the event belongs to a model the tab has left.

    The model's directions are looked up before the tab's lock is taken: a first analysis takes a second, and
    the tab's other events must not wait for it."""
    st, b = studio.state(s)
    nz = studio.generator(st.model).nz
    with s.lock:
        if s.model != st.model or (model is not None and model != s.model):
            return None
        s.remember(f"slot {slot}")
        dim = s.set_dim(slot, value, model)
        if dim is not None:
            s.set_edit(dim, s.edits[dim] - float(recipes.offset(s.amounts, b, nz)[dim]))
        return dim


def set_amount(studio: Studio, s: Session, method: str, j: int, value: float, model: str | None = None) -> bool:
    """Direction j of `method` moved (after the amounts were fitted to the model's directions now); False when
    the event belongs to a model the tab has left."""
    studio.state(s)
    with s.lock:
        if model is not None and model != s.model:
            return False
        s.remember(f"{method} {j}")
        return s.set_amount(method, j, value, model)


def class_method(conditional: bool) -> str:
    return class_directions.CONDITIONAL if conditional else class_directions.CLASS


def set_class_amount(studio: Studio, s: Session, conditional: bool, j: int, value: float, model: str | None = None) -> bool:
    """A class slider moved: its amount, along the plain or the conditional direction as the checkbox says (the
    other kind's amounts are moved over first, so one kind drives the image at a time)."""
    to = class_method(conditional)
    studio.state(s)  # the amounts fitted to the model's class directions now
    with s.lock:
        if model is not None and model != s.model:
            return False
        s.remember(f"{to} {j}")
        s.move_amounts(class_method(not conditional), to)
        return s.set_amount(to, j, value, model)


def set_class_mode(s: Session, conditional: bool) -> None:
    """The conditional checkbox: the class amounts carry over to the other kind of direction (one undo step)."""
    with s.lock:
        s.remember()
        s.move_amounts(class_method(not conditional), class_method(conditional))


def undoable(fn: Callable[..., None]) -> Callable[..., None]:
    """fn(s, ...) as one undo step of the session's history."""

    def run(s: Session, *args: Any) -> None:
        with s.lock:
            s.remember()
            fn(s, *args)

    run.__name__ = getattr(fn, "__name__", "change")
    return run


# -- restoring a PNG or a link ------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _sha(path: str, mtime: float) -> str:
    return sha256_file(Path(path))


def model_with(studio: Studio, sha256: str) -> str | None:
    """The key of the offered model whose weights have this sha256 (the identity every recipe carries)."""
    for _, key in studio.models.choices():
        w = studio.models.get(key).weights
        if w.is_file() and _sha(str(w), w.stat().st_mtime) == sha256:
            return key
    return None


def restore_png(studio: Studio, s: Session, path: str | None) -> str:
    """Make the vector a ganstudio PNG shows current (switching model if it is another one), or project any other
    image onto the tab's model; a line saying which."""
    if not path:
        raise UserError("no file arrived: drop a PNG that ganstudio wrote, or any image to project")
    name = Path(path).name[:60]
    try:
        recipe = images.read_recipe(path)  # its size checked before anything is decoded
    except images.TooLarge:
        raise
    except UserError:  # said without the server's own path
        raise UserError(f"{name}: not an image ganstudio can read (drop a PNG ganstudio wrote, or a PNG/JPEG/WebP to project)") from None
    if recipe is None:
        return project(studio, s, path)
    key = model_with(studio, str(recipe.get("model_sha256", "")))
    if key is None:
        raise UserError(f"{name} was made by {str(recipe.get('model', 'an unknown model'))[:60]!r}, which this studio does not offer "
                        "(no model has its sha256)")
    nz = studio.generator(key).nz
    st, z = recipes.start(recipe, key, nz)
    b = bases(studio, key)
    frame = recipe.get("frame")
    if isinstance(frame, dict) and "dim" in frame:  # one frame of a CLI sweep
        d = limits.check_dims("frame dimension", [frame["dim"]], nz)[0]
        st = recipes.with_value(st, d, float(limits.SWEEP_VALUE.check("frame value", frame.get("value"))), b, nz)
    elif isinstance(frame, dict) and "method" in frame:  # one frame of a CLI direction sweep
        st = recipes.direction_frame(st, frame, b, nz)
    elif z is not None and not np.allclose(recipes.z_of(st, b, nz), z, atol=1e-5):
        st = recipes.of_z(st, z)  # the directions were computed otherwise then: keep the exact vector
    with s.lock:
        if s.model != key:
            studio.switch_model(s, key)  # undo goes back as far as the switch (steps on other models are skipped)
        s.apply(st)
    return f"Restored {name}: {key}, seed {st.seed}, ψ {st.psi:g}" + (" with its edits" if st.edits or any(any(a) for a in st.amounts.values()) else "")


def project(studio: Studio, s: Session, path: str) -> str:
    """Make the latent vector whose image is closest to a foreign image current (on the tab's model)."""
    key = s.model
    gen = studio.generator(key)
    target = projection.read_image(path, gen.card.image_size, gen.card.channels)
    p = projection.project(gen, target)
    name = Path(path).name[:60]
    pair = images.rows([np.stack([target, p.image])])  # the dropped image beside the closest one the model draws
    beside = studio.out.image(pair, {"op": "projection-pair", "source": name, "model_sha256": gen.sha256,
                                     "projection": p.recipe()}, "projection-pair")
    with s.lock:
        if s.model != key:
            raise UserError("the model changed while the image was projected: drop it again")
        st = recipes.of_z(s.state(), p.z, f"projected {name}")
        s.apply(replace(st, origin=replace(st.origin, beside=beside)))
    note = f" ({p.note})" if p.note else ""
    return f"Projected {Path(path).name[:60]} onto {key}: {p.summary()}{note}"


def link(s: Session) -> str:
    return recipes.link(s.state())


def open_link(studio: Studio, s: Session, query: Mapping[str, str]) -> str:
    """Apply a link's query (model, seed, ψ, edits, amounts) to a new session; '' when the link names nothing."""
    if not any(k in query for k in ("model", "seed", "psi", "dims", *METHODS, *class_directions.METHODS)):
        return ""
    key = query.get("model", s.model)
    studio.models.get(key)  # one line naming the models on offer when it is not one
    if key != s.model:
        studio.switch_model(s, key)
    st = recipes.parse_link(query, list(bases(studio, key)), studio.generator(key).nz, key)
    s.apply(st)
    return f"Opened the link: {key}, seed {st.seed}"


# -- strips whose frames can be clicked ---------------------------------------------------------------------


def strip(studio: Studio, s: Session, name: str, png: str | None) -> list[tuple[Image.Image, str]]:
    """The frames of the strip PNG just made (its recipe says what they are), captioned with their value; a
    click on frame i makes it current (pick_frame)."""
    recipe = images.read_recipe(png) if png else None
    if not isinstance(recipe, dict):
        raise UserError("make the strip first")
    st0 = s.state()
    key = model_with(studio, str(recipe.get("model_sha256", ""))) or st0.model
    gen, b = studio.generator(key), bases(studio, key)
    start, _ = recipes.start(recipe, key, gen.nz)
    shown = recipes.frames(recipe, start, b, gen.nz)
    pixels = gen.images(np.stack([recipes.z_of(st, b, gen.nz) for st, _ in shown]))
    with s.lock:
        s.frames[name] = [st for st, _ in shown]
    return [(images.single(p), caption) for p, (_, caption) in zip(pixels, shown)]


def pick_frame(s: Session, name: str, index: object) -> None:
    with s.lock:
        shown = s.frames.get(name, [])
        i = int(limits.Bound(0, max(len(shown) - 1, 0), integer=True).check("frame", index))
        if not shown:
            raise UserError("make the strip first")
        if shown[i].model != s.model:
            raise UserError("that strip was made with another model: make it again")
        s.apply(shown[i])


def direction_sweep(studio: Studio, s: Session, method: str, j: int, steps: int, lo: float, hi: float) -> str:
    """The current image moving along direction j of `method` from lo to hi: a strip PNG with its recipe."""
    st, b = studio.state(s)
    gen = studio.generator(st.model)
    if method not in b or not 0 <= j < len(b[method]):
        raise UserError(f"no direction {method} {j + 1} for this model")
    steps = int(limits.SERVE_STEPS.check("steps", steps))
    lo, hi = limits.DIRECTION.check("from", lo), limits.DIRECTION.check("to", hi)
    limits.check_span(lo, hi)
    v = studio.vector(s)
    recipe = operations.recipe_for(gen, recipes.DIRECTION_SWEEP, vector=v.recipe(), method=method, index=j, steps=steps, range=[lo, hi])
    shown = recipes.frames(recipe, st, b, gen.nz)
    pixels = gen.images(np.stack([recipes.z_of(f, b, gen.nz) for f, _ in shown]))
    r = Render(pixels[None], images.rows([pixels]), recipe)
    return studio.out.png(r, f"sweep-{method}{j + 1}-seed{st.seed}")


def animation(studio: Studio, png: str | None, fps: float, frames: list[tuple[Image.Image, str]]) -> str:
    """An animated WebP of a strip's frames, enlarged with sharp pixels (every browser and chat app plays it)."""
    recipe = images.read_recipe(png) if png else None
    fps = float(limits.FPS.check("fps", fps))
    return studio.out.webp([img for img, _ in frames], Path(png or "strip").stem, fps, recipe or {})


# -- the current image, before and bigger -------------------------------------------------------------------


def before(studio: Studio, s: Session) -> tuple[str, str]:
    """What the edits started from: the seed's image, or a projection's or clicked frame's as it arrived."""
    st = s.state()
    gen = studio.generator(st.model)
    if st.origin is not None and st.origin.beside is not None:
        return st.origin.beside, "**before**: your image (left) beside its projection (right), unedited"
    if st.origin is not None:
        r = operations.still(gen, Vector.edited(st.seed, st.psi, gen.nz, st.origin.edits, {}, {}))
        return studio.out.still(r, f"seed{st.seed}-edited"), f"**before**: {st.origin.label}, unedited"
    r = operations.still(gen, Vector.of_seed(st.seed, st.psi, gen.nz))
    return studio.out.still(r, f"seed{st.seed}"), f"**before**: seed {st.seed} · ψ {st.psi:g}, unedited"


def downloads(studio: Studio, s: Session) -> list[str]:
    """The current image at each of DOWNLOAD_SIZES px, nearest neighbour and without the grid's border."""
    st, b = studio.state(s)
    gen = studio.generator(st.model)
    r = operations.still(gen, Vector.edited(st.seed, st.psi, gen.nz, st.edits, st.amounts, b))
    img = images.single(r.frames[0][0])
    stem = f"seed{st.seed}" + ("" if r.recipe["op"] == "sample" else "-edited")
    return [studio.out.enlarged(img, {**r.recipe, "enlarged_to": px}, f"{stem}-{px}px", px) for px in DOWNLOAD_SIZES]
