"""`ganstudio serve`: the browser studio, a Gradio Blocks page over ganstudio.studio.service.

Layout: the model and truncation on top; the current image on the left (every tab edits or starts from it);
tabs on the right for sampling, per-dimension sliders and sweeps, SeFa/GANSpace directions, class directions,
interpolation, random walks and a run's training timeline (ganstudio.studio.tabs, tabs_latent, tabs_classes and
tabs_paths build each). A link (?model=&seed=&psi=&dims=&sefa=&ganspace=&class=&class_cond=) opens the view it names. The named endpoints sample,
sweep, interpolate and walk are the CLI's operations, callable with gradio_client; `serve --mcp` offers them, and the
model list, as MCP tools (ganstudio.studio.mcp_tools).

Inference goes through ONNX Runtime (ganstudio.explore.runtime); nothing here imports torch.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping
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
from gradio.routes import App, ORJSONResponse  # noqa: E402
from starlette.routing import Match, Mount  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from ganstudio.errors import UserError  # noqa: E402
from ganstudio.explore import limits  # noqa: E402
from ganstudio.studio import browser, mcp_tools, routes, tabs, tabs_classes, tabs_latent, tabs_paths, views  # noqa: E402
from ganstudio.studio.analysis import METHODS  # noqa: E402
from ganstudio.studio.page import PRIVATE, RAW, Page, ready, ui  # noqa: E402
from ganstudio.studio.service import Studio  # noqa: E402
from ganstudio.studio.session import Session  # noqa: E402

__all__ = ["build", "launch", "start", "ui"]

CSS = """
.pixels img { image-rendering: pixelated; object-fit: contain !important; width: 100%; height: 100%; }
#current img { max-height: 420px; }
#current-col { align-self: stretch !important; }  /* as tall as the tabs beside it, so the view below stays in sight */
#current-view { position: sticky; top: 0; z-index: 20; background: var(--body-background-fill); }
.gradio-container { overflow: clip !important; }  /* hidden makes it a scroll container, which stops the sticky view */
@media (max-height: 800px) { #current img { max-height: 300px; } #current { height: 300px !important; } }
.pixels .grid-container { grid-template-columns: repeat(var(--grid-cols), minmax(0, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; gap: 6px !important; }
.pixels .gallery-item { height: auto !important; }
#grid-tiles .grid-container:not(:has(> :nth-child(8))) { grid-template-columns: repeat(8, minmax(0, 1fr)) !important; }
.pixels .grid-wrap { min-height: 0 !important; }
.pixels .caption-label { opacity: 0; font-size: 11px; } .pixels .thumbnail-item:hover .caption-label { opacity: 1; }
.strip .thumbnail-item { aspect-ratio: auto !important; height: auto !important; display: flex; flex-direction: column;
  overflow: visible !important; }
.strip .thumbnail-item > img { aspect-ratio: 1 / 1; height: auto !important; }
.strip .caption-label { opacity: 1 !important; position: static !important; max-width: none !important; border: none !important;
  font-size: 11px !important; text-align: center !important; background: none !important; padding: 1px 0 0 !important; }
.strip .grid-container { padding-top: 0 !important; }
.slot:not(:has(input[type=range])) { display: none !important; }
body:not([data-timeline=on]) #timeline-tab-button,
body:not([data-timeline=on]) .tab-wrapper .overflow-dropdown > button:last-child,
body:not([data-timeline=on]) .tab-wrapper .overflow-menu:has(> .overflow-dropdown > button:only-child) { display: none !important; }
.dims { display: grid !important; grid-template-columns: repeat(2, minmax(0, 1fr)); padding-right: 6px; gap: 4px 10px !important; }
.slot { flex-wrap: nowrap !important; align-items: center !important; gap: 4px !important; }
.sweep-one { max-width: 36px; }
#model input { font-size: 13px; text-overflow: ellipsis; }
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
        has_snapshots = gr.Checkbox(False, visible=False)  # the timeline's; outside the tabs, whose contents mount when opened
        with gr.Row():
            with gr.Column(scale=2, min_width=300, elem_id="current-col"):
                tabs.current_column(page)
            with gr.Column(scale=3), gr.Tabs():
                grid = tabs.sample_tab(page)
                dims = tabs_latent.dimensions_tab(page, n_slots, nz_max)
                directions = tabs_latent.directions_tab(page)
                classes = tabs_classes.classes_tab(page)
                strips = [dims.strip, directions.strip, classes.strip, tabs_paths.interpolate_tab(page), tabs_paths.walk_tab(page)]
                timeline = tabs_paths.timeline_tab(page, has_snapshots)
        wire_session(demo, page, grid, dims, directions, classes, timeline, n_slots)
        directions.wire(page)
        classes.wire(page)
        tabs.wire_current(page)
        browser.wire(page)
        for strip in strips:
            strip.wire(page)
    return demo


def wire_session(
    demo: gr.Blocks, page: Page, grid: tabs.Grid, dims: tabs_latent.Dimensions, directions: tabs_latent.Directions,
    classes: tabs_classes.Classes, timeline: tabs_paths.Timeline, n_slots: int,
) -> None:
    """The session's events: what makes a new current image, and everything that follows from it."""
    studio = page.studio
    dir_sliders = [x for m in METHODS for x in directions.sliders[m]]
    page.view_out = [*page.current, *dims.slots, *dir_sliders, *classes.outputs]
    page.model_out = [page.card, page.sheet, dims.summary, dims.sweep_dim, *timeline.outputs, grid.gallery]

    def show_all(s: Session) -> list[Any]:
        """The current image plus every slider that depends on it (after a new seed, model, reset, undo...)."""
        ups = [gr.update(label=f"dim {x.dim} · {f'#{x.rank}' if x.rank else 'class code'} ({x.score:.3f})", value=x.value, visible=True)
               for x in views.slots(studio, s, n_slots)]
        ups += [gr.update(visible=False)] * (n_slots - len(ups))
        st, _ = studio.state(s)
        labels = studio.analysis(st.model).labels()
        amounts = [gr.update(label=labels[m][j], value=st.amounts[m][j], visible=True) if j < len(labels[m]) else gr.update(visible=False)
                   for m in METHODS for j in range(limits.N_DIRECTIONS)]
        return [*page.show(s), *ups, *amounts, *classes.show(studio, s)]

    def model_panels(s: Session) -> list[Any]:
        an, nz = studio.analysis(s.model), studio.generator(s.model).nz
        sweep_dim = gr.update(value=int(an.effects.free[0]), maximum=nz - 1)  # the strongest dimension outside a class code
        sheet = studio.eval_sheet(s.model)
        # the grid's seeds drawn by this model: a drop that switched the model must not leave another's tiles to click
        shown = tabs.tiles(page)(s, s.model, s.grid_seed, s.grid_n, s.psi) if s.grid_n else gr.skip()
        return [studio.card_markdown(s.model), gr.update(value=sheet, visible=sheet is not None), an.summary(), sweep_dim,
                *timeline.panels(studio, s.model), shown]

    page.show_all, page.model_panels = show_all, model_panels
    view_out, model_out = page.view_out, page.model_out

    @ui
    def on_load(key: str, first_seed: int, p: float, how_to_read: bool, request: gr.Request) -> list[Any]:
        s = studio.new_session(key, seed=first_seed, psi=p)
        query = dict(request.query_params) if request is not None else {}
        try:
            opened = views.open_link(studio, s, query)
        except UserError as e:  # a bad link still opens the studio, on its defaults
            gr.Warning(f"this link cannot be opened: {e}")
        else:
            if opened:
                gr.Info(opened)
        st = s.state()
        return [s, st.model, st.psi, gr.Accordion(open=not how_to_read), *show_all(s), *model_panels(s)]

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
        views.undoable(studio.pick)(ready(s), evt.index)
        return [gr.Accordion(open=False), *show_all(s)]  # a picked image: the how-to has been read

    session = page.session
    how_to_read = gr.Checkbox(False, visible=False)
    loaded = demo.load(on_load, [page.model, grid.seed, page.psi, how_to_read],
                       [session, page.model, page.psi, page.how_to, *view_out, *model_out],
                       js=tabs.how_to_seen_js(), **PRIVATE)
    grid.refill(page, loaded)
    grid.gallery.select(on_pick, session, [page.how_to, *view_out], **PRIVATE)
    grid.gallery.select(None, None, None, js=f"() => localStorage.setItem('{tabs.HOW_TO_READ}', '1')", **PRIVATE)
    # Typed boxes reach the studio's own checks (preprocess=False): its words for a bad value, not Gradio's.
    page.current_seed.submit(page.whole(views.undoable(studio.set_seed)), [session, page.current_seed], view_out, **PRIVATE, **RAW)
    page.reset.click(page.whole(views.undoable(Session.clear_edits)), session, view_out, **PRIVATE)
    set_psi = page.whole(views.undoable(studio.set_psi))

    def on_psi(s: Session | None, p: object) -> list[Any]:
        shown = set_psi(s, p)
        return [s.psi, *shown]  # the ψ box shows the ψ in use, a refused one too

    grid.refill(page, page.psi.release(on_psi, [session, page.psi], [page.psi, *view_out], **PRIVATE, **RAW))
    grid.refill(page, page.model.input(on_model, [session, page.model], [*view_out, *model_out], **PRIVATE))
    page.refresh.click(on_rescan, None, page.model, **PRIVATE)
    search = page.whole(studio.search)
    dims.query.submit(search, [session, dims.query, dims.by_effect], view_out, **PRIVATE)
    dims.by_effect.input(search, [session, dims.query, dims.by_effect], view_out, **PRIVATE)


class Served(App):
    """Gradio's server app, answering /v1 before any of Gradio's middleware (CORS, compression, body limits,
    telemetry) runs: those layers are for the page, and a plain request would pay for each of them.

    Given to `launch` as its app, as Gradio's own `gr.Server` does, so Gradio still adds its routes and
    middleware to it; only the dispatch in `__call__` comes first.
    """

    def __init__(self, api: ASGIApp, web: ASGIApp) -> None:
        super().__init__(default_response_class=ORJSONResponse)  # what launch would construct
        self.v1 = Mount("/v1", api)
        self.web = Mount("/web", web)  # the page's own generator: files and model records (ganstudio.studio.browser)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for mount in (self.v1, self.web):
            match, child = mount.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                await mount.handle(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _warm(studio: Studio) -> None:
    """Load what the first request would otherwise wait for: the default model's ORT session."""
    studio.generator(studio.models.default)


def start(
    model: str | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False, quiet: bool = False,
    mcp: bool = False, recipe_defaults: Mapping[str, Any] | None = None,
) -> tuple[gr.Blocks, str]:
    """Build and launch without blocking; returns (app, local URL). Warms the default model in the background.
    With mcp, the named operations are MCP tools too (ganstudio.studio.mcp_tools), at URL + gradio_api/mcp/."""
    if mcp:
        mcp_tools.require()
    studio = Studio(model, recipe_defaults=recipe_defaults)
    # Not daemons: they finish (bounded work) before the interpreter finalises; a daemon thread still inside
    # ONNX Runtime at exit makes the process abort ("terminate called without an active exception").
    loading = threading.Thread(target=_warm, args=(studio,))
    loading.start()  # while the page is built
    demo = build(studio)
    tools = mcp_tools.add(demo, studio) if mcp else []
    try:
        _, url, share_url = demo.launch(
            server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True,
            ssr_mode=False, pwa=False, mcp_server=mcp, enable_monitoring=False, footer_links=["api"],
            theme=THEME, css=CSS, js=tabs.ENTER_APPLIES, head=browser.HEAD,
            # Gradio's upload route takes files from any client, not only through the drop zone: none may be
            # larger than the largest image the studio reads.
            max_file_size=limits.PROJECT_BYTES,
            # The plain HTTP API (ganstudio.studio.routes), there before the server answers anything.
            _app=Served(routes.api(studio), browser.app(studio)),
        )
    except OSError as e:  # Gradio's words for a port in use, or an address this machine does not have
        raise UserError(f"cannot serve on {host}:{port} ({str(e).split('. ')[0]}): pick another --port or --host") from None
    if mcp:
        try:
            mcp_tools.offer_only(demo, tools)
        except UserError:
            demo.close()
            raise
    # Dimension effects and directions once serving, so they delay no first request.
    threading.Thread(target=lambda: (loading.join(), studio.analysis(studio.models.default))).start()
    if not quiet:
        print(f"ganstudio studio: {url}  (model {studio.models.default}; Ctrl+C to stop)", flush=True)
        if share_url:
            print(f"public share link: {share_url}", flush=True)
        if mcp:
            print(f"MCP tools ({', '.join(tools)}): {url.rstrip('/')}{mcp_tools.PATH}", flush=True)
    return demo, url


def launch(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False, mcp: bool = False,
           recipe_defaults: Mapping[str, Any] | None = None) -> None:
    """`ganstudio serve`: serve until Ctrl+C or SIGTERM, then close the server and remove the temporary files."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a service manager's stop: exit cleanly, as Ctrl+C does
    demo, _ = start(model, host, port, share, mcp=mcp, recipe_defaults=recipe_defaults)
    try:
        demo.block_thread()
    finally:
        demo.close()
