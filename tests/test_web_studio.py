"""The studio's page draws while a slider moves (ganstudio/web/static/studio.js), in Debian's chromium.

A pointer drag on a dimension, direction, class or ψ slider redraws the current image in the page at every
step with no call to the server; where the drag ends the server renders once, and its image equals the one
the page drew. A browser without WebAssembly keeps the server path and says so once."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from ganstudio.studio import views

from conftest import in_browser


DECODE = """async (src) => {
  const im = new Image(); im.src = src; await im.decode();
  const c = document.createElement('canvas'); c.width = im.naturalWidth; c.height = im.naturalHeight;
  const x = c.getContext('2d'); x.drawImage(im, 0, 0);
  return [c.width, Array.from(x.getImageData(0, 0, c.width, c.height).data)];
}"""
SRC = "document.querySelector('#current img').src"


@pytest.fixture
def studio_page(chromium, server):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(server)
    page.wait_for_function("window.ganstudio && window.ganstudio.state()")
    yield page
    page.close()


def _pixels(page, src: str) -> np.ndarray:
    w, data = page.evaluate(DECODE, src)
    return np.asarray(data, dtype=np.uint8).reshape(-1, w, 4)


def _drag(page, slider, monkeypatch) -> tuple[int, set[str], str, int]:
    """Drag `slider` with the mouse from its middle rightwards; (server renders during the drag, sources the image
    had, the page's last drawn source, server renders after letting go)."""
    calls = []
    for name in ("set_dim", "set_amount", "set_class_amount"):
        real = getattr(views, name)
        monkeypatch.setattr(views, name, lambda *a, _real=real, **k: (calls.append(1), _real(*a, **k))[1])
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    seen = set()
    for i in range(1, 13):
        page.mouse.move(box["x"] + box["width"] * (0.5 + i / 30), y)
        page.wait_for_function(f"{SRC}.startsWith('data:') && !{json.dumps(sorted(seen))}.includes({SRC})")
        seen.add(page.evaluate(SRC))
    during = len(calls)
    drawn = page.evaluate(SRC)
    shown = slider.evaluate("(r) => [r.value, r.closest('.block').querySelector('input[type=number]').value]")
    assert shown[0] == shown[1]  # the slider's number box follows the drag, though Gradio has not heard it yet
    page.mouse.up()
    page.wait_for_function(f"!{SRC}.startsWith('data:')")  # the server's image of where the drag ended
    time.sleep(0.3)
    return during, seen, drawn, len(calls)


@in_browser
@pytest.mark.parametrize("tab, slider, at_end", [  # at_end: the server's calls where the drag ends (input, release)
    ("Dimensions", ".dims input[type=range]", 1),
    ("Directions", "input[aria-label^='range slider for SeFa 1']", 2),
    ("Classes", "input[aria-label^='range slider for → 7']", 2),
    (None, "input[aria-label='range slider for Truncation ψ']", 0),  # ψ: set on release, by set_psi
])
def test_a_drag_is_drawn_in_the_page_and_rendered_once_by_the_server(studio_page, monkeypatch, tab, slider, at_end):
    page = studio_page
    assert page.evaluate("window.ganstudio.mode") == "browser"
    if tab:
        page.get_by_role("tab", name=tab).click()
    during, seen, drawn, after = _drag(page, page.locator(slider).first, monkeypatch)
    assert during == 0  # no server render while the pointer moved
    assert len(seen) == 12  # each step drawn by the page
    assert after == at_end  # the end of the drag, not its steps
    server = page.evaluate(SRC)
    mine, theirs = _pixels(page, drawn), _pixels(page, server)
    assert mine.shape == theirs.shape  # drawn in the server's layout (its frame included)
    assert np.abs(mine.astype(int) - theirs).max() <= 1
    state = page.evaluate("window.ganstudio.state()")
    assert state != {"seed": 0, "psi": 1, "dims": {}, "directions": {}}
    assert not page.locator("#browser-note").count()


@in_browser
def test_a_dimension_drag_after_a_direction_moved(studio_page, monkeypatch):
    """A dimension slider shows the final value, directions included: the page writes the edit under it as the
    server does, so both images agree with a direction amount set."""
    page = studio_page
    page.evaluate("window.ganstudio.set({seed: 11, psi: 1, directions: {'sefa:1': 3, 'ganspace:2': -2}})")
    page.get_by_role("tab", name="Dimensions").click()
    during, seen, drawn, after = _drag(page, page.locator(".dims input[type=range]").first, monkeypatch)
    assert during == 0 and len(seen) == 12 and after == 1
    mine, theirs = _pixels(page, drawn), _pixels(page, page.evaluate(SRC))
    assert np.abs(mine.astype(int) - theirs).max() <= 1
    assert page.evaluate("window.ganstudio.state().directions") == {"sefa:1": 3, "ganspace:2": -2}


def _inner(page, src: str, size: int) -> np.ndarray:
    """The server's image without the frame it draws around the model's pixels."""
    px = _pixels(page, src)
    pad = (px.shape[0] - size) // 2
    return px[pad:pad + size, pad:pad + size]


@in_browser
def test_js_api_on_the_studio(studio_page, caplog):
    """window.ganstudio on the studio: render draws the CLI's pixels; set makes a state the session's (the server's
    image, undo) or refuses a bad one with one line, changing nothing."""
    from ganstudio.explore import operations, runtime
    from ganstudio.explore.operations import Vector

    page = studio_page
    gen = runtime.load("mnist-dcgan")
    for seed, psi, dims in [(0, 1, {}), (7, 0.6, {"5": 2.5}), (123456, 1.4, {"0": -3, "40": 1.25})]:
        want = operations.still(gen, Vector.edited(seed, psi, gen.nz, {int(d): v for d, v in dims.items()}, {}, {})).frames[0, 0]
        got = page.evaluate("async (s) => { const im = await window.ganstudio.render(s); return [im.width, Array.from(im.data)]; }",
                            {"seed": seed, "psi": psi, "dims": dims})
        assert got[0] == gen.card.image_size
        px = np.asarray(got[1], dtype=np.uint8).reshape(got[0], got[0], 4)[..., :1]
        assert np.abs(px.astype(int) - want).max() <= 1

    first = page.evaluate("window.ganstudio.state()")
    state = {"seed": 42, "psi": 0.7, "dims": {"3": 1.5}, "directions": {"sefa:2": 2.5}}
    img = page.evaluate("async (s) => { const im = await window.ganstudio.set(s); return Array.from(im.data); }", state)
    assert page.evaluate("window.ganstudio.state()") == state
    page.wait_for_function(f"!{SRC}.startsWith('data:') && window.ganstudio.state().seed === 42")
    served = _inner(page, page.evaluate(SRC), gen.card.image_size)
    assert np.abs(served.astype(int) - np.asarray(img, dtype=np.uint8).reshape(served.shape)).max() <= 1
    assert page.locator("#current-info").inner_text().startswith("seed 42")
    for bad, message in [({"seed": -1}, "seed -1 is out of range: use 0..4294967295"), ({"psi": 0}, "psi 0 is out of range"),
                         ({"dims": {"100": 1}}, "use 0..99"), ({"directions": {"sefa:99": 1}}, "no direction sefa:99"),
                         ({"directions": {"sefa:1": 11}}, "use -10..10")]:
        said = page.evaluate("(s) => window.ganstudio.set(s).then(() => 'accepted', (e) => e.message)", bad)
        assert message in said and "\n" not in said
        assert page.evaluate("window.ganstudio.state()") == state  # a refused state changes nothing
    page.locator("#undo").click()  # set was one step of the session's history
    page.wait_for_function(f"window.ganstudio.state() && window.ganstudio.state().seed === {first['seed']}")
    assert page.evaluate("window.ganstudio.state()") == first


@in_browser
def test_a_model_the_page_cannot_run_falls_back_to_the_server(chromium, server):
    """A graph the browser's runtime rejects (here: not an ONNX file at all) leaves the server drawing, said once."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.route("**/web/model/*/generator.onnx", lambda route: route.fulfill(status=200, body=b"not a graph"))
    page.goto(server)
    page.wait_for_selector("#browser-note")
    assert "cannot run this model" in page.locator("#browser-note").inner_text()
    assert page.evaluate("window.ganstudio.state()") is None
    page.get_by_role("tab", name="Dimensions").click()
    slider = page.locator(".dims input[type=range]").first
    box = slider.bounding_box()
    before = page.evaluate(SRC)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(f"{SRC} !== {json.dumps(before)}")
    assert not page.evaluate(f"{SRC}.startsWith('data:')")  # the server drew it
    time.sleep(0.5)
    assert page.locator("#browser-note").count() == 1
    page.close()


@in_browser
def test_without_webassembly_the_server_draws_and_the_page_says_so_once(chromium, server):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script("delete window.WebAssembly")
    page.goto(server)
    page.wait_for_selector("#browser-note")
    assert page.evaluate("window.ganstudio.mode") == "server"
    assert page.locator("#browser-note").count() == 1 and "drawn by the server" in page.locator("#browser-note").inner_text()
    page.get_by_role("tab", name="Dimensions").click()
    before = page.evaluate(SRC)
    slider = page.locator(".dims input[type=range]").first
    slider.focus()
    slider.press("End")
    page.wait_for_function(f"{SRC} !== {json.dumps(before)} && !{SRC}.startsWith('data:')")
    page.close()


def test_web_routes(server):
    from ganstudio.artifact.catalog import REPO_ROOT
    from ganstudio.artifact.checkpoint import sha256_file

    sha = sha256_file(REPO_ROOT / "checkpoints" / "mnist-dcgan" / "generator.safetensors")
    record = json.loads(urllib.request.urlopen(f"{server}web/model/{sha}/model.json").read())
    assert record["sha256"] == sha and record["key"] == "mnist-dcgan" and set(record["directions"]) >= {"sefa", "ganspace"}
    graph = urllib.request.urlopen(f"{server}web/model/{sha}/generator.onnx").read()
    assert graph == (REPO_ROOT / "checkpoints" / "mnist-dcgan" / "generator.onnx").read_bytes()
    assert b"Explorer" in urllib.request.urlopen(f"{server}web/static/explore.js").read()
    for bad in ("0" * 64, "../../etc/passwd", "x" * 64):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{server}web/model/{bad}/model.json")
        assert e.value.code == 404
