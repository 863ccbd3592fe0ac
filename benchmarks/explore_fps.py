"""How fast does a drag redraw? Input-to-pixels time in headless Chromium, the page's generator against the server's.

Three pages, driven by real mouse drags on a dimension slider (Playwright; one move every --interval ms):
1. the studio (`ganstudio serve`, spawned), drawing in the page with onnxruntime-web (ganstudio/web/static/studio.js);
2. the same studio with WebAssembly removed from the page, so every step goes to the server as before;
3. the static site of `ganstudio export MODEL --web`, served by `python -m http.server`.
Paths alternate, --drags times each, all in one run.

Input-to-pixels, per trusted input event: from the event's timestamp to the first animation frame after a new
image is ready on screen (the studio's <img> decoded; the site's canvas written). Where renders are slower than
the moves, an image already on its way answers a later input sooner than that input's own would, so the
server path's figures are a lower bound; the frames drawn per drag are printed beside them. The server's CPU
seconds (its process's user + system time, from /proc) are taken over each drag, from the first move until the
page is quiet again, and include the one render the studio asks for where a drag ends.

Target (issue 22): p95 <= 33 ms on the shipped 28/32 px models, <= 100 ms on a 64 px colour DCGAN.

    python benchmarks/explore_fps.py [--model mnist-dcgan] [--drags 3] [--moves 40] [--interval 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, sync_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TICK = os.sysconf("SC_CLK_TCK")

# Before any of the page's scripts: registered first, this listener sees each input before studio.js may stop it.
PROBE = """(() => {
  const t = window.__fps = { inputs: [], paints: [] };
  const painted = () => requestAnimationFrame(() => t.paints.push(performance.now()));
  addEventListener("input", (e) => { if (e.isTrusted && e.target.type === "range") t.inputs.push(e.timeStamp); }, true);
  const put = CanvasRenderingContext2D.prototype.putImageData;  // the site draws into its canvas
  CanvasRenderingContext2D.prototype.putImageData = function (...a) {
    put.apply(this, a); if (this.canvas.id === "current") painted(); };
  new MutationObserver((ms) => {  // the studio swaps its <img>'s source (a data: URL, or the server's file)
    for (const m of ms) if (m.target.matches?.("#current img")) m.target.decode().then(painted, painted);
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["src"] });
})();"""
NO_WASM = "delete window.WebAssembly"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[:4]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def quiet(page: Page, settle_ms: float = 1500) -> None:
    """Until no new image for settle_ms (the server's last answer has been drawn)."""
    while True:
        last = page.evaluate("window.__fps.paints.length ? window.__fps.paints.at(-1) : 0")
        now = page.evaluate("performance.now()")
        if now - last >= settle_ms:
            return
        time.sleep((settle_ms - (now - last)) / 1000 + 0.05)


def drag(page: Page, slider: str, moves: int, interval_ms: float, forward: bool, pid: int) -> tuple[list[float], int, float, float]:
    """One mouse drag across most of the slider; (input-to-pixels ms per input event, frames drawn, the server's
    CPU seconds while the pointer moved, and from the first move until the page was quiet again)."""
    page.evaluate("window.__fps.inputs = []; window.__fps.paints = []")
    handle = page.locator(slider).first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    xs = np.linspace(0.1, 0.9, moves + 1)
    xs = xs if forward else xs[::-1]
    page.mouse.move(box["x"] + box["width"] * xs[0], y)
    page.mouse.down()
    c0 = cpu_seconds(pid)
    t = time.perf_counter()
    for x in xs[1:]:
        page.mouse.move(box["x"] + box["width"] * x, y)
        t += interval_ms / 1000
        time.sleep(max(0.0, t - time.perf_counter()))
    moving = cpu_seconds(pid) - c0
    page.mouse.up()
    quiet(page)
    total = cpu_seconds(pid) - c0
    inputs, paints = page.evaluate("[window.__fps.inputs, window.__fps.paints]")
    paints = np.sort(np.asarray(paints))
    lat = []
    for ti in inputs:
        k = np.searchsorted(paints, ti, side="right")
        if k < len(paints):
            lat.append(float(paints[k] - ti))
    return lat, len(paints), moving, total


def open_studio(browser, url: str, wasm: bool) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.add_init_script(PROBE if wasm else NO_WASM + ";\n" + PROBE)
    page.goto(url)
    page.wait_for_function("window.ganstudio && document.querySelector('#current img')")
    if wasm:
        page.wait_for_function("window.ganstudio.state() !== null")
    page.get_by_role("tab", name="Dimensions").click()
    page.locator(".dims input[type=range]").first.wait_for()
    return page


def open_site(browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.add_init_script(PROBE)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-dcgan")
    parser.add_argument("--drags", type=int, default=3)
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--interval", type=float, default=16.0, help="ms between mouse moves")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("no chromium on PATH (apt-get install chromium)")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    port, site_port = free_port(), free_port()
    studio_url, site_url = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{site_port}/"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "ganstudio", "export", args.model, "--web", f"{tmp}/site"], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        server = subprocess.Popen([sys.executable, "-m", "ganstudio", "serve", "--model", args.model, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        static = subprocess.Popen([sys.executable, "-m", "http.server", str(site_port), "--bind", "127.0.0.1", "-d", f"{tmp}/site"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(studio_url, server)
            wait_up(site_url, static)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
                pages = {"studio, in the page": (open_studio(browser, studio_url, True), ".dims input[type=range]"),
                         "studio, server path": (open_studio(browser, studio_url, False), ".dims input[type=range]"),
                         "exported site": (open_site(browser, site_url), "#dims input[type=range]")}
                lat: dict[str, list[float]] = {k: [] for k in pages}
                frames: dict[str, list[int]] = {k: [] for k in pages}
                cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in pages}
                for i in range(args.drags):  # alternating, so a busy spell on a shared host hurts no path more
                    for name, (page, slider) in pages.items():
                        page.bring_to_front()
                        got, n, moving, total = drag(page, slider, args.moves, args.interval, i % 2 == 0, server.pid)
                        cpu[name].append((moving, total))
                        lat[name] += got
                        frames[name].append(n)
                browser.close()
        finally:
            for proc in (server, static):
                proc.terminate()
                proc.wait()
    print(f"{args.model}: {args.drags} drags x {args.moves} mouse moves, one every {args.interval:g} ms")
    print("  (the studio's server CPU during the exported site's drags is its idle cost: the site does not use it)")
    for name in pages:
        a = np.asarray(lat[name])
        moving, total = np.mean(cpu[name], axis=0)
        print(f"  {name:20s} input-to-pixels p50 {np.percentile(a, 50):6.1f} ms  p95 {np.percentile(a, 95):6.1f} ms  "
              f"({len(a)} inputs)  frames per drag {np.mean(frames[name]):5.1f}  "
              f"server CPU per drag {moving:.3f} s while moving, {total:.3f} s until quiet")
    b, s = (np.percentile(lat[k], 95) for k in ("studio, in the page", "studio, server path"))
    print(f"  server path / in the page, p95: {s / b:.1f}x")


if __name__ == "__main__":
    main()
