"""`ganstudio export MODEL --web DIR` and explore.js in a real browser: the site served by `python -m http.server`
in Debian's chromium, the same pixels as the CLI for seeds, ψ, dimension edits and every kind of direction,
the JS API, the permalink, and nothing fetched from anywhere but the site itself."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.artifact import catalog
from ganstudio.cli import app
from ganstudio.errors import UserError
from ganstudio.explore import class_directions, directions, operations, runtime
from ganstudio.explore.limits import MAX_SEED
from ganstudio.explore.operations import Vector
from ganstudio.web import site

from conftest import in_browser

SHIPPED = catalog.REPO_ROOT / "checkpoints"


def _serve(folder: Path):
    """`python -m http.server` on a free port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, url


@pytest.fixture(scope="module", params=["mnist-dcgan", "emoji-dcgan"])
def site_page(request, tmp_path_factory, chromium):
    """(page, url, generator, outside requests) for an exported shipped model, served by a plain static server."""
    name = request.param
    folder = site.write(name, tmp_path_factory.mktemp("site") / name)
    proc, url = _serve(folder)
    page = chromium.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(60_000)
    outside: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    yield page, url, runtime.load(name), outside, errors
    page.close()
    proc.terminate()
    proc.wait()


CANVAS = "(c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data))(document.getElementById('current'))"


def _render(page, state: dict) -> np.ndarray:
    """window.ganstudio.render(state) as (H, W, 4) uint8."""
    got = page.evaluate("async (s) => { const im = await window.ganstudio.render(s); return [im.width, Array.from(im.data)]; }", state)
    return np.asarray(got[1], dtype=np.uint8).reshape(got[0], got[0], 4)


def _rgb(px: np.ndarray, channels: int) -> np.ndarray:
    return px[..., :1] if channels == 1 else px[..., :3]


def _bases(gen) -> dict[str, np.ndarray]:
    """Every direction method's rows, computed here as the studio does (not read back from the site)."""
    from ganstudio.artifact.checkpoint import load_weights

    _, tensors = load_weights(gen.model.weights)
    sefa, ganspace = directions.from_weights(tensors, gen.nz, 8, gen.card.classes)
    found = class_directions.of(gen.model, gen.nz, gen.sha256)
    return {"sefa": sefa.vectors, "ganspace": ganspace.vectors} | (found.bases() if found else {})


@pytest.mark.parametrize("seed", [0, 5, MAX_SEED])
@in_browser
def test_same_pixels_as_the_cli(site_page, seed: int, tmp_path: Path):
    """The inner image of `ganstudio sample --seed S --n 1` (its 2-pixel border cut off)."""
    page, _, gen, _, _ = site_page
    png = tmp_path / "s.png"
    done = CliRunner().invoke(app, ["sample", "--model", gen.model.name, "--seed", str(seed), "--n", "1", "--out", str(png)])
    assert done.exit_code == 0, done.output
    want = np.asarray(Image.open(png).convert("RGB" if gen.card.channels == 3 else "L"))[2:-2, 2:-2]
    want = want.reshape(*want.shape[:2], -1)
    got = _rgb(_render(page, {"seed": seed, "psi": 1}), gen.card.channels)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).max() <= 1


@in_browser
def test_same_pixels_on_many_seeds_and_edits(site_page):
    page, _, gen, _, _ = site_page
    bases = _bases(gen)
    record = json.loads(urllib.request.urlopen(page.url.split("?")[0] + "model/model.json").read())
    rng = np.random.default_rng(7)
    worst = 0
    for i in range(40):
        seed = int(rng.integers(0, MAX_SEED, endpoint=True))
        psi = float(np.round(rng.uniform(0.3, 2.0), 2))
        edits = {int(d): float(np.round(rng.uniform(-4, 4), 2)) for d in rng.choice(gen.nz, size=i % 4, replace=False)}
        amounts: dict[str, list[float]] = {}
        state_dirs: dict[str, float] = {}
        if i % 2:
            for m, rows in bases.items():
                j = int(rng.integers(len(rows)))
                a = float(np.round(rng.uniform(-6, 6), 1))
                amounts[m] = [a if k == j else 0.0 for k in range(len(rows))]
                state_dirs[f"{m}:{record['directions'][m]['names'][j]}"] = a
        v = Vector.edited(seed, psi, gen.nz, edits, amounts, bases)
        want = operations.still(gen, v).frames[0, 0]
        got = _rgb(_render(page, {"seed": seed, "psi": psi, "dims": edits, "directions": state_dirs}), gen.card.channels)
        worst = max(worst, int(np.abs(got.astype(int) - want).max()))
    assert worst <= 1
    assert set(record["directions"]) == set(bases)  # every kind of direction the model has was moved


