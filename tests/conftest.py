"""Shared fixtures: a tiny exported generator (fast to build), and the shipped checkpoint."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints" / "mnist-dcgan"


@contextlib.contextmanager
def one_thread() -> Iterator[dict[str, str]]:
    """Train on one thread here; yields the environment for subprocesses (OMP_NUM_THREADS=1). The thread count
    decides how CPU kernels split their sums, so the last bits of every gradient: runs compared bit for bit
    (or against torchrun ranks, each on one thread) must agree on it. torch is imported only when called."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield {**os.environ, "OMP_NUM_THREADS": "1"}
    finally:
        torch.set_num_threads(threads)

# The browser tests drive Debian's chromium through Playwright; Playwright's own browser downloads are not used.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
try:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # assertions wait like actions do: CI machines can be slow and shared
except ImportError:  # pragma: no cover - depends on the machine
    expect = sync_playwright = None
# The marks of a test that drives chromium: skipped, with the reason, where chromium or Playwright is missing,
# and slow (seconds each, a browser per module): not in the fast lane.
IN_BROWSER = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="Playwright for Python is not installed (pip install playwright)"),
    pytest.mark.filterwarnings("ignore::Warning:gradio.queueing"),
]


def in_browser(test):
    """IN_BROWSER on one test of a module whose other tests need no browser."""
    for mark in IN_BROWSER:
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def chromium():
    """One headless chromium per test module."""
    if CHROMIUM is None or sync_playwright is None:
        pytest.skip("no chromium or Playwright")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def make_tiny_model(
    directory: Path, seed: int = 0, nz: int = 8, image_size: int = 28, channels: int = 1, dataset: str = "synthetic"
) -> Path:
    """A randomly initialised DCGAN generator, exported like a trained one (card, ONNX, parity, grid)."""
    import torch

    from ganstudio.artifact.checkpoint import Card
    from ganstudio.train.export import export_generator
    from ganstudio.train.models import DCGANGenerator

    torch.manual_seed(seed)
    g = DCGANGenerator(nz=nz, ngf=8, image_size=image_size, channels=channels)
    arch = {"name": "dcgan", "nz": nz, "ngf": 8, "image_size": image_size, "channels": channels}
    card = Card(architecture=arch, output_range=(-1.0, 1.0), dataset=dataset, training={"steps": 0})
    export_generator(g, card, directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture()
def two_models(tmp_path, tiny_model, monkeypatch):
    """(a studio offering the shipped model (nz 100) and a tiny one (nz 8) that nothing has analysed yet, their keys)."""
    from ganstudio.studio.service import Studio

    shutil.copytree(tiny_model, tmp_path / "runs" / "tiny")
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    studio = Studio(str(SHIPPED), out_dir=tmp_path / "out")
    return studio, studio.models.default, "tiny"


@pytest.fixture(scope="module")
def server():
    """`ganstudio serve`'s app on a free 127.0.0.1 port with the shipped model; yields its URL."""
    import socket

    from ganstudio.studio.app import start

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo, url = start(str(SHIPPED), host="127.0.0.1", port=port, quiet=True)
    yield url
    demo.close()


@pytest.fixture()
def tiny_copy(tiny_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model that a test may damage."""
    import shutil

    return Path(shutil.copytree(tiny_model, tmp_path / "tiny"))
