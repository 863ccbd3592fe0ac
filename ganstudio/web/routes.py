"""The studio's /web routes: the page's modules, the vendored runtime, and each model's record and graph.

    GET /web/static/...                      explore.js, rng.js, studio.js, vendor/ort/* (as an export ships them)
    GET /web/model/<sha256>/model.json       record.model_record of the model whose weights have that sha256
    GET /web/model/<sha256>/generator.onnx   its graph

Models are named by the sha256 their images' recipes carry, so the page finds the model of the image on
screen from the image itself. Everything here is a file or a cached record: a drag in the page costs the
server nothing, and these answers are cacheable (a model's sha256 never changes its content).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ganstudio.web.site import STATIC

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CACHE = {"Cache-Control": "public, max-age=86400, immutable"}  # keyed by sha256: the content never changes

# sha256 -> (the page's record, the graph file), or None for a model the server does not have
Lookup = Callable[[str], "tuple[dict[str, Any], Path] | None"]


def app(lookup: Lookup) -> Starlette:
    def found(request: Request) -> tuple[dict[str, Any], Path] | Response:
        sha = request.path_params["sha"]
        hit = lookup(sha) if SHA256.match(sha) else None
        return hit if hit is not None else JSONResponse({"error": f"no model with sha256 {sha[:64]} on this server"}, 404)

    def model_json(request: Request) -> Response:
        hit = found(request)
        return hit if isinstance(hit, Response) else JSONResponse(hit[0], headers=CACHE)

    def graph(request: Request) -> Response:
        hit = found(request)
        return hit if isinstance(hit, Response) else FileResponse(hit[1], media_type="application/octet-stream", headers=CACHE)

    return Starlette(routes=[
        Route("/model/{sha}/model.json", model_json),
        Route("/model/{sha}/generator.onnx", graph),
        Mount("/static", StaticFiles(directory=STATIC)),
    ])