@in_browser
def test_state_set_link_and_bad_values(site_page):
    page, url, gen, outside, errors = site_page
    state = {"seed": 42, "psi": 0.7, "dims": {"3": 1.5}, "directions": {"sefa:2": 2.5}}
    img = page.evaluate("async (s) => Array.from((await window.ganstudio.set(s)).data)", state)
    assert page.evaluate("window.ganstudio.state()") == {"seed": 42, "psi": 0.7, "dims": {"3": 1.5}, "directions": {"sefa:2": 2.5}}
    assert "seed=42" in page.url and "dims=3:1.5" in page.url and "sefa=0,2.5" in page.url
    page.goto(page.url)  # the link restores the view
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("window.ganstudio.state()")["directions"] == {"sefa:2": 2.5}
    drawn = page.evaluate(CANVAS)
    assert drawn == img
    for bad, message in [({"seed": -1}, "seed -1 is out of range: use 0..4294967295"), ({"psi": 0}, "psi 0 is out of range"),
                         ({"dims": {str(gen.nz): 1}}, f"use 0..{gen.nz - 1}"), ({"directions": {"sefa:99": 1}}, "no direction sefa:99"),
                         ({"directions": {"sefa:1": 11}}, "use -10..10")]:
        said = page.evaluate("(s) => window.ganstudio.set(s).then(() => 'accepted', (e) => e.message)", bad)
        assert message in said and "\n" not in said
        assert page.evaluate("window.ganstudio.state()")["seed"] == 42  # a refused state changes nothing
    assert not outside and not errors


@in_browser
def test_controls_redraw_and_strips(site_page):
    page, url, gen, outside, errors = site_page
    page.goto(url + "?seed=3")
    page.wait_for_selector("body[data-ready='1']")
    canvas = CANVAS
    before = page.evaluate(canvas)
    top = int(json.loads(urllib.request.urlopen(url + "model/model.json").read())["effects"]["order"][0])
    slider = page.locator("#dims input[type=range]").first
    slider.focus()
    slider.press("End")  # the strongest dimension to the top of its range, as a drag ends there
    page.wait_for_function(f"window.ganstudio.state().dims['{top}'] === 4")
    page.wait_for_function(f"JSON.stringify({canvas}) !== {json.dumps(json.dumps(before))}")
    assert page.evaluate(canvas) == page.evaluate("async () => Array.from((await window.ganstudio.render(window.ganstudio.state())).data)")
    assert f"dims={top}:4" in page.url

    page.fill("#seed-to", "9")
    page.click("#interpolate")
    frames = page.locator("#interp-strip canvas")
    frames.nth(7).wait_for()
    frames.nth(7).click()  # the last frame is seed 9's vector (at this ψ), written into every dimension
    page.wait_for_function("Object.keys(window.ganstudio.state().dims).length > 10")
    end = page.evaluate(canvas)
    assert end == page.evaluate("async () => Array.from((await window.ganstudio.render({seed: 9, psi: 1})).data)")

    page.select_option("#sweep-what", index=0)
    page.click("#sweep")
    page.locator("#sweep-strip canvas").nth(8).wait_for()
    assert page.locator("#sweep-strip canvas").count() == 9
    assert not outside and not errors


def test_site_is_self_contained(tmp_path: Path):
    """Every file the page loads is in the folder, and no file names a URL it would fetch."""
    folder = site.write("mnist-dcgan", tmp_path / "site")
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == sorted(["index.html", "explore.js", "rng.js", "site.js", "site.css", "model/model.json", "model/card.json",
                            "model/generator.onnx", "vendor/ort/VERSION", "vendor/ort/ort.wasm.min.mjs",
                            "vendor/ort/ort-wasm-simd-threaded.mjs", "vendor/ort/ort-wasm-simd-threaded.wasm"])
    for name in ["index.html", "explore.js", "rng.js", "site.js"]:
        assert "http" not in (folder / name).read_text(), name
    assert (folder / "model" / "generator.onnx").read_bytes() == (SHIPPED / "mnist-dcgan" / "generator.onnx").read_bytes()


def test_export_web_replaces_only_an_earlier_export(tmp_path: Path):
    runner = CliRunner()
    dest = tmp_path / "site"
    done = runner.invoke(app, ["export", "mnist-mlp", "--web", str(dest)])
    assert done.exit_code == 0 and "python -m http.server" in done.output, done.output
    assert runner.invoke(app, ["export", "mnist-mlp", "--web", str(dest)]).exit_code == 0  # an earlier export: replaced
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    done = runner.invoke(app, ["export", "mnist-mlp", "--web", str(foreign)])
    assert done.exit_code == 2 and "not an earlier --web export" in done.output and len(done.output.strip().splitlines()) == 1
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    done = runner.invoke(app, ["export", "mnist-mlp", "--web", str(dest), "--out", str(tmp_path / "x")])
    assert done.exit_code == 2 and "without --out or --triton" in done.output
    with pytest.raises(UserError, match="no-such-model"):
        site.write("no-such-model", tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind
