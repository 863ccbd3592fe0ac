"""`ganstudio serve --mcp`: a real MCP client (the `mcp` package) against the real server on 127.0.0.1.

The tools are listed with descriptions and input schemas, answer with the CLI's pixels, reject a bad value with
the API's one-line error (and one line in the server's log) and keep serving; without the `mcp` package,
`serve --mcp` says in one line what to install, and `serve` alone does not need it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio import cli
from ganstudio.explore import limits
from ganstudio.studio import app, mcp_tools

from conftest import SHIPPED

pytest.importorskip("mcp", reason="the MCP client: pip install 'ganstudio[mcp]'")

from mcp import ClientSession  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

TOOLS = {"sample", "sweep", "interpolate", "walk", "models"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served() -> Any:
    demo, url = app.start(str(SHIPPED), host="127.0.0.1", port=free_port(), quiet=True, mcp=True)
    yield url
    demo.close()


def session(url: str, work: Callable[[ClientSession], Awaitable[Any]], transport: str = "http") -> Any:
    """work(session) on a fresh MCP session with the server, over streamable HTTP (or SSE), within a minute."""

    async def run() -> Any:
        base = url.rstrip("/") + mcp_tools.PATH
        client = streamable_http_client(base) if transport == "http" else sse_client(base + "sse")
        async with client as streams, ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            return await work(s)

    return asyncio.run(asyncio.wait_for(run(), 60))


def call(url: str, tool: str, args: dict[str, Any]) -> Any:
    return session(url, lambda s: s.call_tool(tool, args))


def pixels_of(result: Any) -> np.ndarray:
    assert not result.isError, result.content
    shown = [c for c in result.content if c.type == "image"]
    assert len(shown) == 1 and shown[0].mimeType == "image/png"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(shown[0].data))))


def cli_pixels(tmp_path: Path, out: str, written: str, *args: str) -> np.ndarray:
    """The pixels of what `ganstudio ARGS --out tmp_path/out` writes to tmp_path/written."""
    result = CliRunner().invoke(cli.app, [*args, "--model", str(SHIPPED), "--out", str(tmp_path / out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return np.asarray(Image.open(tmp_path / written))


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_tools_are_listed_with_descriptions_and_schemas(served, transport):
    listed = session(served, lambda s: s.list_tools(), transport).tools
    assert {t.name for t in listed} == TOOLS  # the page's own endpoints (with its tab state) are not offered
    for t in listed:
        assert len(t.description) > 60, t
        assert t.inputSchema["type"] == "object"
        for name, prop in t.inputSchema["properties"].items():
            assert prop.get("description"), (t.name, name)
    by_name = {t.name: t for t in listed}
    # the ranges are the ones limits.py defines, stated where a model reads them
    assert str(limits.SERVE_N) in by_name["sample"].inputSchema["properties"]["n"]["description"]
    assert str(limits.SEED) in by_name["sample"].inputSchema["properties"]["seed"]["description"]
    assert str(limits.STEP_SIZE) in by_name["walk"].inputSchema["properties"]["step_size"]["description"]
    assert by_name["sweep"].inputSchema["required"] == ["dim"]
    assert by_name["models"].inputSchema["properties"] == {}


@pytest.mark.parametrize(
    "tool, args, cli_args, out, written",
    [
        ("sample", {"seed": 7, "n": 1}, ["sample", "--seed", "7", "--n", "1"], "grid.png", "grid.png"),
        ("sample", {"seed": 5, "n": 9, "psi": 0.7, "model": "mnist-dcgan"}, ["sample", "--seed", "5", "--n", "9", "--psi", "0.7"],
         "grid.png", "grid.png"),
        ("sweep", {"seed": 11, "dim": 4, "steps": 5, "lo": -2, "hi": 2},
         ["sample", "--seed", "11", "--dim", "4", "--steps", "5", "--range", "-2", "2"], "d", "d/strip.png"),
        ("interpolate", {"seed_from": 2, "seed_to": 8, "steps": 5, "method": "lerp"},
         ["interpolate", "--from", "2", "--to", "8", "--steps", "5"], "i.png", "i.png"),
        ("walk", {"seed": 2, "steps": 6, "step_size": 0.1}, ["walk", "--seed", "2", "--steps", "6", "--step-size", "0.1"], "w.png", "w.png"),
    ],
)
def test_tool_images_have_the_cli_pixels(served, tmp_path, tool, args, cli_args, out, written):
    got = pixels_of(call(served, tool, args))
    want = cli_pixels(tmp_path, out, written, *cli_args)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.array_equal(got, want)


def test_models_lists_what_the_api_lists(served):
    result = call(served, "models", {})
    assert not result.isError, result.content
    listed = json.loads(result.content[0].text)
    v1 = httpx.get(served + "v1/models", timeout=30).json()
    assert listed["default"] == v1["default"] == "mnist-dcgan"
    assert [m["model"] for m in listed["models"]] == v1["models"]
    assert all(m["nz"] == 100 and m["about"].startswith(m["model"]) for m in listed["models"])


@pytest.mark.parametrize(
    "tool, args, message",
    [
        ("sample", {"seed": -1, "n": 1}, f"seed -1 is out of range: use {limits.SEED}"),
        ("sample", {"n": 100_000}, f"n 100000 is out of range: use {limits.SERVE_N}"),
        ("sweep", {"dim": 100}, "dim 100 is out of range: this generator has dimensions 0..99"),
        ("walk", {"psi": 0}, f"psi 0.0 is out of range: use {limits.PSI}"),
        ("interpolate", {"method": "cubic"}, "method 'cubic' must be lerp or slerp"),
        ("sample", {"model": "../etc"}, "unknown model '../etc': pick one of"),
    ],
)
def test_a_bad_value_is_one_line_and_the_server_keeps_serving(served, caplog, tool, args, message):
    with caplog.at_level(logging.WARNING, logger="ganstudio.studio"):
        result = call(served, tool, args)
    assert result.isError
    text = result.content[0].text
    assert text.startswith(message) and "\n" not in text and "Traceback" not in text, text
    assert [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()] == [f"ganstudio mcp: {tool} rejected: {text}"]
    assert pixels_of(call(served, "sample", {"seed": 3, "n": 1})).size  # still serving


@pytest.mark.parametrize(
    "tool, args, named",
    [("sample", {"seed": "seven"}, "'seven'"), ("sweep", {"seed": 1}, "'dim'"), ("sample", {"seeds": 7}, "seeds")],
)
def test_a_wrong_type_a_missing_or_an_unknown_argument_is_refused_in_one_line(served, tool, args, named):
    """Refused by the schema (the MCP server checks it before the call) or by Gradio's argument mapping: an
    unknown name must not answer with the defaults' image, as /v1 refuses `?seeds=7`."""
    result = call(served, tool, args)
    assert result.isError
    assert result.content[0].text.count("\n") == 0 and named in result.content[0].text, result.content[0].text


