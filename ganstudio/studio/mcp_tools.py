"""`ganstudio serve --mcp`: the studio's named operations as MCP tools, for an assistant (Claude Desktop, an IDE).

Gradio serves them (`launch(mcp_server=True)`, streamable HTTP at /gradio_api/mcp/, SSE at /gradio_api/mcp/sse):
it makes every public API endpoint of the page a tool, its description and argument texts read from the
function's docstring (the "Args:" lines), its input schema from the type hints. So each tool here is a typed
function registered with `gr.api`, whose docstring is written from ganstudio.explore.limits (the ranges are
stated once, there). Each renders through the Studio exactly as /v1 does (ganstudio.studio.routes), with the
same parameter names and the same one-line errors, and answers with the PNG `ganstudio sample|interpolate|walk`
writes: Gradio hands the client its pixels as an image (the recipe's text chunk stays in the file it links).

The page's own named endpoints (the buttons' sample, sweep, interpolate, walk, for gradio_client) take the
page's extra inputs (GIF fps, the browser tab's state) and answer with a GIF too: they stay API endpoints, and
only the tools here are offered over MCP.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import warnings
from collections.abc import Callable
from typing import Any

import gradio as gr

from ganstudio.artifact.checkpoint import read_card
from ganstudio.errors import UserError
from ganstudio.explore import limits
from ganstudio.explore.operations import Render
from ganstudio.studio.service import Studio

log = logging.getLogger("ganstudio.studio")

INSTALL = "pip install 'ganstudio[mcp]'"
PATH = "/gradio_api/mcp/"  # where Gradio serves the streamable HTTP transport (the SSE one is PATH + "sse")

MODEL = "Which generator: a key from the models tool (left out: the server's default model)."
SEED = f"Seed of the latent vector, a whole number in {limits.SEED}: the same seed always gives the same image."
PSI = f"Truncation, {limits.PSI}: 1 leaves the vector as drawn; lower gives more typical, less varied images."
STEPS = f"Frames in the strip, {limits.SERVE_STEPS}."
RETURNS = "A PNG image, pixel for pixel the one the ganstudio command line writes."


def require() -> None:
    """Refuse `--mcp` in one line when the MCP package is missing: Gradio would only print its words and serve
    the page without the tools."""
    if importlib.util.find_spec("mcp") is None:
        raise UserError(f"--mcp needs the MCP package: {INSTALL}")


def _answering(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A person's mistake (UserError) reaches the client as the tool's one-line error and the log as one line; a
    bug as one line naming the log. The page's wrapper raises gr.Error instead, whose text Gradio's MCP server
    would quote."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            log.warning("ganstudio mcp: %s rejected: %s", fn.__name__, e)
            raise
        except Exception as e:
            log.exception("ganstudio mcp: %s failed", fn.__name__)
            raise RuntimeError(f"internal error ({type(e).__name__}); the server's log has the details") from None

    return wrapper


def _doc(fn: Callable[..., Any], what: str, args: dict[str, str], returns: str = RETURNS) -> None:
    """Give fn the docstring Gradio reads a tool's description and argument texts from (gradio.utils.get_function_description)."""
    lines = [what, "", "Args:", *(f"    {name}: {text}" for name, text in args.items()), "", "Returns:", f"    {returns}"]
    fn.__doc__ = "\n".join(lines)


