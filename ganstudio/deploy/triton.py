"""An exported generator as a model repository for NVIDIA Triton Inference Server (no torch needed).

    DIR/
      README.md                 the tritonserver command and a client snippet, for every model in DIR
      <name>/config.pbtxt       platform onnxruntime_onnx, max_batch_size, dynamic batching,
                                input z [nz] -> output images [C, H, W] (names and dims read from the graph)
      <name>/card.json          the model's card (+ its identity): its output range says how floats become pixels
      <name>/1/model.onnx       the model's generator.onnx, byte for byte, after its sha256 matched the card

A repository holds several models: exporting another one into DIR adds it; exporting one again replaces it.
A DIR holding anything else is refused, so nothing of the user's is ever overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ganstudio.artifact import atomic, catalog
from ganstudio.artifact.checkpoint import CARD, GRAPH, WEIGHTS, Card, read_card, sha256_file
from ganstudio.errors import UserError
from ganstudio.explore import runtime

README = "README.md"
README_TITLE = "# Triton model repository written by ganstudio"
CONFIG = "config.pbtxt"
VERSION = "1"
MODEL_FILE = "model.onnx"
MAX_BATCH_RANGE = (1, 1024)
# Triton waits up to this long for more requests to merge into one batch: at a few milliseconds per batch
# on a CPU, it trades little latency for far fewer, larger executions under load.
QUEUE_DELAY_US = 2000
# The oldest ONNX Runtime that runs ganstudio's graphs: they are ONNX IR version 10 (opset 20), which ONNX
# Runtime reads from 1.18 on (ONNX 1.16); older releases refuse to load them. pyproject.toml's floors are at
# or above it, and tests/test_deploy.py checks every shipped graph against it.
ORT_MINIMUM = "1.18"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Signature:
    """What a generator graph takes and gives, per batch item: z [nz] -> images [C, H, W], both float32."""

    input: str
    nz: int
    output: str
    chw: tuple[int, int, int]


def signature(graph: Path) -> Signature:
    """Read the graph's input and output from ONNX Runtime's view of it; refuse a graph Triton cannot batch."""
    session = runtime.session(graph)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{graph}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
    z, images = inputs[0], outputs[0]
    for tensor, rank in ((z, 2), (images, 4)):
        if tensor.type != "tensor(float)" or len(tensor.shape) != rank:
            raise UserError(f"{graph}: {tensor.name} is {tensor.type} {tensor.shape}, expected float32 of rank {rank}")
        if isinstance(tensor.shape[0], int):
            raise UserError(f"{graph}: {tensor.name} has a fixed batch size ({tensor.shape[0]}); re-export it for a dynamic batch")
        if not all(isinstance(d, int) and d > 0 for d in tensor.shape[1:]):
            raise UserError(f"{graph}: {tensor.name} has dims {tensor.shape[1:]} that are not fixed sizes")
    c, h, w = images.shape[1:]
    return Signature(input=z.name, nz=z.shape[1], output=images.name, chw=(c, h, w))


def config_text(name: str, sig: Signature, max_batch: int) -> str:
    """config.pbtxt for Triton's ONNX Runtime backend; dims leave out the batch, which max_batch_size adds."""
    c, h, w = sig.chw
    return (
        f'name: "{name}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {max_batch}\n"
        "input [\n"
        f'  {{ name: "{sig.input}" data_type: TYPE_FP32 dims: [ {sig.nz} ] }}\n'
        "]\n"
        "output [\n"
        f'  {{ name: "{sig.output}" data_type: TYPE_FP32 dims: [ {c}, {h}, {w} ] }}\n'
        "]\n"
        f"dynamic_batching {{ max_queue_delay_microseconds: {QUEUE_DELAY_US} }}\n"
    )


