"""The plain HTTP API (/v1): the CLI's bytes, one-line errors, its OpenAPI page, and a fuzz of malformed input.

Most tests call the /v1 app in-process (Starlette's TestClient); one goes through the real server, where it
is mounted beside the Gradio page.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from ganstudio import cli
from ganstudio.explore import images, limits
from ganstudio.studio import app, routes
from ganstudio.studio.service import Studio

from conftest import SHIPPED

LOGGER = "ganstudio.studio"


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return Studio(str(SHIPPED), out_dir=tmp_path_factory.mktemp("routes-out"))


@pytest.fixture(scope="module")
def api(studio) -> TestClient:
    return TestClient(routes.api(studio))


def within(seconds: float, fn, *args, **kwargs):
    """fn(*args, **kwargs), failing the test if it has not returned in time (a hang must not stall the suite)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=seconds)


def cli_bytes(tmp_path: Path, out: str, *args: str) -> bytes:
    result = CliRunner().invoke(cli.app, [*args, "--model", str(SHIPPED), "--out", str(tmp_path / out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return (tmp_path / out).read_bytes()


@pytest.mark.parametrize(
    "query, cli_args, out, written",
    [
        ("/sample?seed=5&n=9&psi=0.7", ["sample", "--seed", "5", "--n", "9", "--psi", "0.7"], "grid.png", "grid.png"),
        ("/sample", ["sample"], "grid.png", "grid.png"),  # the CLI's defaults are the route's
        ("/sweep?seed=11&dim=4&steps=5&lo=-2&hi=2", ["sample", "--seed", "11", "--dim", "4", "--steps", "5", "--range", "-2", "2"], "d", "d/strip.png"),
        ("/sweep?seed=11&dim=4&steps=5&lo=-2&hi=2&format=gif&fps=5",
         ["sample", "--seed", "11", "--dim", "4", "--steps", "5", "--range", "-2", "2", "--gif", "--fps", "5"], "d", "d/strip.gif"),
        ("/interpolate?seed_from=2&seed_to=8&steps=5&method=slerp&psi=0.9",
         ["interpolate", "--from", "2", "--to", "8", "--steps", "5", "--slerp", "--psi", "0.9"], "i.png", "i.png"),
        ("/interpolate?seed_from=2&seed_to=8&steps=5&method=lerp&format=gif&fps=12",
         ["interpolate", "--from", "2", "--to", "8", "--steps", "5", "--gif", "--fps", "12"], "i.png", "i.gif"),
        ("/walk?seed=2&steps=6&step_size=0.1", ["walk", "--seed", "2", "--steps", "6", "--step-size", "0.1"], "w.png", "w.png"),
        ("/walk?seed=2&steps=6&step_size=0.1&format=gif", ["walk", "--seed", "2", "--steps", "6", "--step-size", "0.1", "--gif"], "w.png", "w.gif"),
    ],
)
def test_routes_answer_with_the_cli_bytes(api, tmp_path, query, cli_args, out, written):
    got = api.get(query)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == ("image/gif" if written.endswith(".gif") else "image/png")
    result = CliRunner().invoke(cli.app, [*cli_args, "--model", str(SHIPPED), "--out", str(tmp_path / out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert got.content == (tmp_path / written).read_bytes()


@pytest.mark.parametrize(
    "query, status, message",
    [
        ("/sample?n=100000", 400, "n 100000 is out of range: use 1..256"),
        ("/sample?n=0", 400, "n 0 is out of range: use 1..256"),
        ("/sample?seed=abc", 400, f"seed 'abc' must be a whole number in {limits.SEED}"),
        ("/sample?seed=nan", 400, "seed 'nan' must be a whole number"),
        ("/sample?n=nan", 400, "n 'nan' must be a whole number in 1..256"),
        ("/sample?psi=nan", 400, f"psi nan must be a number in {limits.PSI}"),
        ("/sample?psi=3", 400, f"psi 3.0 is out of range: use {limits.PSI}"),
        ("/sample?model=no-such-model", 404, "unknown model 'no-such-model': pick one of"),
        ("/sweep", 400, "dim is required"),
        ("/sweep?dim=100", 400, "dim 100 is out of range: this generator has dimensions 0..99"),
        ("/sweep?dim=1&lo=2&hi=-2", 400, "lo 2 must be below hi -2"),
        ("/sweep?dim=1&steps=129", 400, "steps 129 is out of range: use 2..128"),
        ("/sweep?dim=1&format=jpg", 400, "format 'jpg' must be png or gif"),
        ("/interpolate?method=cubic", 400, "method 'cubic' must be lerp or slerp"),
        ("/interpolate?fps=0", 400, "fps 0.0 is out of range: use 0.5..50"),
        ("/walk?step_size=5", 400, "step_size 5.0 is out of range: use 0.001..1"),
    ],
)
def test_bad_values_are_one_json_line_naming_the_parameter_and_one_log_line(api, caplog, query, status, message):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = api.get(query)
    assert got.status_code == status
    assert got.json()["error"].startswith(message) and "\n" not in got.json()["error"]
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 1 and message in lines[0]


def test_a_long_model_name_is_not_echoed_whole(api):
    got = api.get("/sample", params={"model": "x" * 10_000})
    assert got.status_code == 404 and len(got.json()["error"]) < 300 and "x" * 40 + "…" in got.json()["error"]


def test_the_openapi_page_lists_every_route_with_its_ranges(api):
    spec = api.get("/openapi.json").json()
    assert {"/sample", "/sweep", "/interpolate", "/walk", "/models"} <= set(spec["paths"])
    params = {p["name"]: p for p in spec["paths"]["/sample"]["get"]["parameters"]}
    assert set(params) == {"model", "seed", "n", "psi"} and str(limits.SERVE_N) in params["n"]["description"]
    page = api.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/sweep" in page.text and "openapi.json" in page.text and "http" not in page.text.split("<body")[0]


def test_models_lists_what_the_picker_offers(api, studio):
    assert api.get("/models").json() == {"default": studio.models.default, "models": [k for _, k in studio.models.choices()]}


def test_the_real_server_serves_the_api_beside_the_page(server, tmp_path):
    got = httpx.get(server + "v1/sample", params={"seed": 3, "n": 4}, timeout=60)
    assert got.status_code == 200 and got.content == cli_bytes(tmp_path, "g.png", "sample", "--seed", "3", "--n", "4")
    assert images.read_recipe(tmp_path / "g.png")["op"] == "sample"
    one = [httpx.get(server + "v1/sample", params={"seed": 3, "n": 1}, timeout=60) for _ in range(3)]  # measured, then on the loop
    assert {r.content for r in one} == {cli_bytes(tmp_path, "one.png", "sample", "--seed", "3", "--n", "1")}
    bad = httpx.get(server + "v1/sample", params={"n": 0}, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"].startswith("n 0 is out of range")
    assert httpx.get(server + "v1/docs", timeout=60).status_code == 200
    assert "/sample" in httpx.get(server + "v1/openapi.json", timeout=60).json()["paths"]
    assert httpx.get(server, timeout=60).status_code == 200  # the page is still there
    assert httpx.get(server + "config", timeout=60).status_code == 200  # and Gradio's own routes


def test_v1_and_web_are_answered_before_the_middleware_gradio_adds_and_the_rest_after_it():
    seen: list[str] = []

    async def api(scope, receive, send):
        seen.append("api " + scope["root_path"] + " " + scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    class Middleware:  # stands for Gradio's (CORS, compression): added to the app as create_app adds them
        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            seen.append(f"middleware {scope.get('path', scope['type'])}")
            await self.inner(scope, receive, send)

    async def web(scope, receive, send):  # the page's own generator files (ganstudio.studio.browser)
        seen.append("web " + scope["root_path"] + " " + scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    served = app.Served(api, web)
    served.add_middleware(Middleware)
    with TestClient(served) as client:
        assert seen == ["middleware lifespan"]  # the lifespan is Gradio's (it starts the queue)
        seen.clear()
        assert client.get("/v1/sample?n=1").status_code == 204
        assert seen == ["api /v1 /v1/sample"]
        seen.clear()
        assert client.get("/web/static/explore.js").status_code == 204
        assert seen == ["web /web /web/static/explore.js"]
        seen.clear()
        assert client.get("/elsewhere").status_code == 404
        assert seen == ["middleware /elsewhere"]


def test_a_cheap_render_runs_on_the_event_loop_and_the_rest_in_worker_threads(studio):
    renders, key, where = routes.Renders(studio), studio.models.default, []

    def render(n: int):
        def run():
            where.append(threading.current_thread() is threading.main_thread())
            return studio.render_sample(key, 0, n, 1.0)
        return run

    async def ask(n: int) -> bytes:
        return (await renders.answer(key, "sample", n, render(n))).body

    first = asyncio.run(ask(1))  # not measured yet: a worker thread (a model may have to load)
    renders.cpu_per_image = {k: routes.INLINE_CPU / 4 for k in renders.cpu_per_image}  # measured as cheap
    again = asyncio.run(ask(1))
    assert asyncio.run(ask(64))  # 64 images at that cost: over the budget, so a worker thread again
    assert where == [False, True, False]
    assert first == again
    renders.cpu_per_image = {k: routes.INLINE_CPU * 4 for k in renders.cpu_per_image}  # a costly model
    asyncio.run(ask(1))
    assert where[-1] is False


# -- fuzz: malformed values for every parameter of every route ---------------------------------------------

PATHS = ["../../../../etc/passwd", "/etc/passwd", "..%2F..%2Fescape.png", "nul\x00byte"]
LONG = ["9" * 5000, "x" * 10_000]


def bad_values(name: str, route: str = "") -> list[str]:
    """Values `name` must refuse: out of range, not a number, near misses, very long, paths."""
    junk = ["", "abc", " ", "0x10", "١٢", *LONG, *PATHS]
    if name == "model":
        return ["", "no-such", "..", "checkpoints/../..", *LONG, *PATHS]
    if name in ("format", "method"):
        return ["jpg", "PNG", "gifs", "Lerp", *LONG, *PATHS]
    if name == "name":  # a class direction
        return ["", "seven", "→ 77", "10", *LONG, *PATHS]
    if name == "conditional":
        return ["maybe", "2", "yess", *LONG, *PATHS]
    amount = limits.DIRECTION if route == "/direction" else limits.LATENT
    bound = {"seed": limits.SEED, "seed_from": limits.SEED, "seed_to": limits.SEED, "n": limits.SERVE_N,
             "steps": limits.SERVE_STEPS, "dim": limits.Bound(0, 99, integer=True), "psi": limits.PSI,
             "fps": limits.FPS, "step_size": limits.STEP_SIZE, "lo": amount, "hi": amount}[name]
    numeric = ["nan", "inf", "-inf", "1e999", f"{bound.lo - 1:g}", f"{bound.hi + 1:g}"]
    return numeric + (["1.5", "2.0000001"] if bound.integer else []) + junk


ROUTE_PARAMS = {
    "/sample": ["model", "seed", "n", "psi"],
    "/sweep": ["model", "seed", "dim", "steps", "lo", "hi", "psi", "fps", "format"],
    "/direction": ["model", "seed", "name", "steps", "lo", "hi", "conditional", "psi", "fps", "format"],  # the shipped model's class directions
    "/interpolate": ["model", "seed_from", "seed_to", "steps", "method", "psi", "fps", "format"],
    "/walk": ["model", "seed", "steps", "step_size", "psi", "fps", "format"],
}
REQUIRED = {"/sweep": {"dim": "1"}, "/direction": {"name": "7"}}  # a good value for each required parameter
CASES = [(route, name, value) for route, names in ROUTE_PARAMS.items() for name in names for value in bad_values(name, route)]


def test_the_fuzz_covers_every_parameter_of_every_image_route(api):
    """A parameter added to a route (or a new route) gets malformed values too; bad_values knows each name."""
    spec = api.get("/openapi.json").json()
    taken = {path: [p["name"] for p in ops["get"].get("parameters", [])] for path, ops in spec["paths"].items()}
    drawing = {path: names for path, names in taken.items() if names}  # /models and /docs take none
    assert {path: sorted(names) for path, names in drawing.items()} == {r: sorted(n) for r, n in ROUTE_PARAMS.items()}


def test_every_malformed_value_gets_one_clear_line_and_nothing_else_happens(api, studio, tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(studio.out.root.iterdir())
    for route, name, value in CASES:
        params = {**REQUIRED.get(route, {}), name: value}
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            got = within(30, api.get, route, params=params)
        assert got.status_code == (404 if name == "model" else 400), (route, name, value[:50], got.text[:200])
        message = got.json()["error"]
        assert isinstance(message, str) and message.startswith(name) or message.startswith("unknown model"), (route, name, message)
        assert "\n" not in message and len(message) < 400, (route, name, message[:400])
        assert len([r for r in caplog.records if r.name == LOGGER]) == 1, (route, name, value[:50])
    assert sorted(studio.out.root.iterdir()) == before and not list(tmp_path.iterdir())  # no file, partial or whole
    assert api.get("/sample", params={"n": 1}).status_code == 200  # still serving


# -- issue 21: what a remote caller sends must not stall, crash or mislead the server ---------------------------


@pytest.mark.parametrize("query, message", [
    ("/sample?seeds=7", "unknown parameter 'seeds': /sample takes model, seed, n, psi"),
    ("/walk?seed=2&stepsize=0.5", "unknown parameter 'stepsize': /walk takes model, seed, steps, step_size, psi, fps, format"),
    ("/models?x=1", "unknown parameter 'x': /models takes none"),
])
def test_a_parameter_the_route_does_not_take_is_400_naming_it(api, caplog, query, message):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = api.get(query)
    assert (got.status_code, got.json()) == (400, {"error": message})
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [f"ganstudio api: {query.split('?')[0]} 400: {message}"]


def test_interpolate_defaults_to_slerp_as_the_studios_page_does(api):
    got = api.get("/interpolate?seed_from=2&seed_to=8&steps=5")
    with Image.open(io.BytesIO(got.content)) as im:
        assert json.loads(im.info[images.RECIPE_KEY])["method"] == "slerp" == limits.INTERPOLATION
    assert got.content == api.get("/interpolate?seed_from=2&seed_to=8&steps=5&method=slerp").content


def test_a_model_removed_after_the_scan_is_404_not_a_traceback(tiny_model, tmp_path, monkeypatch, caplog):
    import shutil

    shutil.copytree(tiny_model, tmp_path / "runs" / "gone")
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    studio = Studio(str(SHIPPED), out_dir=tmp_path / "out")
    client = TestClient(routes.api(studio))
    assert client.get("/sample?model=gone&n=1").status_code == 200
    shutil.rmtree(tmp_path / "runs" / "gone")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = client.get("/sweep?model=gone&dim=1")
    assert got.status_code == 404 and got.json()["error"] == "model 'gone' is no longer on disk: Rescan the models"
    assert client.get("/sample?n=1").status_code == 200  # the others are still served


def test_a_models_first_direction_runs_in_a_worker_thread_after_a_cheap_sample(studio, monkeypatch):
    """A sample says nothing of what a direction costs: its first one may work out the model's directions."""
    monkeypatch.setattr(routes, "INLINE_CPU", 1e9)  # every measured render counts as cheap
    on_loop: list[bool] = []
    analyse = studio.analysis

    def analysis(key):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return analyse(key)

    monkeypatch.setattr(studio, "analysis", analysis)
    client = TestClient(routes.api(studio))
    assert client.get("/sample?n=1").status_code == 200  # measured: from now on on the loop
    assert client.get("/direction?name=7&steps=2").status_code == 200
    assert on_loop == [False]
    assert client.get("/direction?name=7&steps=2").status_code == 200  # measured now: cheap, on the loop
    assert on_loop == [False, True]
