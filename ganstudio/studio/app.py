"""`ganstudio serve`: the browser studio, a Gradio Blocks app over ganstudio.studio.

Layout: the model and truncation on top; the current image on the left (every panel edits or starts from
it); tabs on the right for sampling, per-dimension sliders and sweeps, SeFa/GANSpace directions,
interpolation, random walks and a run's training timeline. The named endpoints sample, sweep,
interpolate and walk are the CLI's operations, callable with gradio_client.

Inference goes through ONNX Runtime (ganstudio.runtime); nothing here imports torch.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event (for a monitoring page
# we do not serve): keep one record and never summarise, or each request costs more the longer the server runs.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))
# Gradio switches matplotlib (when installed) to "agg" around every call; naming it here spares the first
# request the half second matplotlib otherwise spends importing pyplot to resolve its default backend.
os.environ.setdefault("MPLBACKEND", "agg")

import gradio as gr  # noqa: E402

from ganstudio.explore import latent  # noqa: E402
from ganstudio.artifact.checkpoint import read_card  # noqa: E402
from ganstudio.errors import UserError  # noqa: E402
from ganstudio.studio.service import (  # noqa: E402
    DIRECTION_LIMIT, FPS_RANGE, LATENT_LIMIT, MAX_N, MAX_SLIDERS, MAX_STEPS, METHOD_TITLES, METHODS,
    N_DIRECTIONS, PSI_RANGE, STEP_SIZE_RANGE, Session, Studio,
)

log = logging.getLogger("ganstudio.studio.app")

HOW_TO = """\
**How to explore.** 1. *Sample* a grid (⚄ for a new seed) and click the image you like: it becomes the
**current image** on the left. 2. In *Dimensions*, drag a slider to move one latent dimension of it; the
ones that change the image most are listed first. *Sweep* renders one dimension from -3 to +3 as a strip.
3. *Directions* move it along directions found from the generator's weights (SeFa) or its activations
(GANSpace), which change more at once. 4. *Interpolate* to another seed, or take a *Random walk* from it.
Every image downloads as a PNG carrying its recipe; `ganstudio sample --seed S --n 1` re-makes an
unedited one exactly. *Reset edits* goes back to the seed.
"""

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

BUTTONS = ["download", "fullscreen"]  # no "share": nothing leaves this machine

THEME = gr.themes.Soft(
    primary_hue="indigo",
    font=["ui-sans-serif", "system-ui", "sans-serif"],  # local fonts: the page fetches nothing from the internet
    font_mono=["ui-monospace", "monospace"],
)


def ui(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A person's mistake (UserError) shows as a one-line error in the page; a bug is logged and shown as one
    too. Either way the server keeps serving and nobody sees a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:
            log.exception("studio: %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(f"internal error ({type(e).__name__}); the server's log has the details", print_exception=False) from None

    return wrapper


def _ready(s: Session | None) -> Session:
    if s is None:
        raise UserError("the page is still loading; try again in a moment")
    return s


def build(studio: Studio) -> gr.Blocks:
    """The Blocks app. Component values are validated by Gradio (ranges, choices) and again by the studio."""
    nz_max = max(read_card(studio.models.get(key).weights).nz for _, key in studio.models.choices())
    n_slots = min(nz_max, MAX_SLIDERS)
    private = dict(api_visibility="private")
    quiet = dict(show_progress="hidden", trigger_mode="always_last", api_visibility="private")

    demo = gr.Blocks(title="ganstudio studio", analytics_enabled=False, delete_cache=(600, 3600))
    # Configured before the layout exists: queue() rebuilds the FastAPI app, ~0.3 s once the page is built.
    demo.queue(default_concurrency_limit=8, max_size=64)
    with demo:
        session = gr.State(None)
        with gr.Row(equal_height=True):
            gr.Markdown("## ganstudio\nlatent space studio", elem_id="title")
            model = gr.Dropdown(studio.models.choices(), value=studio.models.default, label="Model (newest first)", scale=4)
            refresh = gr.Button("↻ Rescan", scale=0, min_width=90, size="sm")
            psi = gr.Slider(*PSI_RANGE, value=1.0, step=0.05, label="Truncation ψ", info="< 1: more typical images, less variety", scale=2)
        with gr.Accordion("How to explore", open=True):
            gr.Markdown(HOW_TO)

        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                current_img = gr.Image(label="Current image", type="filepath", interactive=False, height=420,
                                       elem_id="current", elem_classes="pixels", buttons=BUTTONS)
                current_info = gr.Markdown(elem_id="current-info")
                with gr.Row():
                    current_seed = gr.Number(label="Current seed (Enter to jump)", precision=0, minimum=0, maximum=latent.MAX_SEED, scale=3)
                    reset = gr.Button("Reset edits", scale=1, min_width=100)
                with gr.Accordion("Model card", open=True):
                    card = gr.Markdown(elem_id="card")

            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Sample"):
                        with gr.Row():
                            seed = gr.Number(0, label="First seed", precision=0, minimum=0, maximum=latent.MAX_SEED - MAX_N, scale=2)
                            dice = gr.Button("⚄ Random", scale=1, min_width=100)
                            n = gr.Slider(1, MAX_N, value=32, step=1, precision=0, label="Images (n)", scale=3)
                            sample_btn = gr.Button("Sample", variant="primary", scale=1, min_width=100)
                        gr.Markdown("Seeds *first seed* … *first seed + n − 1*. **Click an image to make it the current one.**")
                        gallery = gr.Gallery(show_label=False, columns=8, height="auto",
                                             allow_preview=False, object_fit="contain", elem_classes="pixels", buttons=[])
                        grid_file = gr.DownloadButton("⬇ Grid PNG (with recipe)", size="sm", elem_id="grid-png")

                    with gr.Tab("Dimensions"):
                        effects_md = gr.Markdown()
                        with gr.Row():
                            query = gr.Textbox(label="Find dimensions", placeholder="e.g. 7, 20-30 (empty: all)", scale=3)
                            by_effect = gr.Checkbox(True, label="Strongest effect first", scale=1)
                        with gr.Column(elem_classes="dims"):
                            slots = [gr.Slider(-LATENT_LIMIT, LATENT_LIMIT, value=0, step=0.01, label=f"dim {i}", buttons=[])
                                     for i in range(n_slots)]
                        gr.Markdown("**Sweep one dimension** of the current image from *from* to *to* "
                                    "(unedited: the strip `ganstudio sample --seed S --dim D --steps N` writes).")
                        with gr.Row():
                            with gr.Column(scale=3):
                                with gr.Row():
                                    sweep_dim = gr.Number(0, label="Dimension", precision=0, minimum=0, maximum=nz_max - 1, min_width=90)
                                    sweep_steps = gr.Slider(2, MAX_STEPS, value=10, step=1, precision=0, label="Steps", min_width=120)
                                    sweep_fps = gr.Slider(*FPS_RANGE, value=5.0, step=0.5, label="GIF fps", min_width=150)
                                with gr.Row():
                                    sweep_lo = gr.Slider(-LATENT_LIMIT, LATENT_LIMIT, value=-3.0, step=0.1, label="From")
                                    sweep_hi = gr.Slider(-LATENT_LIMIT, LATENT_LIMIT, value=3.0, step=0.1, label="To")
                                sweep_btn = gr.Button("Sweep this dimension", variant="primary")
                            sweep_gif = gr.Image(label="Sweep GIF", type="filepath", interactive=False, buttons=BUTTONS, height=230,
                                                 elem_classes="pixels", scale=1, min_width=160)
                        sweep_strip = gr.Image(label="Sweep strip", show_label=False, type="filepath", interactive=False, buttons=BUTTONS, height=110,
                                               elem_id="sweep-strip", elem_classes="pixels")

                    with gr.Tab("Directions"):
                        gr.Markdown("Each slider moves the current image along one direction in latent space (unit vector; "
                                    "|z| is about √nz). **SeFa**: eigenvectors of WᵀW of the first layer, strongest first. "
                                    "**GANSpace**: principal components of the first layer's activations over 4,096 samples.")
                        direction_sliders: dict[str, list[gr.Slider]] = {}
                        with gr.Row():
                            for m in METHODS:
                                with gr.Column():
                                    gr.Markdown(f"**{METHOD_TITLES[m]}**")
                                    direction_sliders[m] = [gr.Slider(-DIRECTION_LIMIT, DIRECTION_LIMIT, value=0, step=0.1, label=f"{m} {j + 1}")
                                                            for j in range(N_DIRECTIONS)]

                    with gr.Tab("Interpolate"):
                        with gr.Row():
                            from_current = gr.Checkbox(False, label="Start from the current image, edits included")
                            seed_from = gr.Number(0, label="From seed (follows the current seed)", precision=0, minimum=0, maximum=latent.MAX_SEED)
                            seed_to = gr.Number(1, label="To seed", precision=0, minimum=0, maximum=latent.MAX_SEED)
                            dice_to = gr.Button("⚄", scale=0, min_width=60)
                        with gr.Row():
                            interp_steps = gr.Slider(2, MAX_STEPS, value=16, step=1, precision=0, label="Steps")
                            method = gr.Radio(["lerp", "slerp"], value="slerp", label="Path", info="slerp keeps |z| typical")
                            interp_fps = gr.Slider(*FPS_RANGE, value=10.0, step=0.5, label="GIF fps")
                        interp_btn = gr.Button("Interpolate", variant="primary")
                        interp_strip = gr.Image(label="Interpolation strip", type="filepath", interactive=False, buttons=BUTTONS, height=150, elem_classes="pixels")
                        interp_gif = gr.Image(label="Interpolation GIF", type="filepath", interactive=False, buttons=BUTTONS, height=240, elem_classes="pixels")

                    with gr.Tab("Random walk"):
                        with gr.Row():
                            walk_steps = gr.Slider(2, MAX_STEPS, value=60, step=1, precision=0, label="Frames")
                            step_size = gr.Slider(*STEP_SIZE_RANGE, value=0.08, step=0.001, label="Step size")
                            walk_fps = gr.Slider(*FPS_RANGE, value=15.0, step=0.5, label="GIF fps")
                        walk_btn = gr.Button("Walk from the current image", variant="primary")
                        walk_gif = gr.Image(label="Random walk GIF", type="filepath", interactive=False, buttons=BUTTONS, height=300, elem_classes="pixels")
                        walk_png = gr.Image(label="Frames", type="filepath", interactive=False, buttons=BUTTONS, elem_classes="pixels")

                    with gr.Tab("Training timeline"):
                        timeline_md = gr.Markdown()
                        timeline = gr.Slider(0, 1, value=0, step=1, precision=0, label="Snapshot (training step →)")
                        timeline_img = gr.Image(label="Sample grid at this step", type="filepath", interactive=False, buttons=BUTTONS, height=460, elem_classes="pixels")

        # -- callbacks ---------------------------------------------------------------------------------------
        cur_out = [current_img, current_info, current_seed]
        dir_out = [x for m in METHODS for x in direction_sliders[m]]
        view_out = [*cur_out, *slots, *dir_out]

        def show(s: Session) -> list[Any]:
            path, info = studio.current(s)
            return [path, info, s.seed]

        def show_all(s: Session) -> list[Any]:
            """The current image plus every slider that depends on it (after a new seed, model or reset)."""
            ups = [gr.update(label=f"dim {x.dim} · #{x.rank} ({x.score:.3f})", value=x.value, visible=True) for x in studio.slots(s, n_slots)]
            ups += [gr.update(visible=False)] * (n_slots - len(ups))
            labels = studio.direction_labels(s.model)
            dirs = [gr.update(label=labels[m][j], value=s.amounts[m][j], visible=True) if j < len(labels[m]) else gr.update(visible=False)
                    for m in METHODS for j in range(N_DIRECTIONS)]
            return [*show(s), *ups, *dirs]

        def model_panels(s: Session) -> list[Any]:
            shots = studio.snapshots(s.model)
            top = int(studio.analysis(s.model).effects.order[0])
            nz = studio.generator(s.model).nz
            if shots:
                frame, caption = studio.snapshot(s.model, len(shots) - 1)
                last = len(shots) - 1  # a slider needs two snapshots to span; one is just shown
                tl = [gr.update(maximum=max(last, 1), value=last, visible=last > 0), frame, caption]
            else:
                tl = [gr.update(visible=False), None, f"{s.model} kept no training snapshots (training runs keep them in samples/)."]
            return [studio.card_markdown(s.model), studio.effects_summary(s.model), gr.update(value=top, maximum=nz - 1), *tl]

        model_out = [card, effects_md, sweep_dim, timeline, timeline_img, timeline_md]

        @ui
        def on_load(key: str, first_seed: int, p: float) -> list[Any]:
            s = studio.new_session(key, seed=int(first_seed), psi=float(p))
            return [s, *show_all(s), *model_panels(s)]

        @ui
        def on_tiles(s: Session | None, key: str, first: int, count: int, p: float) -> list[Any]:
            s = _ready(s)
            tiles = studio.tiles(s, key, first, count, p)
            return gr.update(value=tiles, columns=min(len(tiles), 8) if len(tiles) <= 64 else 16)

        @ui
        def on_pick(s: Session | None, evt: gr.SelectData) -> list[Any]:
            s = _ready(s)
            studio.pick(s, evt.index)
            return show_all(s)

        @ui
        def on_seed(s: Session | None, value: int) -> list[Any]:
            studio.set_seed(_ready(s), value)
            return show_all(s)

        @ui
        def on_psi(s: Session | None, value: float) -> list[Any]:
            studio.set_psi(_ready(s), value)
            return show_all(s)

        @ui
        def on_reset(s: Session | None) -> list[Any]:
            _ready(s).clear_edits()
            return show_all(s)

        @ui
        def on_model(s: Session | None, key: str) -> list[Any]:
            s = _ready(s)
            studio.switch_model(s, key)
            return [*show_all(s), *model_panels(s)]

        @ui
        def on_search(s: Session | None, text: str, effect_first: bool) -> list[Any]:
            studio.search(_ready(s), text, effect_first)
            return show_all(s)

        @ui
        def on_rescan() -> Any:
            studio.models.refresh()
            return gr.update(choices=studio.models.choices())

        @ui
        def on_snapshot(s: Session | None, index: int) -> list[Any]:
            return list(studio.snapshot(_ready(s).model, index))

        def on_dim(slot: int) -> Callable[..., list[Any]]:
            @ui
            def moved(s: Session | None, value: float) -> list[Any]:
                dim = studio.set_dim(_ready(s), slot, value)
                return [*show(s), dim]

            return moved

        def on_amount(m: str, j: int) -> Callable[..., list[Any]]:
            @ui
            def moved(s: Session | None, value: float) -> list[Any]:
                studio.set_amount(_ready(s), m, j, value)
                return show(s)

            return moved

        def new_grid(trigger: Any, **kw: Any) -> None:
            dep = trigger(ui(studio.sample), [model, seed, n, psi], grid_file, **kw)
            dep.success(on_tiles, [session, model, seed, n, psi], gallery, **private)

        # The named API: the CLI's operations (a browser tab's edits are used when it has some).
        new_grid(sample_btn.click, api_name="sample")
        new_grid(seed.submit, **private)
        new_grid(n.release, **private)
        dice.click(lambda: random.randrange(1_000_000), None, seed, **private).then(
            ui(studio.sample), [model, seed, n, psi], grid_file, **private).success(
            on_tiles, [session, model, seed, n, psi], gallery, **private)
        sweep_btn.click(ui(studio.sweep), [model, current_seed, sweep_dim, sweep_steps, sweep_lo, sweep_hi, psi, sweep_fps, session],
                        [sweep_strip, sweep_gif], api_name="sweep")
        interp_btn.click(ui(studio.interpolate), [model, seed_from, seed_to, interp_steps, method, psi, interp_fps, from_current, session],
                         [interp_strip, interp_gif], api_name="interpolate")
        walk_btn.click(ui(studio.walk), [model, current_seed, walk_steps, step_size, psi, walk_fps, session],
                       [walk_png, walk_gif], api_name="walk")
        dice_to.click(lambda: random.randrange(1_000_000), None, seed_to, **private)

        # The session: the current image and everything that follows it.
        demo.load(on_load, [model, seed, psi], [session, *view_out, *model_out], **private).success(
            ui(studio.sample), [model, seed, n, psi], grid_file, **private).success(
            on_tiles, [session, model, seed, n, psi], gallery, **private)
        gallery.select(on_pick, session, view_out, **private)
        current_seed.submit(on_seed, [session, current_seed], view_out, **private)
        current_seed.change(None, current_seed, seed_from, js="(x) => x", **private)  # in the browser only
        reset.click(on_reset, session, view_out, **private)
        psi.release(on_psi, [session, psi], view_out, **private).success(
            ui(studio.sample), [model, seed, n, psi], grid_file, **private).success(
            on_tiles, [session, model, seed, n, psi], gallery, **private)
        model.input(on_model, [session, model], [*view_out, *model_out], **private).success(
            ui(studio.sample), [model, seed, n, psi], grid_file, **private).success(
            on_tiles, [session, model, seed, n, psi], gallery, **private)
        refresh.click(on_rescan, None, model, **private)
        query.submit(on_search, [session, query, by_effect], view_out, **private)
        by_effect.input(on_search, [session, query, by_effect], view_out, **private)
        timeline.input(on_snapshot, [session, timeline], [timeline_img, timeline_md], **quiet)
        for i, slider in enumerate(slots):
            slider.input(on_dim(i), [session, slider], [*cur_out, sweep_dim], **quiet)
        for m in METHODS:
            for j, slider in enumerate(direction_sliders[m]):
                slider.input(on_amount(m, j), [session, slider], cur_out, **quiet)
    return demo


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
        )
    except OSError as e:  # Gradio's words for a port in use, or an address this machine does not have
        raise UserError(f"cannot serve on {host}:{port} ({str(e).split('. ')[0]}): pick another --port or --host") from None
    # Dimension effects and directions (about a second of CPU) once serving, so they delay no first request.
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
