"""What a ganstudio image's recipe restores, and the page's link: a latent vector as a session state.

Every PNG ganstudio writes names its model (by sha256) and where its vector came from: a seed and ψ, or for an
edited image the vector itself with the seed, ψ, edits and direction amounts it was made of. `start` turns that
into a session state; `frames` gives the state of every frame of a sweep, interpolation or walk, so any frame
can become the current image. A state's vector is Vector.edited(seed, psi, edits, amounts): a frame that is not
one of those (an interpolation's, a walk's) is stored as edits of every dimension, which is that vector exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import numpy as np

from ganstudio.errors import UserError
from ganstudio.explore import latent, limits
from ganstudio.explore.operations import DIRECTION_SWEEP, Vector
from ganstudio.studio.session import Origin, State


def start(recipe: Mapping[str, Any], model: str, nz: int) -> tuple[State, np.ndarray | None]:
    """(the state an image's recipe starts from, the exact vector it records when it records one)."""
    op = recipe.get("op")
    try:
        if "vector" in recipe:
            v = recipe["vector"]
            edits = {int(d): float(x) for d, x in v.get("edits", {}).items()}
            amounts = {str(m): [float(a) for a in xs] for m, xs in v.get("directions", {}).items()}
            z = np.asarray(v["z"], dtype=np.float32) if "z" in v else None
            st = _state(model, v["seed"], v["psi"], edits, amounts, nz)
            return st, (z if z is not None and z.shape == (nz,) else None)
        if op in ("sample", "sweep", "walk", DIRECTION_SWEEP):
            return _state(model, recipe["seed"], recipe.get("psi", 1.0), {}, {}, nz), None
        if op == "interpolate":
            return _state(model, recipe["seed_from"], recipe.get("psi", 1.0), {}, {}, nz), None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"its recipe ({op or 'no operation'}) is damaged: it does not say which latent vector it shows") from None
    raise UserError(f"it is a ganstudio {str(op)[:30]!r} image, which names no latent vector to restore")


def _state(model: str, seed: object, psi: object, edits: dict[int, float], amounts: dict[str, list[float]], nz: int) -> State:
    seed, psi = int(limits.SEED.check("seed", seed)), float(limits.PSI.check("psi", psi))
    for d in edits:
        limits.Bound(0, nz - 1, integer=True).check("edited dimension", d)
    for xs in amounts.values():
        for a in xs:
            limits.DIRECTION.check("direction amount", a)
    return State(model, seed, psi, edits, amounts, ())


def offset(amounts: Mapping[str, Sequence[float]], bases: Mapping[str, np.ndarray], nz: int) -> np.ndarray:
    """What the direction amounts add to z, per dimension (an edit is written before them)."""
    out = np.zeros(nz, dtype=np.float32)
    for m, a in amounts.items():
        if any(a) and m in bases:
            out += np.asarray(a, dtype=np.float32)[: len(bases[m])] @ bases[m][: len(a)]
    return out


def with_value(st: State, dim: int, value: float, bases: Mapping[str, np.ndarray], nz: int) -> State:
    """st with dimension `dim` of the final vector (directions included) at `value`."""
    edits = {**st.edits, int(dim): float(value) - float(offset(st.amounts, bases, nz)[dim])}
    return State(st.model, st.seed, st.psi, edits, st.amounts, (), st.origin)


def with_amount(st: State, method: str, j: int, value: float, bases: Mapping[str, np.ndarray]) -> State:
    """st with direction j of `method` at `value` (the other amounts as they are)."""
    if method not in bases or not 0 <= j < len(bases[method]):
        raise UserError(f"no direction {str(method)[:20]} {j + 1} for this model")
    amounts = full(st.amounts, bases)
    amounts[method][j] = float(value)
    return State(st.model, st.seed, st.psi, st.edits, amounts, (), st.origin)


def direction_frame(st: State, frame: Mapping[str, Any], bases: Mapping[str, np.ndarray], nz: int) -> State:
    """The state of one frame of `ganstudio sample --direction` (its recipe's "frame": method, direction, value, z).

    The frame records its exact vector too: when the model's directions are no longer those it was made with
    (re-made, or gone), that vector is what comes back.
    """
    try:
        z = np.asarray(frame.get("z", ()), dtype=np.float32)
        method, j = str(frame["method"]), int(frame["direction"])
        value = float(limits.DIRECTION.check("frame amount", frame["value"]))
    except (KeyError, TypeError, ValueError):
        raise UserError("its frame recipe is damaged: it does not say which direction and amount it shows") from None
    exact = z if z.shape == (nz,) and np.isfinite(z).all() else None
    try:
        moved = with_amount(st, method, j, value, bases)
    except UserError:
        if exact is None:
            raise
        return of_z(st, exact)
    return moved if exact is None or np.allclose(z_of(moved, bases, nz), exact, atol=1e-5) else of_z(st, exact)


def of_z(st: State, z: np.ndarray, origin: str | None = None) -> State:
    """The state whose vector is exactly z (every dimension written, no direction added); `origin` names where
    it came from, when the seed alone no longer says what the image is."""
    edits = {d: float(x) for d, x in enumerate(z)}
    return State(st.model, st.seed, st.psi, edits, {}, (), Origin(origin, edits) if origin else st.origin)


