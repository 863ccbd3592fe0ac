"""How fast is sampling? Two comparisons, both measured in this run on this machine.

1. End to end, process start -> 8x8 PNG written:
     ganstudio sample --n 64      vs  the plain torch script a user would otherwise write
                                       (import torch + torchvision, build G, load weights, save_image)
2. Generator forward only: ONNX Runtime vs torch (eager, inference_mode) at batch 1, 16 and 64.

Targets: the CLI >= 8x faster end to end; ORT >= 1.0x torch at every batch size.

    python benchmarks/sample_speed.py [--model mnist-dcgan] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TORCH_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from safetensors.torch import load_file
    from torchvision.utils import save_image
    from ganstudio.train.models import DCGANGenerator
    weights, out, nz, ngf, size, ch = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    g = DCGANGenerator(nz, ngf, size, ch)
    g.load_state_dict(load_file(weights), strict=False)
    g.eval()
    with torch.inference_mode():
        x = g(torch.randn(64, nz))
    save_image(x, out, nrow=8, normalize=True, value_range=(-1, 1))
    """
)


def wall(cmd: list[str], runs: int) -> float:
    """Median wall-clock seconds of a fresh process, after one warm-up run (file cache)."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def per_call(fn, seconds: float = 1.0) -> float:
    """Median seconds per call over ~`seconds` of calls, after warm-up."""
    for _ in range(3):
        fn()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mnist-dcgan")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    import numpy as np

    from ganstudio.explore import latent, runtime

    onnx_gen = runtime.load(args.model, device="cpu")
    card = onnx_gen.card
    if card.name != "dcgan":
        sys.exit("this benchmark's torch script builds a DCGAN generator: pick a dcgan model")
    a = card.architecture
    print(f"model {onnx_gen.model.name}: dcgan nz={a['nz']} ngf={a['ngf']} {a['image_size']}px x{a['channels']}\n")

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "plain_torch_sample.py"
        script.write_text(TORCH_SCRIPT)
        cli = wall([sys.executable, "-m", "ganstudio", "sample", "--model", str(onnx_gen.model.path), "--n", "64",
                    "--out", f"{tmp}/cli.png"], args.runs)
        plain = wall([sys.executable, str(script), str(onnx_gen.model.weights), f"{tmp}/torch.png",
                      str(a["nz"]), str(a["ngf"]), str(a["image_size"]), str(a["channels"])], args.runs)
    print("end to end, process start -> 64-image PNG written (median of %d runs)" % args.runs)
    print(f"  plain torch script      {plain * 1000:8.0f} ms")
    print(f"  ganstudio sample        {cli * 1000:8.0f} ms")
    print(f"  ratio                   {plain / cli:8.1f}x   (target >= 8x)\n")

    import torch

    from ganstudio.train import torch_backend

    torch_gen = torch_backend.load(args.model, device="cpu")
    print("generator forward only (median per call)")
    print(f"  {'batch':>5}  {'torch':>10}  {'onnxruntime':>12}  {'ratio':>6}")
    for b in (1, 16, 64):
        z = latent.z_batch(0, b, card.nz)
        t_torch = per_call(lambda: torch_gen.forward(z))
        t_ort = per_call(lambda: onnx_gen.forward(z))
        print(f"  {b:>5}  {t_torch * 1000:8.2f} ms  {t_ort * 1000:10.2f} ms  {t_torch / t_ort:5.2f}x   (target >= 1.0x)")
    print(f"\n(torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__})")


if __name__ == "__main__":
    main()
