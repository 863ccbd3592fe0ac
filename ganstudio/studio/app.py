"""`ganstudio serve`: the browser studio, a Gradio Blocks page over ganstudio.studio.service.

Layout: the model and truncation on top; the current image on the left (every tab edits or starts from it);
tabs on the right for sampling, per-dimension sliders and sweeps, SeFa/GANSpace directions, interpolation,
random walks and a run's training timeline (ganstudio.studio.tabs builds each). The named endpoints sample,
sweep, interpolate and walk are the CLI's operations, callable with gradio_client.

Inference goes through ONNX Runtime (ganstudio.explore.runtime); nothing here imports torch.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event (for a monitoring page
# we do not serve): keep one record and never summarise, or each request costs more the longer the server runs.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))
# Gradio switches matplotlib (when installed) to "agg" around every call; naming it here spares the first
# request the time matplotlib otherwise spends importing pyplot to resolve its default backend.
os.environ.setdefault("MPLBACKEND", "agg")

import gradio as gr  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from ganstudio.errors import UserError  # noqa: E402
from ganstudio.explore import limits  # noqa: E402
from ganstudio.studio import routes, tabs  # noqa: E402
from ganstudio.studio.analysis import METHODS  # noqa: E402
from ganstudio.studio.service import Studio  # noqa: E402
from ganstudio.studio.session import Session  # noqa: E402
from ganstudio.studio.tabs import PRIVATE, Page, ready, ui  # noqa: E402

CSS = """
.pixels img { image-rendering: pixelated; object-fit: contain !important; width: 100%; height: 100%; }
#current img { max-height: 420px; }
.pixels .grid-container { grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; gap: 6px !important; }
.pixels .gallery-item { height: auto !important; }
.pixels .grid-wrap { min-height: 0 !important; }
.pixels .caption-label { opacity: 0; font-size: 11px; } .pixels .thumbnail-item:hover .caption-label { opacity: 1; }
.dims { display: block !important; max-height: 430px; overflow-y: auto; padding-right: 6px; }
.dims > .form { display: grid !important; grid-template-columns: repeat(2, minmax(0, 1fr)); flex-shrink: 0 !important; }
#title h2 { margin: 0; } #title p { margin: 0; opacity: 0.7; }
"""

THEME = gr.themes.Soft(
    primary_hue="indigo",
    font=["ui-sans-serif", "system-ui", "sans-serif"],  # local fonts: the page fetches nothing from the internet
    font_mono=["ui-monospace", "monospace"],
)


def build(studio: Studio) -> gr.Blocks:
    """The Blocks app. Component values are validated by Gradio (ranges, choices) and again by the studio."""
    nz_max = studio.models.max_nz()  # over the readable models: one broken run must not stop the studio
    n_slots = min(nz_max, limits.MAX_SLIDERS)
    demo = gr.Blocks(title="ganstudio studio", analytics_enabled=False, delete_cache=(600, 3600))
    # Configured before the layout exists: queue() rebuilds the FastAPI app, which costs more once it is built.
    demo.queue(default_concurrency_limit=8, max_size=64)
    with demo:
        page = tabs.header(studio)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                tabs.current_column(page)
            with gr.Column(scale=3), gr.Tabs():
                grid = tabs.sample_tab(page)
                dims = tabs.dimensions_tab(page, n_slots, nz_max)
                directions = tabs.directions_tab(page)
                tabs.interpolate_tab(page)
                tabs.walk_tab(page)
                timeline = tabs.timeline_tab(page)
        wire_session(demo, page, grid, dims, directions, timeline, n_slots)
    return demo


def wire_session(
    demo: gr.Blocks, page: Page, grid: tabs.Grid, dims: tabs.Dimensions, directions: dict[str, list[gr.Slider]],
    timeline: tabs.Timeline, n_slots: int,
) -> None:
    """The session's events: what makes a new current image, and everything that follows from it."""
    studio = page.studio
    dir_sliders = [x for m in METHODS for x in directions[m]]
    view_out = [*page.current, *dims.slots, *dir_sliders]
    model_out = [page.card, dims.summary, dims.sweep_dim, timeline.slider, timeline.image, timeline.text]

    def show_all(s: Session) -> list[Any]:
        """The current image plus every slider that depends on it (after a new seed, model or reset)."""
        ups = [gr.update(label=f"dim {x.dim} · #{x.rank} ({x.score:.3f})", value=x.value, visible=True) for x in studio.slots(s, n_slots)]
        ups += [gr.update(visible=False)] * (n_slots - len(ups))
        st = s.state()
        labels = studio.analysis(st.model).labels()
        amounts = [gr.update(label=labels[m][j], value=st.amounts[m][j], visible=True) if j < len(labels[m]) else gr.update(visible=False)
                   for m in METHODS for j in range(limits.N_DIRECTIONS)]
        return [*page.show(s), *ups, *amounts]

    def model_panels(s: Session) -> list[Any]:
        an, nz = studio.analysis(s.model), studio.generator(s.model).nz
        sweep_dim = gr.update(value=int(an.effects.order[0]), maximum=nz - 1)
        return [studio.card_markdown(s.model), an.summary(), sweep_dim, *timeline.panels(studio, s.model)]

    def after(fn: Any) -> Any:
        """A callback on the session, then every panel that shows it."""

        @ui
        def run(s: Session | None, *args: Any) -> list[Any]:
            fn(ready(s), *args)
            return show_all(s)

        return run

    @ui
    def on_load(key: str, first_seed: int, p: float) -> list[Any]:
        s = studio.new_session(key, seed=first_seed, psi=p)
        return [s, *show_all(s), *model_panels(s)]

    @ui
    def on_model(s: Session | None, key: str) -> list[Any]:
        studio.switch_model(ready(s), key)
        return [*show_all(s), *model_panels(s)]

    @ui
    def on_rescan() -> Any:
        studio.models.refresh()
        return gr.update(choices=studio.models.choices())

    @ui
    def on_pick(s: Session | None, evt: gr.SelectData) -> list[Any]:
        studio.pick(ready(s), evt.index)
        return show_all(s)

    session = page.session
    grid.refill(page, demo.load(on_load, [page.model, grid.seed, page.psi], [session, *view_out, *model_out], **PRIVATE))
    grid.gallery.select(on_pick, session, view_out, **PRIVATE)
    page.current_seed.submit(after(studio.set_seed), [session, page.current_seed], view_out, **PRIVATE)
    page.reset.click(after(Session.clear_edits), session, view_out, **PRIVATE)
    grid.refill(page, page.psi.release(after(studio.set_psi), [session, page.psi], view_out, **PRIVATE))
    grid.refill(page, page.model.input(on_model, [session, page.model], [*view_out, *model_out], **PRIVATE))
    page.refresh.click(on_rescan, None, page.model, **PRIVATE)
    search = after(studio.search)
    dims.query.submit(search, [session, dims.query, dims.by_effect], view_out, **PRIVATE)
    dims.by_effect.input(search, [session, dims.query, dims.by_effect], view_out, **PRIVATE)