def z_of(st: State, bases: Mapping[str, np.ndarray], nz: int) -> np.ndarray:
    return Vector.edited(st.seed, st.psi, nz, st.edits, full(st.amounts, bases), bases).z


def full(amounts: Mapping[str, Sequence[float]], bases: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
    """An amount for every direction of the model (a recipe lists only the methods it moved)."""
    out = {}
    for m, b in bases.items():
        given = [float(x) for x in amounts.get(m, ())][: len(b)]
        out[m] = given + [0.0] * (len(b) - len(given))
    return out


def frames(recipe: Mapping[str, Any], st: State, bases: Mapping[str, np.ndarray], nz: int) -> list[tuple[State, str]]:
    """(state, caption) of every frame of a strip, from its recipe and the state it started from.

    The recipe comes from a file a client sent, so every number in it is held to the server's limits (a CLI
    strip may hold 512 steps of 16 dimensions; the studio shows at most SERVE_STEPS frames).
    """
    op = recipe.get("op")
    try:
        steps = int(limits.SERVE_STEPS.check("its steps", recipe.get("steps")))
        if op == "sweep":
            dims = limits.check_dims("dimension", recipe.get("dims", []), nz)
            lo, hi = (float(limits.SWEEP_VALUE.check("its range", x)) for x in recipe["range"])
            if len(dims) * steps > limits.SERVE_STEPS.hi:
                raise UserError(f"it holds {len(dims)} x {steps} frames: the studio shows strips of up to {limits.SERVE_STEPS.hi}")
            out = []
            for d in dims:
                name = f"dim {d} " if len(dims) > 1 else ""
                out += [(with_value(st, d, float(x), bases, nz), f"{name}{x:+.2f}") for x in latent.sweep_values(lo, hi, steps)]
            return out
        if op == DIRECTION_SWEEP:
            m, j = str(recipe["method"]), int(recipe["index"])
            lo, hi = (float(limits.DIRECTION.check("its range", x)) for x in recipe["range"])
            return [(with_amount(st, m, j, float(x), bases), f"{x:+.1f}") for x in latent.sweep_values(lo, hi, steps)]
        z0 = z_of(st, bases, nz)
        if op == "interpolate":
            psi = float(limits.PSI.check("its psi", recipe["psi"]))
            method = recipe.get("method", "lerp")
            if method not in limits.INTERPOLATIONS:
                raise UserError(f"its method {limits.shown(method)!r} must be lerp or slerp")
            b = latent.truncate(latent.z_from_seed(int(limits.SEED.check("its seed_to", recipe["seed_to"])), nz), psi)
            zs = latent.interpolate(z0, b, steps, method)
            pair = f"seed {st.seed} → {int(recipe['seed_to'])} ({method})"
            return [(of_z(st, z, f"{pair}, t {t:.2f}"), f"t {t:.2f}") for z, t in zip(zs, np.linspace(0, 1, steps))]
        if op == "walk":
            step_size = float(limits.STEP_SIZE.check("its step_size", recipe["step_size"]))
            zs = latent.random_walk(z0, steps, seed=st.seed, step_size=step_size)
            return [(of_z(st, z, f"walk from seed {st.seed}, frame {i}"), f"frame {i}") for i, z in enumerate(zs)]
    except (KeyError, TypeError, ValueError):
        raise UserError(f"its recipe ({str(op)[:30]}) is damaged: it does not say which frames it shows") from None
    raise UserError(f"a {str(op)[:30]!r} image has no frames to pick")


# -- the page's link: ?model=KEY&seed=3&psi=0.7&dims=12:1.5,3:-2&sefa=0,2.5 -------------------------------------


def _num(x: float) -> str:
    return f"{round(float(x), 4):g}"


def link(st: State) -> str:
    """The query string that opens this state (values to 4 decimals; zero amounts at the end dropped)."""
    q: dict[str, str] = {"model": st.model, "seed": str(st.seed), "psi": _num(st.psi)}
    if st.edits:
        q["dims"] = ",".join(f"{d}:{_num(x)}" for d, x in sorted(st.edits.items()))
    for m, a in st.amounts.items():
        a = list(a)
        while a and not a[-1]:
            a.pop()
        if a:
            q[m] = ",".join(_num(x) for x in a)
    return urlencode(q, safe=":,")


def parse_link(query: Mapping[str, str], methods: Sequence[str], nz: int, model: str) -> State:
    """A link's state on `model` (the caller resolved the model key); a bad value is one line."""
    try:
        edits = {}
        for item in filter(None, query.get("dims", "").split(",")):
            d, x = item.split(":")
            edits[int(d)] = float(limits.Bound(-1e3, 1e3).check("link's dimension value", x))
        amounts = {m: [float(x) for x in query[m].split(",")] for m in methods if query.get(m)}
    except ValueError:
        raise UserError("the link's dims or directions are garbled: expected dims=D:VALUE,... and sefa=A,B,...") from None
    return _state(model, query.get("seed", 0), query.get("psi", 1.0), edits, amounts, nz)
