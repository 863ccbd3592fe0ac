"""One browser tab's state: the current vector (seed, ψ, hand edits, direction amounts) and what is on screen.

A tab's slider events run concurrently on the server, so every change happens under the session's lock and a
switch of model replaces the model, its edits, its direction amounts and the slider view in one step: no event
ever sees a new model with an old model's edits. Values arrive checked (ganstudio.explore.limits).

A bounded history of the vector's states gives undo and redo; consecutive moves of one slider are one step.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ganstudio.errors import UserError
from ganstudio.explore import limits

HISTORY = 50  # undo steps kept per tab

@dataclass(frozen=True)
class Origin:
    """Where a vector that is not a seed's came from (a projected image, a clicked interpolation or walk frame):
    what the current image's line names, what "Before" shows and what "Reset edits" returns to."""

    label: str  # "projected digit.png", "seed 3 → 9 (slerp), t 0.40", "walk from seed 3, frame 12"
    edits: Mapping[int, float]  # the vector as it arrived, every dimension written


@dataclass(frozen=True)
class State:
    """A consistent copy of a session, for rendering while other events change the session."""

    model: str
    seed: int
    psi: float
    edits: Mapping[int, float]
    amounts: Mapping[str, Sequence[float]]
    view: Sequence[int]
    origin: Origin | None = None


@dataclass
class Session:
    model: str
    seed: int = 0
    psi: float = 1.0
    edits: dict[int, float] = field(default_factory=dict)  # dimension -> value written into z
    amounts: dict[str, list[float]] = field(default_factory=dict)  # method -> amount along each direction
    grid_seed: int = 0  # the grid on screen shows seeds grid_seed .. grid_seed + grid_n - 1
    grid_n: int = 0
    grid_model: str = ""  # the model whose images the grid shows (a drop may switch the tab's model under it)
    view: list[int] = field(default_factory=list)  # the dimensions the slider slots show, in order
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    history: list[State] = field(default_factory=list, repr=False)  # states to undo to, oldest first
    future: list[State] = field(default_factory=list, repr=False)  # states undone, to redo
    last_change: str | None = field(default=None, repr=False)  # what made the newest history entry
    frames: dict[str, list[State]] = field(default_factory=dict, repr=False)  # each strip's frames, clickable
    origin: Origin | None = None  # where the current vector came from when it is not a seed's (edits start from it)

    def state(self) -> State:
        with self.lock:
            amounts = {m: tuple(a) for m, a in self.amounts.items()}
            return State(self.model, self.seed, self.psi, dict(self.edits), amounts, tuple(self.view), self.origin)

    def switch(self, model: str, directions: Mapping[str, int], view: Sequence[int]) -> None:
        """Another model: keep seed and ψ, drop edits (dimensions mean other things there), all at once."""
        with self.lock:
            self.model, self.view = model, list(view)
            self.edits, self.origin = {}, None
            self.amounts = {m: [0.0] * k for m, k in directions.items()}

    def fit_directions(self, model: str, directions: Mapping[str, int]) -> None:
        """The model's directions changed under the tab (class directions made, re-made for another number of
        classes, or refused meanwhile): see `fitted`; nothing happens if the tab has left the model."""
        with self.lock:
            if self.model == model:
                self.amounts = {m: list(a) for m, a in fitted(self.amounts, directions).items()}

    def clear_edits(self) -> None:
        """Back to the vector the edits started from: the seed's, or a projection's or frame's as it arrived."""
        with self.lock:
            self.edits = dict(self.origin.edits) if self.origin is not None else {}
            self.amounts = {m: [0.0] * len(a) for m, a in self.amounts.items()}

    def set_seed(self, seed: int) -> None:
        with self.lock:
            self.seed, self.origin = seed, None
            self.clear_edits()

    def set_psi(self, psi: float) -> None:
        with self.lock:
            self.psi = psi

    def show_grid(self, first_seed: int, n: int, model: str) -> None:
        with self.lock:
            self.grid_seed, self.grid_n, self.grid_model = first_seed, n, model

    def pick(self, index: object) -> None:
        """Make tile `index` of the grid on screen the current vector."""
        with self.lock:
            if self.grid_model != self.model:
                raise UserError("the grid shows another model's images: press Sample to draw this model's")
            tile = limits.Bound(0, max(self.grid_n - 1, 0), integer=True).check("tile", index)
            self.set_seed(self.grid_seed + int(tile))

    def set_dim(self, slot: int, value: float, model: str | None = None) -> int | None:
        """Slider `slot` moved: write the value (clamped) into the dimension it shows; returns that dimension.

        `model` is the model the browser showed when the slider moved: an event that arrives after a switch
        belongs to the old model's sliders and is dropped (None).
        """
        with self.lock:
            if model is not None and model != self.model:
                return None
            if not 0 <= slot < len(self.view):
                raise UserError(f"slider {slot} shows no dimension")
            dim = self.view[slot]
            self.edits[dim] = clamp(limits.LATENT, value)
            return dim

    def set_amount(self, method: str, j: int, value: float, model: str | None = None) -> bool:
        """Direction j of `method` moved; False when the event belongs to a model the tab has left."""
        with self.lock:
            if model is not None and model != self.model:
                return False
            amounts = self.amounts.get(method)
            if amounts is None or not 0 <= j < len(amounts):
                raise UserError(f"no direction {method} {j + 1} for this model")
            amounts[j] = clamp(limits.DIRECTION, value)
            return True

    def move_amounts(self, source: str, target: str) -> None:
        """Add `source`'s direction amounts onto `target`'s (row for row), then set source's to 0."""
        with self.lock:
            if source in self.amounts and target in self.amounts:
                for j, a in enumerate(self.amounts[source][: len(self.amounts[target])]):
                    self.amounts[target][j] = clamp(limits.DIRECTION, self.amounts[target][j] + a)
                self.amounts[source] = [0.0] * len(self.amounts[source])

    def set_view(self, dims: Sequence[int]) -> None:
        with self.lock:
            self.view = list(dims)


    # -- history and whole states (undo/redo, a restored recipe or link, a clicked frame) --------------------

    def remember(self, change: str | None = None) -> None:
        """Keep the state before a change, for undo. A change named like the previous one (the same slider
        moving again) extends that step; None always starts a new one."""
        with self.lock:
            if change is not None and change == self.last_change:
                return
            self.last_change = change
            st = self.state()
            if not self.history or _vector(self.history[-1]) != _vector(st):
                self.history.append(st)
                del self.history[:-HISTORY]
            self.future.clear()

    def apply(self, st: State, change: str | None = None) -> None:
        """Make `st` the current vector (on the session's model), as one undoable step."""
        with self.lock:
            self.remember(change)
            self._restore(st)

    def set_edit(self, dim: int, value: float) -> None:
        """Write `value` into dimension `dim` as it is stored (before direction amounts are added)."""
        with self.lock:
            self.edits[int(dim)] = float(value)

    def undo(self) -> bool:
        """Back one step; False when there is none (steps made on another model are skipped)."""
        return self._step(self.history, self.future)

    def redo(self) -> bool:
        return self._step(self.future, self.history)

    def _step(self, source: list[State], target: list[State]) -> bool:
        with self.lock:
            while source and source[-1].model != self.model:
                source.pop()
            if not source:
                return False
            target.append(self.state())
            self._restore(source.pop())
            self.last_change = None
            return True

    def _restore(self, st: State) -> None:
        self.seed, self.psi, self.origin = st.seed, st.psi, st.origin
        self.edits = dict(st.edits)
        for m, a in self.amounts.items():  # this model's directions: a state from elsewhere is cut or padded
            given = [float(x) for x in st.amounts.get(m, ())][: len(a)]
            self.amounts[m] = given + [0.0] * (len(a) - len(given))