def _warm(studio: Studio) -> None:
    """Load what the first request would otherwise wait for: the default model's ORT session."""
    studio.generator(studio.models.default)


def start(
    model: str | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False, quiet: bool = False
) -> tuple[gr.Blocks, str]:
    """Build and launch without blocking; returns (app, local URL). Warms the default model in the background."""
    studio = Studio(model)
    # Not daemons: they finish (bounded work) before the interpreter finalises; a daemon thread still inside
    # ONNX Runtime at exit makes the process abort ("terminate called without an active exception").
    loading = threading.Thread(target=_warm, args=(studio,))
    loading.start()  # while the page is built
    demo = build(studio)
    try:
        _, url, share_url = demo.launch(
            server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
            ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, footer_links=["api"],
            theme=THEME, css=CSS,
            # The plain HTTP API (ganstudio.studio.routes), first among the server's routes, so no request
            # reaches it before it is there.
            app_kwargs={"routes": [Mount("/v1", routes.api(studio))]},
        )
    except OSError as e:  # Gradio's words for a port in use, or an address this machine does not have
        raise UserError(f"cannot serve on {host}:{port} ({str(e).split('. ')[0]}): pick another --port or --host") from None
    # Dimension effects and directions once serving, so they delay no first request.
    threading.Thread(target=lambda: (loading.join(), studio.analysis(studio.models.default))).start()
    if not quiet:
        print(f"ganstudio studio: {url}  (model {studio.models.default}; Ctrl+C to stop)", flush=True)
        if share_url:
            print(f"public share link: {share_url}", flush=True)
    return demo, url


def launch(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """`ganstudio serve`: serve until Ctrl+C or SIGTERM, then close the server and remove the temporary files."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a service manager's stop: exit cleanly, as Ctrl+C does
    demo, _ = start(model, host, port, share)
    try:
        demo.block_thread()
    finally:
        demo.close()
