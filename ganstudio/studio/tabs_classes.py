"""The Classes tab: a slider per class direction ("→ 7", "→ sandal") of a model that has them, a checkbox for the
conditional kind (the other classes held), and a ⇆ sweep by each slider. A model without them says how to make
them (or why its file was refused) and shows no sliders."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ganstudio.explore import class_directions, limits
from ganstudio.studio import views
from ganstudio.studio.page import PRIVATE, QUIET, Page, Strip, ready, ui
from ganstudio.studio.service import Studio
from ganstudio.studio.session import Session
from ganstudio.studio.tabs_latent import SWEEP, on_amount


@dataclass
class Classes:
    note: gr.Markdown
    body: gr.Column
    conditional: gr.Checkbox
    sliders: list[gr.Slider]
    strip: Strip

    @property
    def outputs(self) -> list[Any]:
        return [self.note, self.body, self.conditional, *self.sliders]

    def show(self, studio: Studio, s: Session) -> list[Any]:
        """Updates for `outputs`: the sliders of the session's model at its amounts, or the note alone."""
        st, _ = studio.state(s)
        an = studio.analysis(st.model)
        if an.classes is None:
            return [an.class_note, gr.update(visible=False), gr.skip(), *[gr.update(visible=False)] * len(self.sliders)]
        names = an.classes.names
        zeros = (0.0,) * len(names)
        plain, cond = st.amounts.get(class_directions.CLASS, zeros), st.amounts.get(class_directions.CONDITIONAL, zeros)
        ticked = True if any(cond) else False if any(plain) else gr.skip()  # unmoved: the box stays as the person left it
        ups = [gr.update(label=class_directions.label(names[j]), value=plain[j] + cond[j], visible=True) if j < len(names)
               else gr.update(visible=False) for j in range(len(self.sliders))]
        return [_note(an.classes), gr.update(visible=True), ticked, *ups]

    def wire(self, page: Page) -> None:
        """Dragging re-renders the image; letting go (or ↺) updates every slider, the dimensions' included."""
        for j, slider in enumerate(self.sliders):
            args = [page.session, slider, page.model, self.conditional]
            move = functools.partial(_move, page.studio, j)
            slider.input(on_amount(move, page.show, len(page.current)), args, page.current, **QUIET)
            slider.release(on_amount(move, page.show_all, len(page.view_out)), args, page.view_out, **QUIET)
        self.conditional.input(page.whole(views.set_class_mode), [page.session, self.conditional], page.view_out, **PRIVATE)


def _note(cd: class_directions.ClassDirections) -> str:
    info = cd.info
    acc = [b["held_out_accuracy"] for b in info.get("boundaries", [])]
    fitted = f" (held-out balanced accuracy {min(acc):.2f}–{max(acc):.2f})" if acc else ""
    return (f"Each slider moves the current image toward one class (↺ sets it back to 0, {SWEEP} sweeps it): the unit normal "
            f"of a linear boundary in z{fitted}, fitted to {info.get('samples', 0):,} samples that ganstudio's "
            f"{info.get('dataset', '')} classifier labelled. **Keep the other classes** projects the other classes' "
            "directions out of each (InterFaceGAN's conditional editing): the image gains this class without "
            "its likeness to any other changing along the way.")


def _move(studio: Studio, j: int, s: Session, value: float, key: str, conditional: bool) -> bool:
    return views.set_class_amount(studio, s, bool(conditional), j, value, key)


def classes_tab(page: Page) -> Classes:
    d = limits.DIRECTION
    with gr.Tab("Classes"):
        note = gr.Markdown()
        with gr.Column(visible=False) as body:
            conditional = gr.Checkbox(False, label="Keep the other classes (conditional: the other classes' directions projected out)")
            sliders, buttons = [], []
            with gr.Column(elem_classes="dims classdirs"):
                for j in range(limits.MAX_CLASSES):
                    with gr.Row(elem_classes="slot"):
                        sliders.append(gr.Slider(d.lo, d.hi, value=0, step=0.1, label=f"class {j}", scale=6, visible=False))
                        buttons.append(gr.Button(SWEEP, size="sm", scale=0, min_width=36, elem_classes="sweep-one"))
            with gr.Row():
                steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=9, step=1, precision=0, label="Sweep steps")
                reach = gr.Slider(0.5, d.hi, value=6.0, step=0.5, label="Sweep from −a to +a")
                fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=5.0, step=0.5, label="WebP fps")
            strip = Strip.build("classdir", "Class sweep", 9)

    def on_sweep(j: int) -> Callable[..., str]:
        @ui
        def sweep(s: Session | None, n: int, a: float, conditional: bool) -> str:
            return views.direction_sweep(page.studio, ready(s), views.class_method(bool(conditional)), j, n, -float(a), float(a))

        return sweep

    for j, button in enumerate(buttons):
        event = button.click(on_sweep(j), [page.session, steps, reach, conditional], strip.png, **PRIVATE)
        strip.fill(event, fps)
    return Classes(note, body, conditional, sliders, strip)