def keep_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` blocks IPython and matplotlib for its process: not for the rest of the test run."""
    for unused in ("IPython", "matplotlib"):
        if unused not in sys.modules:
            monkeypatch.setitem(sys.modules, unused, None)


def hide_mcp(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the `mcp` package were not installed (find_spec and import both see None)."""
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")]:
        monkeypatch.setitem(sys.modules, name, None)
    keep_modules(monkeypatch)


def test_serve_passes_mcp_to_the_studio(monkeypatch):
    keep_modules(monkeypatch)
    seen: dict[str, Any] = {}
    monkeypatch.setattr(app, "launch", lambda **kw: seen.update(kw))
    result = CliRunner().invoke(cli.app, ["serve", "--mcp"])
    assert result.exit_code == 0, result.output
    assert seen["mcp"] is True


def test_serve_mcp_without_the_package_says_what_to_install(monkeypatch):
    hide_mcp(monkeypatch)
    result = CliRunner().invoke(cli.app, ["serve", "--mcp", "--model", str(SHIPPED), "--port", str(free_port())])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: --mcp needs the MCP package: {mcp_tools.INSTALL}"


def test_serve_without_mcp_does_not_need_the_package(monkeypatch):
    hide_mcp(monkeypatch)
    demo, url = app.start(str(SHIPPED), host="127.0.0.1", port=free_port(), quiet=True)
    try:
        assert httpx.get(url + "v1/sample?n=1", timeout=30).status_code == 200
        assert httpx.get(url + mcp_tools.PATH.lstrip("/"), timeout=30).status_code == 404
    finally:
        demo.close()
