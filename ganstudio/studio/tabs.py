"""The studio page's header, current image and Sample tab (the other tabs: tabs_latent, tabs_paths).

Each function builds its components inside the enclosing Gradio layout and wires the events that stay
within it; what other parts need (the components a new current image updates) it returns. The callbacks
themselves are ganstudio.studio.service's and ganstudio.studio.views'; here they are only connected.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ganstudio.errors import UserError
from ganstudio.explore import limits
from ganstudio.studio import views
from ganstudio.studio.page import BUTTONS, PRIVATE, Page, QUIET, RAW, pixels, ready, refused, ui
from ganstudio.studio.service import Studio
from ganstudio.studio.session import Session

__all__ = ["PRIVATE", "QUIET", "Page", "pixels", "ready", "ui"]

HOW_TO = """\
**How to explore.** 1. *Sample* a grid (⚄ for a new seed) and click the image you like: it becomes the
**current image** on the left. 2. In *Dimensions*, drag a slider to move one latent dimension of it; the
ones that change the image most are listed first. ⇆ sweeps that dimension as a strip of frames.
3. *Directions* move it along directions found from the generator's weights (SeFa) or its activations
(GANSpace), which change more at once. 4. *Interpolate* to another seed, or take a random *Walk* from it.
**Click any frame of a strip to make it current.** Every image downloads as a PNG carrying its recipe: drop
one onto *Open a ganstudio PNG* to come back to it, or *Copy link* to share the view. ↶/↷ undo and redo.
Drop any other image there to find the closest one the model can draw, and edit that.
"""

# Enter in a slider's number box applies it (Gradio applies a typed value when the box loses focus). Only a
# slider's: a Number box (the seeds) submits on Enter itself, which a blur would swallow.
ENTER_APPLIES = """() => { document.addEventListener("keydown", (e) => {
  const t = e.target;
  if (e.key === "Enter" && t.matches && t.matches("input[type=number]") && t.closest(".block")?.querySelector("input[type=range]")) t.blur();
}); }"""
# The link: the server's query string on this page's address, into the address bar and the clipboard.
COPY_LINK = """(q) => { const url = location.origin + location.pathname + "?" + q;
  history.replaceState(null, "", "?" + q); if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url; }"""
HOW_TO_READ = "ganstudio.howto.read"
DROP_TYPES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")  # a recipe PNG, or any image to project


def header(studio: Studio) -> Page:
    with gr.Row(equal_height=True):
        gr.Markdown("## ganstudio\nlatent space studio", elem_id="title")
        model = gr.Dropdown(studio.models.choices(), value=studio.models.default, label="Model (newest first)", scale=5,
                            elem_id="model")
        refresh = gr.Button("↻ Rescan", scale=0, min_width=90, size="sm")
        psi = gr.Slider(0.05, limits.PSI.hi,  # ψ = 0 lies outside PSI
                        value=1.0, step=0.05, label="Truncation ψ",
                        info="< 1: more typical images, less variety", scale=2)
    with gr.Accordion("How to explore", open=True, elem_id="how-to") as how_to:
        gr.Markdown(HOW_TO)
    return Page(studio, gr.State(None), model, refresh, psi, how_to)


def current_column(page: Page) -> None:
    with gr.Group(elem_id="current-view"):  # stays in view while a tab's strip is scrolled to (app.CSS)
        page.current_img = gr.Image(label="Current image", show_label=False, type="filepath", interactive=False, height=420,
                                    elem_id="current", elem_classes="pixels", buttons=BUTTONS)
        page.current_info = gr.Markdown(elem_id="current-info")
    with gr.Row():
        page.current_seed = gr.Number(label="Current seed (Enter to jump)", precision=0, minimum=0,
                                      maximum=limits.SEED.hi, scale=3)
        with gr.Column(scale=2, min_width=120):
            page.before = gr.Checkbox(False, label="Before (unedited)", elem_id="before")
            page.reset = gr.Button("Reset edits", size="sm")
    with gr.Row():
        page.undo = gr.Button("↶ Undo", size="sm", min_width=70, elem_id="undo")
        page.redo = gr.Button("↷ Redo", size="sm", min_width=70, elem_id="redo")
        page.copy = gr.Button("Copy link", size="sm", min_width=100, elem_id="copy-link")
    page.link = gr.Textbox(label="Link to this view", visible=False, buttons=["copy"], elem_id="link")
    with gr.Row():
        page.big = [gr.DownloadButton(f"⬇ {px} px", size="sm", elem_id=f"png-{px}") for px in views.DOWNLOAD_SIZES]
    gr.Markdown("**Open a ganstudio PNG, or bring your own image**: drop a PNG ganstudio wrote and its model, seed, ψ "
                "and edits come back; drop any other image and the closest image the model can draw becomes current.",
                elem_id="drop-help")
    page.drop = gr.File(label="A PNG ganstudio wrote, or any image", show_label=False, file_types=list(DROP_TYPES),
                        type="filepath", height=150, elem_id="drop")
    with gr.Accordion("Model card", open=True):
        page.card = gr.Markdown(elem_id="card")
        # Labelled above, not over the image (a label would cover the generated row), drawn at a readable height,
        # with download and fullscreen buttons only (Gradio's share button needs a Hugging Face Space and fails here).
        page.sheet = gr.Image(label="The eval's closest pairs: generated (top), its nearest training image (bottom)",
                              show_label=False, type="filepath", interactive=False, elem_id="eval-sheet",
                              elem_classes="pixels", visible=False, height=180, buttons=BUTTONS)


def wire_current(page: Page) -> None:
    """The current column's own events, once Page.show_all exists."""
    studio = page.studio
    full = [page.model, page.psi, *page.view_out]

    def with_controls(s: Session) -> list[Any]:
        st = s.state()
        return [st.model, st.psi, *page.show_all(s)]  # type: ignore[misc]

    @ui
    def step(s: Session | None, back: bool) -> list[Any]:
        if not (ready(s).undo() if back else s.redo()):
            gr.Info("nothing to undo" if back else "nothing to redo")
        return with_controls(s)

    page.undo.click(lambda s: step(s, True), page.session, full, **PRIVATE)
    page.redo.click(lambda s: step(s, False), page.session, full, **PRIVATE)

    @ui
    def dropped(s: Session | None, path: str | None) -> list[Any]:
        unchanged = [gr.skip()] * (len(full) + len(page.model_out))
        if path is None:  # the file was removed from the drop zone
            return unchanged
        try:
            gr.Info(views.restore_png(studio, ready(s), path))
        except UserError as e:  # the page stays as it was
            refused("dropped", e)
            return unchanged
        return [*with_controls(s), *page.model_panels(s)]  # type: ignore[misc]

    # The drop zone is emptied first, so that after a refused file too the next one can be dropped straight away.
    arrived = gr.State(None)
    page.drop.upload(lambda path: (path, None), page.drop, [arrived, page.drop], **PRIVATE).then(
        dropped, [page.session, arrived], [*full, *page.model_out], **PRIVATE)

    @ui
    def link(s: Session | None) -> Any:
        return views.link(ready(s))

    page.copy.click(link, page.session, page.link, **PRIVATE).success(
        None, page.link, page.link, js=COPY_LINK, **PRIVATE).then(lambda: gr.update(visible=True), None, page.link, **PRIVATE)

    @ui
    def before(s: Session | None, on: bool) -> list[Any]:
        path, info = views.before(studio, ready(s)) if on else studio.current(s)
        return [path, info]

    page.before.input(before, [page.session, page.before], [page.current_img, page.current_info], **QUIET)

    @ui
    def enlarged(s: Session | None) -> list[str]:
        return views.downloads(studio, ready(s))

    page.current_img.change(enlarged, page.session, page.big, **QUIET)


def how_to_seen_js() -> str:
    """The load event's JS: pass the page's inputs through, plus whether this browser has read the how-to."""
    return f"(...args) => [...args.slice(0, -1), localStorage.getItem('{HOW_TO_READ}') === '1']"


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
        return gr.update(value=shown, columns=min(len(shown), 8) if len(shown) <= 64 else 16)  # fewer than 8: app.CSS keeps 8 columns

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
                             elem_id="grid-tiles", elem_classes="pixels", buttons=[])
        file = gr.DownloadButton("⬇ Grid PNG (with recipe)", size="sm", elem_id="grid-png")
    grid = Grid(seed, n, gallery, file)
    inputs = [page.model, seed, n, page.psi]
    show_tiles = tiles(page)
    # The named API endpoint "sample": the CLI's grid.
    sample_btn.click(ui(page.studio.sample), inputs, file, api_name="sample", **RAW).success(
        show_tiles, [page.session, *inputs], gallery, **PRIVATE)

    @ui
    def typed(s: Session | None, key: str, first: object, count: object, p: float) -> list[Any]:
        """A typed first seed or n, checked by the studio (its words, not Gradio's: RAW); a refused one is one
        warning and one log line, and the boxes go back to the grid on screen, which the tiles then redraw."""
        try:
            return [page.studio.sample(key, first, count, p), gr.skip(), gr.skip()]
        except UserError as e:
            refused("sample", e)
            return [gr.skip(), ready(s).grid_seed, s.grid_n or gr.skip()]

    for trigger in (seed.submit, n.release):
        trigger(typed, [page.session, *inputs], [file, seed, n], **PRIVATE, **RAW).success(
            show_tiles, [page.session, *inputs], gallery, **PRIVATE)
    grid.refill(page, dice.click(lambda: random.randrange(1_000_000), None, seed, **PRIVATE))
    return grid