def fitted(amounts: Mapping[str, Sequence[float]], directions: Mapping[str, int]) -> dict[str, tuple[float, ...]]:
    """Amounts for the directions a model has now (method -> how many): cut or padded with 0, new methods at 0."""
    return {m: tuple([*amounts.get(m, ()), *[0.0] * k][:k]) for m, k in directions.items()}


def _vector(st: State) -> tuple:
    """What a state renders (undo skips entries that look the same)."""
    return (st.model, st.seed, st.psi, sorted(st.edits.items()), sorted((m, tuple(a)) for m, a in st.amounts.items()),
            st.origin and st.origin.label)


def clamp(bound: limits.Bound, value: float) -> float:
    """A slider's value held inside its range (a client may send any finite number)."""
    x = float(limits.Bound(-1e6, 1e6).check("value", value))
    return min(max(x, bound.lo), bound.hi)


def parse_dims(query: str, nz: int) -> set[int] | None:
    """'3, 10-20 42' -> {3, 10, ..., 20, 42}; empty -> None (all dimensions)."""
    tokens = [t for t in re.split(r"[,\s]+", query.strip()) if t]
    if not tokens:
        return None
    dims: set[int] = set()
    for t in tokens:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", t)
        if not m:
            raise UserError(f"dimension filter {t[:40]!r}: use numbers and ranges, like 3, 10-20")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if lo > hi:
            raise UserError(f"dimension filter {t[:40]!r}: a range goes from low to high, like {hi}-{lo}")
        if hi >= nz:
            raise UserError(f"dimension filter {t[:40]!r}: this generator has dimensions 0..{nz - 1}")
        dims.update(range(lo, hi + 1))
    return dims