def add(demo: gr.Blocks, studio: Studio) -> list[str]:
    """Register the tools on demo (before launch); returns their names."""

    def png(render: Callable[[], Render], stem: str) -> gr.FileData:
        return gr.FileData(path=studio.out.png(render(), stem))

    def key(model: str | None) -> str:
        return studio.models.default if model in (None, "") else model

    def sample(model: str | None = None, seed: int = 0, n: int = 64, psi: float = 1.0) -> gr.FileData:
        m = key(model)
        return png(lambda: studio.render_sample(m, seed, n, psi), "mcp-sample")

    def sweep(dim: int, model: str | None = None, seed: int = 0, steps: int = 10, lo: float = -3.0, hi: float = 3.0,
              psi: float = 1.0) -> gr.FileData:
        m = key(model)
        return png(lambda: studio.render_sweep(m, seed, dim, steps, lo, hi, psi), "mcp-sweep")

    def interpolate(model: str | None = None, seed_from: int = 0, seed_to: int = 1, steps: int = 16,
                    method: str = limits.INTERPOLATION, psi: float = 1.0) -> gr.FileData:
        m = key(model)
        return png(lambda: studio.render_interpolate(m, seed_from, seed_to, steps, method, psi), "mcp-interpolate")

    def walk(model: str | None = None, seed: int = 0, steps: int = 60, step_size: float = 0.08, psi: float = 1.0) -> gr.FileData:
        m = key(model)
        return png(lambda: studio.render_walk(m, seed, steps, step_size, psi), "mcp-walk")

    def models() -> str:
        studio.models.refresh()  # what is on disk now, as the page's Rescan shows it
        listed = []
        for about, k in studio.models.choices():
            try:
                nz: int | None = read_card(studio.models.get(k).weights).nz
            except UserError:  # listed as unreadable in `about`, as the picker lists it
                nz = None
            listed.append({"model": k, "nz": nz, "about": about})
        return json.dumps({"default": studio.models.default, "models": listed}, ensure_ascii=False)

    _doc(sample, "Draw images from a generator: a grid of n images from the seeds seed, seed+1, ..., seed+n-1, "
         "as `ganstudio sample --seed S --n N --psi P` writes it (n=1: the one image of seed S).",
         {"model": MODEL, "seed": SEED, "n": f"Images in the grid, {limits.SERVE_N}.", "psi": PSI})
    _doc(sweep, "Show what one latent dimension does: seed's image with dimension dim moved from lo to hi, one frame per "
         "step, as a strip (`ganstudio sample --seed S --dim D --steps N --range LO HI`).",
         {"dim": "The latent dimension that moves, 0..nz-1 (the models tool gives each model's nz).", "model": MODEL,
          "seed": SEED, "steps": STEPS, "lo": f"The dimension's first value, {limits.LATENT}.",
          "hi": f"Its last value, {limits.LATENT}, above lo.", "psi": PSI})
    _doc(interpolate, "Morph one seed's image into another's: a strip of frames along the path between their latent "
         "vectors (`ganstudio interpolate --from A --to B --steps N`).",
         {"model": MODEL, "seed_from": f"Seed of the first image, {limits.SEED}.", "seed_to": f"Seed of the last image, {limits.SEED}.",
          "steps": STEPS, "method": "slerp (along the sphere, keeps the vectors' length typical) or lerp (a straight line).", "psi": PSI})
    _doc(walk, "Wander from seed's image: a smooth random walk through the latent space, a strip of frames "
         "(`ganstudio walk --seed S --steps N --step-size X`).",
         {"model": MODEL, "seed": SEED, "steps": STEPS,
          "step_size": f"How far each frame moves, relative to the vector's length, {limits.STEP_SIZE}.", "psi": PSI})
    _doc(models, "List the generators this server offers: each model key (the other tools' model argument), its latent "
         "size nz (sweep's dim is 0..nz-1), dataset, architecture, image size and training steps, and the default model.",
         {}, "JSON: {\"default\": key, \"models\": [{\"model\": key, \"nz\": int, \"about\": text}]}.")
    tools = [sample, sweep, interpolate, walk, models]
    # Gradio warns at launch about the page's endpoints that take the tab's state; offer_only leaves them out.
    warnings.filterwarnings("ignore", "This MCP server includes a tool that has a gr.State input", UserWarning, "gradio.mcp")
    with demo:
        for fn in tools:
            # Not queued: Gradio's MCP server then calls the function directly, as /v1 answers without the queue.
            gr.api(_answering(fn), api_name=f"mcp_{fn.__name__}", queue=False)
    return [fn.__name__ for fn in tools]


def offer_only(demo: gr.Blocks, names: list[str]) -> None:
    """After launch: offer only the tools registered by `add` over MCP, under their own names.

    Gradio makes a tool of every public endpoint, the page's too, named after its function (the page's `sample`
    would take the name and leave this one `sample_1`). It keeps them as a map from tool name to endpoint, read
    on every list and call: this replaces the map. A server without one did not set MCP up."""
    server = demo.mcp_server_obj
    if server is None:
        raise UserError(f"the MCP server did not start ({demo.mcp_error or 'no reason given'}): {INSTALL}")
    ours = {name: f"/mcp_{name}" for name in names}
    missing = sorted(set(ours.values()) - set(server.tool_to_endpoint.values()))
    if missing:  # a Gradio that names endpoints otherwise: fail loudly rather than offer nothing
        raise UserError(f"the MCP server does not offer {', '.join(missing)}: this Gradio serves tools differently")
    server.tool_to_endpoint = ours
