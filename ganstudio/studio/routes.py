"""The studio's plain HTTP API under /v1: the CLI's images for programs, without Gradio's queue.

`GET /v1/sample|sweep|direction|interpolate|walk?...` answers with the bytes `ganstudio sample|interpolate|walk` writes
(PNG, or GIF with format=gif), rendered by the same Studio (one ONNX Runtime session per model). It is mounted
beside the Gradio page on the same server (ganstudio.studio.app). A bad value is HTTP 400, an unknown model
404, each with `{"error": "..."}`: one line naming the parameter and its range, as the CLI says it, and one
line in the server's log. The server hands /v1 to this app before any of Gradio's middleware
(ganstudio.studio.app.Served). A render that costs less than handing it to a worker thread runs on the event
loop; the rest run in Starlette's thread pool (Renders).

OpenAPI: /v1/openapi.json, and /v1/docs (a page built here from it, so it loads nothing from the internet).
"""

from __future__ import annotations

import html
import logging
import time
from typing import Annotated, Any, Callable

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from ganstudio import __version__
from ganstudio.errors import UserError
from ganstudio.explore import images, limits
from ganstudio.explore.operations import Render
from ganstudio.studio.picker import UnknownModel
from ganstudio.studio.service import Studio

log = logging.getLogger("ganstudio.studio")

MEDIA = {"png": "image/png", "gif": "image/gif"}
# Seconds of CPU below which a render runs on the event loop: about what handing a request to a worker thread
# and back costs the server under load (the threads then contend for the interpreter lock), with headroom, as a
# render measured in a contended worker thread reads more than its own cost (docs/performance.md).
INLINE_CPU = 0.002
# What each parameter must be, for a value FastAPI cannot even parse (range errors come from limits.Bound).
EXPECTED = {
    "seed": f"a whole number in {limits.SEED}", "seed_from": f"a whole number in {limits.SEED}",
    "seed_to": f"a whole number in {limits.SEED}", "n": f"a whole number in {limits.SERVE_N}",
    "steps": f"a whole number in {limits.SERVE_STEPS}", "dim": "a whole number, a latent dimension of the model (0..nz-1)",
    "psi": f"a number in {limits.PSI}", "fps": f"a number in {limits.FPS}",
    "step_size": f"a number in {limits.STEP_SIZE}",
    "lo": f"a number in {limits.LATENT} ({limits.DIRECTION} for /direction)",
    "hi": f"a number in {limits.LATENT} ({limits.DIRECTION} for /direction)", "format": "png or gif", "method": "lerp or slerp",
    "name": "a class direction of the model (e.g. 7, sandal)", "conditional": "true or false",
}

Model = Annotated[str | None, Query(description="A model key, as the studio's picker lists it (default: the studio's model).")]
Seed = Annotated[int, Query(description=f"Seed of the latent vector ({limits.SEED}).")]
Steps = Annotated[int, Query(description=f"Frames ({limits.SERVE_STEPS}).")]
Psi = Annotated[float, Query(description=f"Truncation ({limits.PSI}; 1 = off).")]
Fps = Annotated[float, Query(description=f"GIF frames per second ({limits.FPS}); used with format=gif.")]
Format = Annotated[str, Query(description="png (the strip or grid) or gif (the animation).")]


def _wanted(format: str, fps: float) -> tuple[str, float]:
    """The output asked for, checked before any rendering."""
    if format not in MEDIA:
        raise UserError(f"format {limits.shown(format)!r} must be png or gif")
    return format, limits.FPS.check("fps", fps)


def _reply(rendered: Render, output: tuple[str, float] = ("png", 0.0)) -> Response:
    format, fps = output
    data = images.gif_bytes(rendered.gif_frames(), rendered.recipe, fps) if format == "gif" else images.png_bytes(rendered.image, rendered.recipe)
    return Response(data, media_type=MEDIA[format])


