"""The exported Triton repository served by a real Triton Inference Server, on 127.0.0.1.

The nvidia-pytriton wheel bundles `tritonserver` with the Python backend only (no ONNX Runtime backend). Its
Python-backend stub was built against numpy 1 and silently garbles tensors under numpy 2 (inputs read wrong,
outputs sent empty), and the wheel pins numpy<2, so neither can live beside ganstudio: .ci/run unpacks both
into $GANSTUDIO_TRITON_HOME (`pip install --no-deps --target`), which the model puts first on its path.
The test serves `ganstudio export --triton`'s repository through a
Python-backend model that runs the exported model.onnx with ONNX Runtime; the config keeps the exported
names, dims, max_batch_size and dynamic batching and changes only `platform` to `backend: "python"`.
Then tritonclient must get exactly the pixels `ganstudio sample` draws for the same seeds.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.cli import app
from ganstudio.explore import images, latent, runtime

httpclient = pytest.importorskip("tritonclient.http", reason='tritonclient is not installed (pip install "tritonclient[http]")')

SITE = Path(os.environ.get("GANSTUDIO_TRITON_HOME", "/var/cache/ganstudio-triton"))
TRITON_HOME = SITE / "pytriton" / "tritonserver"
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
STUB = TRITON_HOME / "python_backend_stubs" / PY / "triton_python_backend_stub"
MODELS = ("mnist-dcgan", "emoji-dcgan")  # one grey 28x28, one colour 64x64
READY_TIMEOUT = 90.0

pytestmark = pytest.mark.skipif(
    not (TRITON_HOME / "bin" / "tritonserver").is_file() or not STUB.is_file() or not list(SITE.glob("numpy-1.*.dist-info")),
    reason=f"no tritonserver with a Python {PY} stub and numpy 1 in {SITE} (as .ci/run does: "
    f'pip install --no-deps --target {SITE} nvidia-pytriton==0.7.0 "numpy<2")',
)

# The Python-backend stand-in for Triton's ONNX Runtime backend: the same graph, run by ONNX Runtime, one
# execution per batch that Triton's dynamic batcher formed from several requests.
MODEL_PY = '''
import json
import sys
from pathlib import Path

sys.path.insert(0, SITE_DIR)  # numpy 1, which the stub was built against

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.input, self.output = config["input"][0]["name"], config["output"][0]["name"]
        graph = Path(__file__).with_name("model.onnx")
        self.session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])

    def execute(self, requests):
        zs = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy() for r in requests]
        out = self.session.run([self.output], {self.input: np.concatenate(zs)})[0]
        bounds = np.cumsum([0] + [len(z) for z in zs])
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor(self.output, out[a:b].copy())]) for a, b in zip(bounds, bounds[1:])
        ]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_backend_repository(exported: Path, served: Path) -> None:
    """Copy each exported model, its config changed only from the ONNX Runtime platform to the Python backend."""
    for model in sorted(d for d in exported.iterdir() if (d / "config.pbtxt").is_file()):
        shutil.copytree(model, served / model.name)
        config = served / model.name / "config.pbtxt"
        text = config.read_text()
        assert text.count('platform: "onnxruntime_onnx"') == 1
        config.write_text(text.replace('platform: "onnxruntime_onnx"', 'backend: "python"'))
        (served / model.name / "1" / "model.py").write_text(MODEL_PY.replace("SITE_DIR", repr(str(SITE))))


@pytest.fixture(scope="module")
def triton(tmp_path_factory):
    """Export the shipped models with `ganstudio export --triton`, serve them; yields (client, exported dir)."""
    root = tmp_path_factory.mktemp("triton")
    exported = root / "exported"
    for name in MODELS:
        result = CliRunner().invoke(app, ["export", name, "--triton", str(exported), "--max-batch", "32"])
        assert result.exit_code == 0, result.output
    python_backend_repository(exported, root / "served")
    backends = root / "backends"
    shutil.copytree(TRITON_HOME / "backends", backends, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(STUB, backends / "python")
    port = free_port()
    env = dict(os.environ)
    # The stub embeds libpython: this Python's, so the model sees the same numpy and onnxruntime. Copied out of
    # the wheel, it no longer finds the wheel's own libraries through its relative RPATH.
    libs = [sysconfig.get_config_var("LIBDIR"), str(TRITON_HOME.parents[1] / "nvidia_pytriton.libs"), env.get("LD_LIBRARY_PATH")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, libs))
    log = open(root / "tritonserver.log", "w")
    server = subprocess.Popen(
        [
            str(TRITON_HOME / "bin" / "tritonserver"), f"--model-repository={root / 'served'}",
            f"--backend-directory={backends}", "--http-address=127.0.0.1", f"--http-port={port}",
            "--allow-grpc=false", "--allow-metrics=false", "--exit-timeout-secs=5",
        ],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    client = httpclient.InferenceServerClient(f"127.0.0.1:{port}", network_timeout=60.0, concurrency=8)
    started = time.monotonic()
    try:
        while not _ready(client):
            failed = "error while loading shared libraries" in (root / "tritonserver.log").read_text()
            if failed or server.poll() is not None or time.monotonic() - started > READY_TIMEOUT:
                pytest.fail(f"tritonserver did not become ready:\n{(root / 'tritonserver.log').read_text()[-3000:]}")
            time.sleep(0.2)
        print(f"\ntritonserver ready in {time.monotonic() - started:.1f} s")
        yield client, exported, port
    finally:
        client.close()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _ready(client) -> bool:
    try:
        return client.is_server_ready() and all(client.is_model_ready(m) for m in MODELS)
    except Exception:  # connection refused while it starts
        return False


def _exported_config(exported: Path, name: str) -> dict:
    text = (exported / name / "config.pbtxt").read_text()
    dims = [[int(d) for d in m.split(",")] for m in re.findall(r"dims: \[ ([0-9, ]+) \]", text)]
    names = re.findall(r'\{ name: "([^"]+)"', text)
    return {"max_batch": int(re.search(r"max_batch_size: (\d+)", text).group(1)), "names": names, "dims": dims}


@pytest.mark.parametrize("name", MODELS)
def test_triton_serves_the_exported_config(triton, name):
    client, exported, _ = triton
    want = _exported_config(exported, name)
    config = client.get_model_config(name)
    assert config["name"] == name and config["max_batch_size"] == want["max_batch"] == 32
    assert [config["input"][0]["name"], config["output"][0]["name"]] == want["names"] == ["z", "images"]
    assert [list(map(int, config["input"][0]["dims"])), list(map(int, config["output"][0]["dims"]))] == want["dims"]
    assert "dynamic_batching" in config


def _request(z: np.ndarray) -> dict:
    request = httpclient.InferInput("z", list(z.shape), "FP32")
    request.set_data_from_numpy(z)
    return {"inputs": [request], "outputs": [httpclient.InferRequestedOutput("images", binary_data=True)]}


def _infer(client, name: str, z: np.ndarray) -> np.ndarray:
    return client.infer(name, **_request(z)).as_numpy("images")


@pytest.mark.parametrize("name", MODELS)
def test_tritonclient_gets_the_pixels_of_ganstudio_sample(triton, name, tmp_path):
    client, _, _ = triton
    gen = runtime.load(name)
    result = CliRunner().invoke(app, ["sample", "--model", name, "--seed", "5", "--n", "16", "--out", str(tmp_path / "grid.png")])
    assert result.exit_code == 0, result.output
    raw = _infer(client, name, latent.z_batch(5, 16, gen.nz))
    assert raw.dtype == np.float32 and raw.shape == (16, gen.card.channels, gen.card.image_size, gen.card.image_size)
    served = images.to_uint8(raw, gen.card.output_range)
    assert np.array_equal(np.asarray(images.tile(served)), np.asarray(Image.open(tmp_path / "grid.png")))


def test_concurrent_requests_are_batched_and_each_gets_its_own_images(triton):
    """Requests of different sizes at once: Triton merges them; every answer must still be its own seeds'."""
    client, _, _ = triton
    gen = runtime.load("mnist-dcgan")
    before = _stats(client, "mnist-dcgan")
    jobs = [(seed * 10, 1 + seed % 5) for seed in range(24)]  # (first seed, n): 70 images in 24 requests
    started = time.monotonic()
    # The client's own concurrency (8 connections, gevent): all requests in flight at once.
    pending = [client.async_infer("mnist-dcgan", **_request(latent.z_batch(first, n, gen.nz))) for first, n in jobs]
    answers = [p.get_result(timeout=60).as_numpy("images") for p in pending]
    seconds = time.monotonic() - started
    for (first, n), raw in zip(jobs, answers):
        assert np.array_equal(images.to_uint8(raw, gen.card.output_range), gen.images(latent.z_batch(first, n, gen.nz)))
    after = _stats(client, "mnist-dcgan")
    requests, executions = after[0] - before[0], after[1] - before[1]
    assert requests == sum(n for _, n in jobs)  # Triton counts batch items as inferences
    print(f"\n{len(jobs)} requests ({requests} images) in {executions} executions, {seconds * 1000:.0f} ms")


def _stats(client, name: str) -> tuple[int, int]:
    s = client.get_inference_statistics(name)["model_stats"][0]
    return int(s["inference_count"]), int(s["execution_count"])


def test_the_readme_client_snippet_runs_as_written(triton):
    client, exported, port = triton
    readme = (exported / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "127.0.0.1:8000" in snippet
    scope: dict = {}
    exec(snippet.replace("127.0.0.1:8000", f"127.0.0.1:{port}"), scope)
    name = re.search(r'client\.infer\("([^"]+)"', snippet).group(1)
    gen = runtime.load(name)
    assert np.array_equal(scope["pixels"].transpose(0, 2, 3, 1), gen.images(latent.z_batch(0, 4, gen.nz)))
