"""The Interpolate, Walk and Timeline tabs: paths through latent space (whose frames can be
clicked) and the run that made the model."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from functools import lru_cache, reduce
from pathlib import Path
from typing import Any

import gradio as gr

from ganstudio.artifact import rundir
from ganstudio.explore import limits
from ganstudio.studio import curves
from ganstudio.studio.page import PRIVATE, Page, QUIET, RAW, Strip, pixels, ready, ui
from ganstudio.studio.service import Studio
from ganstudio.studio.session import Session


def interpolate_tab(page: Page) -> Strip:
    with gr.Tab("Interpolate"):
        with gr.Row():
            from_current = gr.Checkbox(False, label="Start from the current image, edits included")
            seed_from = gr.Number(0, label="From seed (follows the current seed)", precision=0, minimum=0, maximum=limits.SEED.hi)
            seed_to = gr.Number(1, label="To seed", precision=0, minimum=0, maximum=limits.SEED.hi)
            dice_to = gr.Button("⚄", scale=0, min_width=60)
        with gr.Row():
            steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=16, step=1, precision=0, label="Steps")
            method = gr.Radio(list(limits.INTERPOLATIONS), value=limits.INTERPOLATION, label="Path", info="slerp keeps |z| typical")
            fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=10.0, step=0.5, label="GIF fps")
        go = gr.Button("Interpolate", variant="primary")
        strip = Strip.build("interpolate", "Interpolation", 8)
        gif = pixels("Interpolation GIF", height=240)
    event = go.click(ui(page.studio.interpolate), [page.model, seed_from, seed_to, steps, method, page.psi, fps, from_current,
                     page.session], [strip.png, gif], api_name="interpolate", **RAW)
    strip.fill(event, fps)
    dice_to.click(lambda: random.randrange(1_000_000), None, seed_to, **PRIVATE)
    page.current_seed.change(None, page.current_seed, seed_from, js="(x) => x", **PRIVATE)  # in the browser only
    return strip


def walk_tab(page: Page) -> Strip:
    with gr.Tab("Walk"):
        with gr.Row():
            steps = gr.Slider(2, limits.SERVE_STEPS.hi, value=60, step=1, precision=0, label="Frames")
            step_size = gr.Slider(limits.STEP_SIZE.lo, limits.STEP_SIZE.hi, value=0.08, step=0.001, label="Step size")
            fps = gr.Slider(limits.FPS.lo, limits.FPS.hi, value=15.0, step=0.5, label="GIF fps")
        go = gr.Button("Walk from the current image", variant="primary")
        gif = pixels("Random walk GIF", height=300)
        strip = Strip.build("walk", "Frames", 10)
    event = go.click(ui(page.studio.walk), [page.model, page.current_seed, steps, step_size, page.psi, fps, page.session],
                     [strip.png, gif], api_name="walk", **RAW)
    strip.fill(event, fps)
    return strip


@lru_cache(maxsize=4)
def _rows(path: str, mtime: float) -> list[dict[str, Any]]:
    return rundir.read_rows(Path(path))


def metrics(studio: Studio, key: str) -> list[dict[str, Any]]:
    f = studio.models.get(key).path / rundir.METRICS_FILE
    return _rows(str(f), f.stat().st_mtime) if f.is_file() else []


# Gradio 6.31 shows a hidden tab on an update but never hides a shown one. So the tab's button is hidden by CSS
# (app.CSS: in the tab bar, or as the last entry of its overflow menu, the timeline being the last tab) unless the
# page's body says the current model kept snapshots. This sets that, and opens the first tab if the timeline was open.
SHOW_TAB_JS = """(shown) => {
  const panel = document.getElementById('timeline-tab');
  if (!shown && panel && panel.offsetParent !== null) document.querySelector('.tab-wrapper [role=tab]').click();
  document.body.dataset.timeline = shown ? 'on' : 'off';
}"""


@dataclass
class Timeline:
    shown: gr.Checkbox  # hidden: whether the current model kept snapshots, which shows or hides the tab
    text: gr.Markdown
    slider: gr.Slider
    image: gr.Image
    chart: gr.Image

    @property
    def outputs(self) -> list[Any]:
        return [self.shown, self.slider, self.image, self.text, self.chart]

    def panels(self, studio: Studio, key: str) -> list[Any]:
        """The timeline at a model's last kept step, or the tab hidden when the model kept no snapshots."""
        shots = studio.snapshots(key)
        if not shots:
            return [False, gr.update(visible=False), None, f"{key} kept no training snapshots.", None]
        steps = [s for s, _ in shots]
        spacing = reduce(math.gcd, [b - a for a, b in itertools.pairwise(steps)], 0) or 1
        frame, caption = studio.snapshot(key, len(shots) - 1)
        slider = gr.update(minimum=steps[0], maximum=max(steps[-1], steps[0] + 1), step=spacing, value=steps[-1],
                           visible=len(shots) > 1)
        return [True, slider, frame, caption, self.curves(studio, key, steps[-1], steps)]

    @staticmethod
    def curves(studio: Studio, key: str, step: int, steps: list[int]) -> Any:
        rows = metrics(studio, key)
        last = max([steps[-1], *(int(r["step"]) for r in rows[-1:])])
        return curves.chart(rows, step, 0, last)


def timeline_tab(page: Page, shown: gr.Checkbox) -> Timeline:
    """The last tab; `shown` (hidden, outside the tabs) says whether the current model kept snapshots."""
    with gr.Tab("Timeline", elem_id="timeline-tab"):
        text = gr.Markdown()
        slider = gr.Slider(0, 1, value=0, step=1, precision=0, label="Training step", elem_id="timeline-step")
        with gr.Row():
            image = pixels("Sample grid at this step", height=420, scale=1)
            # show_label=False: Gradio's label sits over the chart's own title and legend
            chart = gr.Image(label="Losses, D(x)/D(G(z)) and eval points (orange: this step)", show_label=False, type="pil", interactive=False,
                             height=420, scale=1, buttons=["download"], elem_id="timeline-curves")
    timeline = Timeline(shown, text, slider, image, chart)
    shown.change(None, shown, None, js=SHOW_TAB_JS, **QUIET)

    @ui
    def on_step(s: Session | None, step: float) -> list[Any]:
        key = ready(s).model
        steps = [k for k, _ in page.studio.snapshots(key)]
        if not steps:
            return [None, f"{key} kept no training snapshots", None]
        index = min(range(len(steps)), key=lambda i: abs(steps[i] - float(step)))  # the snapshot nearest the slider
        frame, caption = page.studio.snapshot(key, index)
        return [frame, caption, timeline.curves(page.studio, key, steps[index], steps)]

    slider.input(on_step, [page.session, slider], [image, text, chart], **QUIET)
    return timeline