def readme_text(models: list[tuple[str, Signature, Card]]) -> str:
    rows = "\n".join(
        f"| `{name}` | `{sig.input}` [{sig.nz}] | `{sig.output}` {list(sig.chw)} | {tuple(card.output_range)} |"
        for name, sig, card in models
    )
    name, sig, card = models[0]
    lo, hi = card.output_range
    return f"""{README_TITLE}

| model | input (float32) | output (float32) | output range |
|---|---|---|---|
{rows}

Serve it (Triton with its ONNX Runtime backend, e.g. NVIDIA's `nvcr.io/nvidia/tritonserver:<release>-py3` image).
The graphs are ONNX IR version 10 (opset 20): pick a Triton release whose backend is
ONNX Runtime {ORT_MINIMUM} or newer (its release notes name the version); an older one refuses to load them.

```bash
tritonserver --model-repository="$PWD"
# or: docker run --rm --gpus all -p 127.0.0.1:8000:8000 -v "$PWD":/models \\
#       nvcr.io/nvidia/tritonserver:<release>-py3 tritonserver --model-repository=/models
```

Ask it for images (`pip install "tritonclient[http]"`); a seed's z is the one ganstudio draws, so the
pixels are those of `ganstudio sample --model {name} --seed 0 --n 4`:

```python
import numpy as np
import tritonclient.http as httpclient

z = np.stack([np.random.default_rng(seed).standard_normal({sig.nz}, dtype=np.float32) for seed in range(4)])
client = httpclient.InferenceServerClient("127.0.0.1:8000")
request = httpclient.InferInput("{sig.input}", list(z.shape), "FP32")
request.set_data_from_numpy(z)
wanted = httpclient.InferRequestedOutput("{sig.output}", binary_data=True)
images = client.infer("{name}", [request], outputs=[wanted]).as_numpy("{sig.output}")  # (4, {sig.chw[0]}, {sig.chw[1]}, {sig.chw[2]})
pixels = np.clip(np.rint((images - ({lo})) * (255 / ({hi} - ({lo})))), 0, 255).astype(np.uint8)
```

Each model's `card.json` is its ganstudio card: what it was trained on and how, and its identity (the
sha256 of `generator.safetensors`, which every image recipe of ganstudio's carries).
"""


def _check_repository(directory: Path) -> None:
    """DIR must be new, empty, or a repository this module wrote: then nothing else in it can be lost."""
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--triton {directory}: is a file; give a new or empty directory")
    if not directory.is_dir():
        return
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") and ".tmp-" in entry.name:
            continue  # a killed export's leftovers, removed below
        if entry.name == README and entry.is_file() and entry.read_text(errors="replace").startswith(README_TITLE):
            continue
        if entry.is_dir() and (entry / CONFIG).is_file() and (entry / CARD).is_file():
            continue
        raise UserError(
            f"--triton {directory}: holds {entry.name!r}, which is not part of a Triton repository ganstudio "
            "wrote; give a new or empty directory"
        )


def _verified_graph(found: catalog.ModelDir, card: Card) -> bytes:
    if not found.graph.is_file():
        raise UserError(f"{found.path}: no {GRAPH}; run `ganstudio export {found.path}` to make it")
    data = found.graph.read_bytes()
    if card.files.get(GRAPH) != hashlib.sha256(data).hexdigest():
        raise UserError(f"{found.graph}: does not match the weights' card (sha256 differs); re-export the model")
    return data


def _models(directory: Path) -> list[tuple[str, Signature, Card]]:
    return [
        (d.name, signature(d / VERSION / MODEL_FILE), Card.from_dict(json.loads((d / CARD).read_text()), str(d / CARD)))
        for d in sorted(directory.iterdir())
        if not d.name.startswith(".") and (d / CONFIG).is_file()
    ]


def write_repository(model: str | os.PathLike | None, directory: Path, max_batch: int = 64) -> Path:
    """Write (or replace) DIR/<model name>/ and DIR/README.md; returns DIR/<name>."""
    lo, hi = MAX_BATCH_RANGE
    if not lo <= max_batch <= hi:
        raise UserError(f"--max-batch {max_batch} is out of range: use {lo}..{hi}")
    found = catalog.resolve(model)
    name = found.name
    if not _NAME.match(name):
        raise UserError(f"{found.path}: {name!r} cannot name a Triton model (use letters, digits, '_', '.', '-')")
    _check_repository(directory)
    card = read_card(found.weights)
    graph = _verified_graph(found, card)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=directory))
    try:
        atomic.write_bytes(staging / VERSION / MODEL_FILE, graph)
        sig = signature(staging / VERSION / MODEL_FILE)
        want = (card.channels, card.image_size, card.image_size)
        if sig.nz != card.nz or sig.chw != want:
            raise UserError(f"{found.graph}: takes [{sig.nz}] -> {list(sig.chw)}, its card says [{card.nz}] -> {list(want)}")
        atomic.write_text(staging / CONFIG, config_text(name, sig, max_batch))
        identity = {**card.files, WEIGHTS: sha256_file(found.weights)}
        atomic.write_text(staging / CARD, card.replace(files=identity).to_json() + "\n")
        os.chmod(staging, 0o755)  # mkdtemp makes 0700; Triton may run as another user
        target = directory / name
        if target.exists():  # swap: the old model stays whole until the new one is complete
            old = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=directory))
            os.replace(target, old / name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for leftover in directory.glob(".*.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    models = _models(directory)
    models.sort(key=lambda m: m[0] != name)  # the README's snippet uses the model just written
    atomic.write_text(directory / README, readme_text(models))
    return target