class Renders:
    """Where each render runs. The cheapest render so far of the same operation on the same model (as loaded now:
    its weights and class directions) in the same format says what one image costs: the render's own cost, which
    contention for the interpreter lock only ever adds to. A request expected to cost less than INLINE_CPU renders
    on the event loop; anything else, and any operation not measured yet on the model (so a model loads, and its
    directions are worked out, in a worker thread, never on the loop), in the thread pool."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.cpu_per_image: dict[tuple[object, ...], float] = {}

    async def answer(self, model: str, op: str, n_images: int, render: Callable[[], Render],
                     output: tuple[str, float] = ("png", 0.0)) -> Response:
        key = (model, op, output[0], *self.studio.version(model))
        cost = self.cpu_per_image.get(key)
        if cost is not None and cost * n_images < INLINE_CPU:
            return self._timed(key, n_images, render, output)
        return await run_in_threadpool(self._timed, key, n_images, render, output)

    def _timed(self, key: tuple[object, ...], n_images: int, render: Callable[[], Render], output: tuple[str, float]) -> Response:
        start = time.thread_time()  # this thread's CPU alone: waiting for the interpreter lock is not the render's cost
        reply = _reply(render(), output)
        spent = (time.thread_time() - start) / n_images
        self.cpu_per_image[key] = min(spent, self.cpu_per_image.get(key, spent))
        return reply


def _error(request: Request, status: int, message: str) -> JSONResponse:
    log.warning("ganstudio api: %s %d: %s", request.url.path, status, message)
    return JSONResponse({"error": message}, status_code=status)


def known_parameters(request: Request) -> None:
    """Refuse a parameter the route does not take: `?seeds=7` would otherwise answer with seed 0's grid."""
    route = request.scope.get("route")
    taken = [p.alias for p in route.dependant.query_params] if isinstance(route, APIRoute) else []
    for name in request.query_params:
        if name not in taken:
            raise UserError(f"unknown parameter {limits.shown(name)!r}: {request.url.path} takes {', '.join(taken) or 'none'}")


