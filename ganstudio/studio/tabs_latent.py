"""The Dimensions and Directions tabs: a slider per latent dimension or direction, each with a ⇆ button that
sweeps it as a strip of frames (a click on a frame makes it current)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ganstudio.explore import limits
from ganstudio.studio import views
from ganstudio.studio.analysis import METHOD_TITLES, METHODS
from ganstudio.studio.page import PRIVATE, Page, QUIET, RAW, Strip, pixels, ready, ui
from ganstudio.studio.service import Studio
from ganstudio.studio.session import Session

SWEEP = "⇆"


@dataclass
class Dimensions:
    summary: gr.Markdown
    query: gr.Textbox
    by_effect: gr.Checkbox
    slots: list[gr.Slider]
    sweep_dim: gr.Number
    strip: Strip


def dimensions_tab(page: Page, n_slots: int, nz_max: int) -> Dimensions:
    lat = limits.LATENT
    studio = page.studio
    with gr.Tab("Dimensions"):
        summary = gr.Markdown()
        with gr.Row():
            query = gr.Textbox(label="Find dimensions", placeholder="e.g. 7, 20-30 (empty: all)", scale=3)
            by_effect = gr.Checkbox(True, label="Strongest effect first", scale=1)
        slots, buttons = [], []
        with gr.Column(elem_classes="dims"):
            for i in range(n_slots):
                with gr.Row(elem_classes="slot"):
                    slots.append(gr.Slider(lat.lo, lat.hi, value=0, step=0.01, label=f"dim {i}", buttons=[], scale=6))
                    buttons.append(gr.Button(SWEEP, size="sm", scale=0, min_width=36, elem_classes="sweep-one"))
        gr.Markdown(f"**Sweep one dimension** of the current image from *from* to *to* ({SWEEP} beside a slider sweeps "
                    "its dimension; unedited, the strip is the one `ganstudio sample --seed S --dim D --steps N` writes).")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():  # two controls a row: three were clipped at 1280 px
                    dim = gr.Number(0, label="Dimension", precision=0, minimum=0, maximum=nz_max - 1, min_width=90)
                    steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=10, step=1, precision=0, label="Steps", min_width=120)
                with gr.Row():
                    lo = gr.Slider(lat.lo, lat.hi, value=-3.0, step=0.1, label="From")
                    hi = gr.Slider(lat.lo, lat.hi, value=3.0, step=0.1, label="To")
                fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=5.0, step=0.5, label="GIF fps", min_width=150)
                sweep_btn = gr.Button("Sweep this dimension", variant="primary")
            gif = pixels("Sweep GIF", height=230, scale=1, min_width=160)
        strip = Strip.build("sweep", "Sweep", 10)
    inputs = [page.model, page.current_seed, dim, steps, lo, hi, page.psi, fps, page.session]
    # The named API endpoint "sweep" (from the tab's edited vector when it has one).
    strip.fill(sweep_btn.click(ui(studio.sweep), inputs, [strip.png, gif], api_name="sweep", **RAW), fps)

    def on_dim(slot: int) -> Callable[..., list[Any]]:
        @ui
        def moved(s: Session | None, value: float, key: str) -> list[Any]:
            d = views.set_dim(studio, ready(s), slot, value, key)
            return [gr.skip()] * 5 if d is None else [*page.show(s), d]  # None: the slider of a model the tab left

        return moved

    def slot_dim(slot: int) -> Callable[..., int]:
        @ui
        def dimension(s: Session | None) -> int:
            view = ready(s).state().view
            return int(view[int(limits.Bound(0, max(len(view) - 1, 0), integer=True).check("slider", slot))])

        return dimension

    for i, (slider, button) in enumerate(zip(slots, buttons)):
        slider.input(on_dim(i), [page.session, slider, page.model], [*page.current, dim], **QUIET)
        event = button.click(slot_dim(i), page.session, dim, **PRIVATE).success(ui(studio.sweep), inputs, [strip.png, gif], **PRIVATE)
        strip.fill(event, fps)
    return Dimensions(summary, query, by_effect, slots, dim, strip)


@dataclass
class Directions:
    sliders: dict[str, list[gr.Slider]]
    strip: Strip

    def wire(self, page: Page) -> None:
        """Dragging re-renders the image; letting go (or ↺) updates every slider, the dimensions' included."""
        for m in METHODS:
            for j, slider in enumerate(self.sliders[m]):
                args = [page.session, slider, page.model]
                move = functools.partial(_move, page.studio, m, j)
                slider.input(on_amount(move, page.show, len(page.current)), args, page.current, **QUIET)
                slider.release(on_amount(move, page.show_all, len(page.view_out)), args, page.view_out, **QUIET)


def _move(studio: Studio, m: str, j: int, s: Session, value: float, key: str) -> bool:
    return views.set_amount(studio, s, m, j, value, key)


def on_amount(move: Callable[..., bool], shown: Callable[[Session], list[Any]] | None, count: int) -> Callable[..., list[Any]]:
    """A direction slider's event: move(session, value, model key, *more inputs) sets its amount, then `shown`
    renders; nothing changes when move says the event belongs to a model the tab has left."""

    @ui
    def moved(s: Session | None, value: float, key: str, *more: Any) -> list[Any]:
        if not move(ready(s), value, key, *more):
            return [gr.skip()] * count
        return shown(s)  # type: ignore[misc]

    return moved


def directions_tab(page: Page) -> Directions:
    d = limits.DIRECTION
    with gr.Tab("Directions"):
        gr.Markdown("Each slider moves the current image along one direction in latent space (unit vector; "
                    "|z| is about √nz); ↺ sets it back to 0, ⇆ sweeps it. **SeFa**: eigenvectors of WᵀW of the first "
                    "layer, strongest first. **GANSpace**: principal components of the first layer's activations over "
                    "4,096 samples.")
        sliders: dict[str, list[gr.Slider]] = {}
        buttons: dict[str, list[gr.Button]] = {}
        with gr.Row():
            for m in METHODS:
                with gr.Column():
                    gr.Markdown(f"**{METHOD_TITLES[m]}**")
                    sliders[m], buttons[m] = [], []
                    for j in range(limits.N_DIRECTIONS):
                        with gr.Row(elem_classes="slot"):
                            sliders[m].append(gr.Slider(d.lo, d.hi, value=0, step=0.1, label=f"{m} {j + 1}", scale=6))
                            buttons[m].append(gr.Button(SWEEP, size="sm", scale=0, min_width=36, elem_classes="sweep-one"))
        with gr.Row():
            steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=9, step=1, precision=0, label="Sweep steps")
            reach = gr.Slider(0.5, d.hi, value=6.0, step=0.5, label="Sweep from −a to +a")
            fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=5.0, step=0.5, label="WebP fps")
        strip = Strip.build("direction", "Direction sweep", 9)

    def on_sweep(m: str, j: int) -> Callable[..., str]:
        @ui
        def sweep(s: Session | None, n: int, a: float) -> str:
            return views.direction_sweep(page.studio, ready(s), m, j, n, -float(a), float(a))

        return sweep

    for m in METHODS:
        for j, button in enumerate(buttons[m]):
            strip.fill(button.click(on_sweep(m, j), [page.session, steps, reach], strip.png, **PRIVATE), fps)
    return Directions(sliders, strip)
