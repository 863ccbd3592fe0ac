"""Every bound on what a person may ask of the exploring operations, defined once.

The CLI, the studio's callbacks, its HTTP routes and its Gradio components all read these. Each check names
the option or parameter the value came in as (`--n` on the command line, `n` in the API), so the one-line
error says what to change and to what. A server is shared by many people, so its counts are tighter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ganstudio.errors import UserError

MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Bound:
    """A closed range lo..hi of whole numbers (integer=True) or finite floats."""

    lo: float
    hi: float
    integer: bool = False
    open_lo: bool = False  # lo itself is outside

    def __str__(self) -> str:
        if self.integer:
            return f"{int(self.lo)}..{int(self.hi)}"
        return f"more than {self.lo:g}, up to {self.hi:g}" if self.open_lo else f"{self.lo:g}..{self.hi:g}"

    def __contains__(self, x: float) -> bool:
        return (self.lo < x if self.open_lo else self.lo <= x) and x <= self.hi

    def check(self, name: str, value: object) -> int | float:
        """The value as an int (or float) inside the range, or a one-line UserError naming `name`."""
        kind = "a whole number" if self.integer else "a number"
        quoted = repr(shown(value)) if isinstance(value, str) else shown(value)
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{name} {quoted} must be {kind} in {self}") from None
        if not math.isfinite(x) or (self.integer and not x.is_integer()):
            raise UserError(f"{name} {quoted} must be {kind} in {self}")
        # Recipes must say 1.0, not 1, whatever a client sent: the PNG bytes depend on it.
        out = int(x) if self.integer else x
        if x not in self:
            raise UserError(f"{name} {out} is out of range: use {self}")
        return out


def shown(value: object, limit: int = 40) -> str:
    """A value as an error message quotes it: cut short, so a 10,000-character input is not echoed whole."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def check_dims(name: str, dims: Iterable[object], nz: int) -> list[int]:
    """Latent dimensions of a generator with nz of them, as ints; at most DIMS_PER_SWEEP at once."""
    dims = list(dims)
    DIMS_PER_SWEEP.check(f"number of {name} values", len(dims))
    bound = Bound(0, nz - 1, integer=True)
    out = []
    for d in dims:
        try:
            out.append(int(bound.check(name, d)))
        except UserError:
            raise UserError(f"{name} {shown(d)} is out of range: this generator has dimensions 0..{nz - 1}") from None
    return out


def check_span(lo: float, hi: float, names: tuple[str, str] = ("from", "to")) -> None:
    if not lo < hi:
        raise UserError(f"{names[0]} {lo:g} must be below {names[1]} {hi:g}")


SEED = Bound(0, MAX_SEED, integer=True)
# Truncation: 1 leaves z as drawn, below 1 pulls it toward the prior's mean; at 0 every vector would be the
# mean (interpolations of zero vectors, walks that stand still), so 0 is outside.
PSI = Bound(0.0, 2.0, open_lo=True)
FPS = Bound(0.5, 50.0)  # GIF frames per second
GIF_SCALE = Bound(1, 16, integer=True)  # the CLI's GIFs enlarged this many times (a 32 px model: up to 512 px)
STEP_SIZE = Bound(0.001, 1.0)  # a random walk's step, relative to |z|
DIMS_PER_SWEEP = Bound(1, 16, integer=True)
INTERPOLATIONS = ("lerp", "slerp")
INTERPOLATION = "slerp"  # the studio's and its API's default: slerp keeps |z| typical on the way

# The command line: one person, their own machine.
N = Bound(1, 1024, integer=True)  # images in a grid
STEPS = Bound(2, 512, integer=True)  # frames in a sweep, interpolation or walk
SWEEP_VALUE = Bound(-100.0, 100.0)  # what a swept dimension may be set to

# The studio and its API: one server, many people.
SERVE_N = Bound(1, 256, integer=True)
SERVE_STEPS = Bound(2, 128, integer=True)
LATENT = Bound(-4.0, 4.0)  # a dimension's slider; z ~ N(0, 1) lies inside for all but 1 in 15,000
DIRECTION = Bound(-10.0, 10.0)  # a direction's slider; directions are unit vectors and |z| ~ sqrt(nz)
N_DIRECTIONS = 8  # sliders per direction method
MAX_CLASSES = 16  # class directions a model may have (one slider each); the labelled datasets have 10
CLASS_SAMPLES = Bound(500, 20_000, integer=True)  # samples labelled to fit the class boundaries
MAX_SLIDERS = 512  # dimension sliders on the page, at most

# Projecting an image (bring your own image): the same on the command line and in the studio.
PROJECT_BYTES = 32 * 2**20  # the largest image file read
PROJECT_PIXELS = 40_000_000  # width x height, checked before decoding (a 40 MP photo; Pillow's bomb check is at 89 MP)
PROJECT_ROUNDS = Bound(0, 500, integer=True)  # rounds of the search after the start
PROJECT_ROUNDS_DEFAULT = 40
PROJECT_POPULATION = 32  # vectors drawn per round, one batch through the generator
PROJECT_SAMPLES = 512  # without an encoder, the search starts from the nearest of this many seeded samples
ENCODER_STEPS = Bound(1, 100_000, integer=True)  # `ganstudio encoder --steps`: batches of fresh samples
ENCODER_STEPS_DEFAULT = 1000