def api(studio: Studio) -> FastAPI:
    """The /v1 app over `studio` (mount it at /v1)."""
    app = FastAPI(title="ganstudio studio API", version=__version__, docs_url=None, redoc_url=None,
                  dependencies=[Depends(known_parameters)],
                  description="The images `ganstudio sample|interpolate|walk` writes, byte for byte, over HTTP GET.")

    renders = Renders(studio)

    def model_of(model: str | None) -> str:
        return studio.models.default if model is None else model

    @app.exception_handler(UserError)
    def rejected(request: Request, e: UserError) -> JSONResponse:
        return _error(request, 404 if isinstance(e, UnknownModel) else 400, str(e))

    @app.exception_handler(RequestValidationError)
    def unparsable(request: Request, e: RequestValidationError) -> JSONResponse:
        err = e.errors()[0]
        name = str(err["loc"][-1])
        if err.get("type") == "missing":
            return _error(request, 400, f"{name} is required: {EXPECTED.get(name, 'see /v1/docs')}")
        return _error(request, 400, f"{name} {limits.shown(err.get('input'))!r} must be {EXPECTED.get(name, 'as /v1/docs says')}")

    @app.get("/sample", response_class=Response, responses={200: {"content": {"image/png": {}}}})
    async def sample(model: Model = None, seed: Seed = 0,
                     n: Annotated[int, Query(description=f"Images in the grid ({limits.SERVE_N}).")] = 64,
                     psi: Psi = 1.0) -> Response:
        """A grid of n images from seeds seed..seed+n-1: `ganstudio sample --seed --n --psi`'s grid.png."""
        key = model_of(model)
        return await renders.answer(key, "sample", n, lambda: studio.render_sample(key, seed, n, psi))

    @app.get("/sweep", response_class=Response, responses={200: {"content": {"image/png": {}, "image/gif": {}}}})
    async def sweep(dim: Annotated[int, Query(description="The latent dimension that moves (0..nz-1).")],
                    model: Model = None, seed: Seed = 0, steps: Steps = 10,
                    lo: Annotated[float, Query(description=f"Its first value ({limits.LATENT}).")] = -3.0,
                    hi: Annotated[float, Query(description=f"Its last value ({limits.LATENT}), above lo.")] = 3.0,
                    psi: Psi = 1.0, fps: Fps = 5.0, format: Format = "png") -> Response:
        """One dimension moving lo..hi: `ganstudio sample --dim --steps --range [--gif]`'s strip."""
        output, key = _wanted(format, fps), model_of(model)
        return await renders.answer(key, "sweep", steps, lambda: studio.render_sweep(key, seed, dim, steps, lo, hi, psi), output)

    @app.get("/direction", response_class=Response, responses={200: {"content": {"image/png": {}, "image/gif": {}}}})
    async def direction(name: Annotated[str, Query(description="The class direction (7, sandal, '→ 7'); the model needs `ganstudio directions`.")],
                        model: Model = None, seed: Seed = 0, steps: Steps = 10,
                        lo: Annotated[float, Query(description=f"The first amount along it ({limits.DIRECTION}).")] = -3.0,
                        hi: Annotated[float, Query(description=f"The last amount ({limits.DIRECTION}), above lo.")] = 3.0,
                        conditional: Annotated[bool, Query(description="The other classes' directions projected out of it.")] = False,
                        psi: Psi = 1.0, fps: Fps = 5.0, format: Format = "png") -> Response:
        """Seed's image moving along a class direction: `ganstudio sample --direction --steps --range [--conditional] [--gif]`'s strip."""
        output, key = _wanted(format, fps), model_of(model)
        return await renders.answer(key, "direction", steps, lambda: studio.render_direction_sweep(key, seed, name, steps, lo, hi, psi, conditional), output)

    @app.get("/interpolate", response_class=Response, responses={200: {"content": {"image/png": {}, "image/gif": {}}}})
    async def interpolate(model: Model = None,
                          seed_from: Annotated[int, Query(description=f"Seed of the first image ({limits.SEED}).")] = 0,
                          seed_to: Annotated[int, Query(description=f"Seed of the last image ({limits.SEED}).")] = 1,
                          steps: Steps = 16,
                          method: Annotated[str, Query(description="slerp (keeps |z| typical), or lerp.")] = limits.INTERPOLATION,
                          psi: Psi = 1.0, fps: Fps = 10.0, format: Format = "png") -> Response:
        """seed_from's image to seed_to's: `ganstudio interpolate --from --to --steps [--slerp] [--gif]`."""
        output, key = _wanted(format, fps), model_of(model)
        return await renders.answer(key, "interpolate", steps, lambda: studio.render_interpolate(key, seed_from, seed_to, steps, method, psi), output)

    @app.get("/walk", response_class=Response, responses={200: {"content": {"image/png": {}, "image/gif": {}}}})
    async def walk(model: Model = None, seed: Seed = 0, steps: Steps = 60,
                   step_size: Annotated[float, Query(description=f"How far each frame moves ({limits.STEP_SIZE}).")] = 0.08,
                   psi: Psi = 1.0, fps: Fps = 15.0, format: Format = "png") -> Response:
        """A smooth random walk from seed's vector: `ganstudio walk --seed --steps --step-size [--gif]`."""
        output, key = _wanted(format, fps), model_of(model)
        return await renders.answer(key, "walk", steps, lambda: studio.render_walk(key, seed, steps, step_size, psi), output)

    @app.get("/models")
    def models() -> dict[str, Any]:
        """The model keys the picker offers now (after a Rescan too), and the default."""
        return {"default": studio.models.default, "models": [key for _, key in studio.models.choices()]}

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi(), request.scope.get("root_path", "")))

    return app


def docs_page(spec: dict[str, Any], root: str) -> str:
    """Every route with its parameters, defaults and ranges, as one static HTML page."""
    esc: Callable[[object], str] = lambda x: html.escape(str(x))
    parts = [f"<!doctype html><meta charset=utf-8><title>{esc(spec['info']['title'])}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}td,th{padding:2px 8px;text-align:left}</style>",
             f"<h1>{esc(spec['info']['title'])} {esc(spec['info']['version'])}</h1><p>{esc(spec['info'].get('description', ''))}</p>",
             f"<p>Machine-readable: <a href='{esc(root)}/openapi.json'>{esc(root)}/openapi.json</a>. "
             "Errors: HTTP 400 (a bad value, or a parameter the route does not take) or 404 (an unknown model) with <code>{\"error\": \"...\"}</code>.</p>"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            parts.append(f"<h2><code>{esc(method.upper())} {esc(root + path)}</code></h2><p>{esc(op.get('description', ''))}</p>")
            rows = "".join(
                f"<tr><td><code>{esc(p['name'])}</code></td><td>{esc(p['schema'].get('default', 'required' if p.get('required') else ''))}</td>"
                f"<td>{esc(p.get('description', ''))}</td></tr>" for p in op.get("parameters", []))
            if rows:
                parts.append(f"<table><tr><th>parameter</th><th>default</th><th>what</th></tr>{rows}</table>")
    return "\n".join(parts)
