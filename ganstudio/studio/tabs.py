"""The studio page, one small function per part: the header, the current image, and each tab.

Each function builds its components inside the enclosing Gradio layout and wires the events that stay
within it; what other parts need (the components a new current image updates) it returns. The callbacks
themselves are ganstudio.studio.service's; here they are only connected.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ganstudio.errors import UserError
from ganstudio.explore import limits
from ganstudio.studio.analysis import METHOD_TITLES, METHODS
from ganstudio.studio.session import Session
from ganstudio.studio.service import Studio

log = logging.getLogger("ganstudio.studio")

BUTTONS = ["download", "fullscreen"]  # no "share": nothing leaves this machine
PRIVATE = dict(api_visibility="private")
# The named API endpoints take the client's values as sent: the studio checks them (ganstudio.explore.limits)
# and answers with one line naming the parameter, where Gradio's component checks would answer first with
# their own words (or none: a NaN or a word for a number), print a traceback, and know only the models the
# page was built with (not those a Rescan found).
RAW = dict(preprocess=False)
QUIET = dict(show_progress="hidden", trigger_mode="always_last", api_visibility="private")

HOW_TO = """\
**How to explore.** 1. *Sample* a grid (⚄ for a new seed) and click the image you like: it becomes the
**current image** on the left. 2. In *Dimensions*, drag a slider to move one latent dimension of it; the
ones that change the image most are listed first. *Sweep* renders one dimension from -3 to +3 as a strip.
3. *Directions* move it along directions found from the generator's weights (SeFa) or its activations
(GANSpace), which change more at once. 4. *Interpolate* to another seed, or take a *Random walk* from it.
Every image downloads as a PNG carrying its recipe; `ganstudio sample --seed S --n 1` re-makes an
unedited one exactly. *Reset edits* goes back to the seed.
"""


def ui(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A person's mistake (UserError) shows as a one-line error in the page; a bug is logged and shown as one
    too. Either way the server keeps serving and nobody sees a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            log.warning("ganstudio studio: %s rejected: %s", getattr(fn, "__name__", fn), e)  # one line, no traceback
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:
            log.exception("studio: %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(f"internal error ({type(e).__name__}); the server's log has the details", print_exception=False) from None

    return wrapper


def ready(s: Session | None) -> Session:
    if s is None:
        raise UserError("the page is still loading; try again in a moment")
    return s


def pixels(label: str, **kw: Any) -> gr.Image:
    """An output image shown with sharp pixels, downloadable."""
    return gr.Image(label=label, type="filepath", interactive=False, buttons=BUTTONS, elem_classes="pixels", **kw)


@dataclass
class Page:
    """The components every part reads or updates."""

    studio: Studio
    session: gr.State
    model: gr.Dropdown
    refresh: gr.Button
    psi: gr.Slider
    current_img: gr.Image | None = None
    current_info: gr.Markdown | None = None
    current_seed: gr.Number | None = None
    reset: gr.Button | None = None
    card: gr.Markdown | None = None

    @property
    def current(self) -> list[Any]:
        return [self.current_img, self.current_info, self.current_seed]

    def show(self, s: Session) -> list[Any]:
        path, info = self.studio.current(s)
        return [path, info, s.seed]


def header(studio: Studio) -> Page:
    with gr.Row(equal_height=True):
        gr.Markdown("## ganstudio\nlatent space studio", elem_id="title")
        model = gr.Dropdown(studio.models.choices(), value=studio.models.default, label="Model (newest first)", scale=4)
        refresh = gr.Button("↻ Rescan", scale=0, min_width=90, size="sm")
        psi = gr.Slider(0.05, limits.PSI.hi, value=1.0, step=0.05, label="Truncation ψ",  # ψ = 0 is outside PSI
                        info="< 1: more typical images, less variety", scale=2)
    with gr.Accordion("How to explore", open=True):
        gr.Markdown(HOW_TO)
    return Page(studio, gr.State(None), model, refresh, psi)


def current_column(page: Page) -> None:
    page.current_img = gr.Image(label="Current image", type="filepath", interactive=False, height=420,
                                elem_id="current", elem_classes="pixels", buttons=BUTTONS)
    page.current_info = gr.Markdown(elem_id="current-info")
    with gr.Row():
        page.current_seed = gr.Number(label="Current seed (Enter to jump)", precision=0, minimum=0,
                                      maximum=limits.SEED.hi, scale=3)
        page.reset = gr.Button("Reset edits", scale=1, min_width=100)
    with gr.Accordion("Model card", open=True):
        page.card = gr.Markdown(elem_id="card")


@dataclass
class Grid:
    seed: gr.Number
    n: gr.Slider
    gallery: gr.Gallery
    file: gr.DownloadButton

    def refill(self, page: Page, event: Any) -> None:
        """After `event`: make the grid PNG, then its tiles."""
        event.then(ui(page.studio.sample), [page.model, self.seed, self.n, page.psi], self.file, **PRIVATE).success(
            tiles(page), [page.session, page.model, self.seed, self.n, page.psi], self.gallery, **PRIVATE)


def tiles(page: Page) -> Callable[..., Any]:
    @ui
    def on_tiles(s: Session | None, key: str, first: int, count: int, p: float) -> Any:
        shown = page.studio.tiles(ready(s), key, first, count, p)
        return gr.update(value=shown, columns=min(len(shown), 8) if len(shown) <= 64 else 16)

    return on_tiles


def sample_tab(page: Page) -> Grid:
    with gr.Tab("Sample"):
        with gr.Row():
            seed = gr.Number(0, label="First seed", precision=0, minimum=0, maximum=limits.SEED.hi - limits.SERVE_N.hi, scale=2)
            dice = gr.Button("⚄ Random", scale=1, min_width=100)
            n = gr.Slider(1, limits.SERVE_N.hi, value=32, step=1, precision=0, label="Images (n)", scale=3)
            sample_btn = gr.Button("Sample", variant="primary", scale=1, min_width=100)
        gr.Markdown("Seeds *first seed* … *first seed + n − 1*. **Click an image to make it the current one.**")
        gallery = gr.Gallery(show_label=False, columns=8, height="auto", allow_preview=False, object_fit="contain",
                             elem_classes="pixels", buttons=[])
        file = gr.DownloadButton("⬇ Grid PNG (with recipe)", size="sm", elem_id="grid-png")
    grid = Grid(seed, n, gallery, file)
    inputs = [page.model, seed, n, page.psi]
    show_tiles = tiles(page)
    # The named API endpoint "sample": the CLI's grid.
    sample_btn.click(ui(page.studio.sample), inputs, file, api_name="sample", **RAW).success(
        show_tiles, [page.session, *inputs], gallery, **PRIVATE)
    for trigger in (seed.submit, n.release):
        trigger(ui(page.studio.sample), inputs, file, **PRIVATE).success(show_tiles, [page.session, *inputs], gallery, **PRIVATE)
    grid.refill(page, dice.click(lambda: random.randrange(1_000_000), None, seed, **PRIVATE))
    return grid


@dataclass
class Dimensions:
    summary: gr.Markdown
    query: gr.Textbox
    by_effect: gr.Checkbox
    slots: list[gr.Slider]
    sweep_dim: gr.Number


def dimensions_tab(page: Page, n_slots: int, nz_max: int) -> Dimensions:
    lat = limits.LATENT
    with gr.Tab("Dimensions"):
        summary = gr.Markdown()
        with gr.Row():
            query = gr.Textbox(label="Find dimensions", placeholder="e.g. 7, 20-30 (empty: all)", scale=3)
            by_effect = gr.Checkbox(True, label="Strongest effect first", scale=1)
        with gr.Column(elem_classes="dims"):
            slots = [gr.Slider(lat.lo, lat.hi, value=0, step=0.01, label=f"dim {i}", buttons=[]) for i in range(n_slots)]
        gr.Markdown("**Sweep one dimension** of the current image from *from* to *to* "
                    "(unedited: the strip `ganstudio sample --seed S --dim D --steps N` writes).")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    dim = gr.Number(0, label="Dimension", precision=0, minimum=0, maximum=nz_max - 1, min_width=90)
                    steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=10, step=1, precision=0, label="Steps", min_width=120)
                    fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=5.0, step=0.5, label="GIF fps", min_width=150)
                with gr.Row():
                    lo = gr.Slider(lat.lo, lat.hi, value=-3.0, step=0.1, label="From")
                    hi = gr.Slider(lat.lo, lat.hi, value=3.0, step=0.1, label="To")
                sweep_btn = gr.Button("Sweep this dimension", variant="primary")
            gif = pixels("Sweep GIF", height=230, scale=1, min_width=160)
        strip = pixels("Sweep strip", show_label=False, height=110, elem_id="sweep-strip")
    # The named API endpoint "sweep" (from the tab's edited vector when it has one).
    sweep_btn.click(ui(page.studio.sweep), [page.model, page.current_seed, dim, steps, lo, hi, page.psi, fps, page.session],
                    [strip, gif], api_name="sweep", **RAW)

    def on_dim(slot: int) -> Callable[..., list[Any]]:
        @ui
        def moved(s: Session | None, value: float, key: str) -> list[Any]:
            d = page.studio.set_dim(ready(s), slot, value, key)
            return [gr.skip()] * 4 if d is None else [*page.show(s), d]  # None: the slider of a model the tab left

        return moved

    for i, slider in enumerate(slots):
        slider.input(on_dim(i), [page.session, slider, page.model], [*page.current, dim], **QUIET)
    return Dimensions(summary, query, by_effect, slots, dim)


def directions_tab(page: Page) -> dict[str, list[gr.Slider]]:
    d = limits.DIRECTION
    with gr.Tab("Directions"):
        gr.Markdown("Each slider moves the current image along one direction in latent space (unit vector; "
                    "|z| is about √nz). **SeFa**: eigenvectors of WᵀW of the first layer, strongest first. "
                    "**GANSpace**: principal components of the first layer's activations over 4,096 samples.")
        sliders: dict[str, list[gr.Slider]] = {}
        with gr.Row():
            for m in METHODS:
                with gr.Column():
                    gr.Markdown(f"**{METHOD_TITLES[m]}**")
                    sliders[m] = [gr.Slider(d.lo, d.hi, value=0, step=0.1, label=f"{m} {j + 1}") for j in range(limits.N_DIRECTIONS)]

    def on_amount(m: str, j: int) -> Callable[..., list[Any]]:
        @ui
        def moved(s: Session | None, value: float, key: str) -> list[Any]:
            if not page.studio.set_amount(ready(s), m, j, value, key):
                return [gr.skip()] * 3  # the slider of a model the tab left
            return page.show(s)

        return moved

    for m in METHODS:
        for j, slider in enumerate(sliders[m]):
            slider.input(on_amount(m, j), [page.session, slider, page.model], page.current, **QUIET)
    return sliders


def interpolate_tab(page: Page) -> None:
    with gr.Tab("Interpolate"):
        with gr.Row():
            from_current = gr.Checkbox(False, label="Start from the current image, edits included")
            seed_from = gr.Number(0, label="From seed (follows the current seed)", precision=0, minimum=0, maximum=limits.SEED.hi)
            seed_to = gr.Number(1, label="To seed", precision=0, minimum=0, maximum=limits.SEED.hi)
            dice_to = gr.Button("⚄", scale=0, min_width=60)
        with gr.Row():
            steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=16, step=1, precision=0, label="Steps")
            method = gr.Radio(["lerp", "slerp"], value="slerp", label="Path", info="slerp keeps |z| typical")
            fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=10.0, step=0.5, label="GIF fps")
        go = gr.Button("Interpolate", variant="primary")
        strip = pixels("Interpolation strip", height=150)
        gif = pixels("Interpolation GIF", height=240)
    go.click(ui(page.studio.interpolate), [page.model, seed_from, seed_to, steps, method, page.psi, fps, from_current, page.session],
             [strip, gif], api_name="interpolate", **RAW)
    dice_to.click(lambda: random.randrange(1_000_000), None, seed_to, **PRIVATE)
    page.current_seed.change(None, page.current_seed, seed_from, js="(x) => x", **PRIVATE)  # in the browser only


def walk_tab(page: Page) -> None:
    with gr.Tab("Random walk"):
        with gr.Row():
            steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=60, step=1, precision=0, label="Frames")
            step_size = gr.Slider(limits.STEP_SIZE.lo, limits.STEP_SIZE.hi, value=0.08, step=0.001, label="Step size")
            fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=15.0, step=0.5, label="GIF fps")
        go = gr.Button("Walk from the current image", variant="primary")
        gif = pixels("Random walk GIF", height=300)
        frames = pixels("Frames")
    go.click(ui(page.studio.walk), [page.model, page.current_seed, steps, step_size, page.psi, fps, page.session],
             [frames, gif], api_name="walk", **RAW)


@dataclass
class Timeline:
    text: gr.Markdown
    slider: gr.Slider
    image: gr.Image

    def panels(self, studio: Studio, key: str) -> list[Any]:
        """The timeline at a model's last kept step (a slider needs two snapshots to span; one is just shown)."""
        shots = studio.snapshots(key)
        if not shots:
            return [gr.update(visible=False), None, f"{key} kept no training snapshots (training runs keep them in samples/)."]
        frame, caption = studio.snapshot(key, len(shots) - 1)
        last = len(shots) - 1
        return [gr.update(maximum=max(last, 1), value=last, visible=last > 0), frame, caption]


def timeline_tab(page: Page) -> Timeline:
    with gr.Tab("Training timeline"):
        text = gr.Markdown()
        slider = gr.Slider(0, 1, value=0, step=1, precision=0, label="Snapshot (training step →)")
        image = pixels("Sample grid at this step", height=460)

    @ui
    def on_snapshot(s: Session | None, index: int) -> list[Any]:
        return list(page.studio.snapshot(ready(s).model, index))

    slider.input(on_snapshot, [page.session, slider], [image, text], **QUIET)
    return Timeline(text, slider, image)
