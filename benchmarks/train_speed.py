"""Training speed: `ganstudio train` against a pytorch/examples-style DCGAN script, in the same run.

Both train the same DCGAN (batch 64, Adam 2e-4) on the same data for the same number of steps, one after the
other, alternating, three times (best of three each, so a slow spell on a shared machine
hurts neither side more). Reported per size:

  - training img/s of each (the training loop, the baseline's per-epoch PIL decoding included) and the ratio;
  - the machine's fp32 matmul GFLOP/s measured now, and the fraction of it ganstudio's step reaches
    (the FLOPs ganstudio's step performs, counted by torch.utils.flop_counter on one real step; it skips
    D's weight gradients in the generator pass, so it does fewer than the example's, which are shown too).

Targets on a 2-core CPU: ratio >= 1.3x at 28 px and at 64 px; >= 70% of the matmul rate at 64 px.

    python benchmarks/train_speed.py [--sizes 28 64] [--steps N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETUPS = {28: ("mnist", "mnist"), 64: ("emoji", "emoji")}  # size -> (ganstudio dataset, baseline --data)
# Long enough that start-up (first-step kernel set-up, the first checkpoint) is a small part of each run,
# and that both cross epoch boundaries as real training does.
DEFAULT_STEPS = {28: 300, 64: 120}


def baseline(data: str, steps: int) -> float:
    """img/s of the example-style script."""
    out = subprocess.run([sys.executable, str(HERE / "example_style_dcgan.py"), "--data", data, "--steps", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["steps"] * r["batch_size"] / r["seconds"]


def ganstudio(dataset: str, size: int, steps: int) -> float:
    """img/s of `ganstudio train` (the card's training seconds: the loop, after the one-time decode)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ganstudio", "train", dataset, "--steps", str(steps), "--out", f"{tmp}/run",
               "--set", f"image_size={size}", "--set", "ngf=64", "--set", "ndf=64", "--set", "nz=100",
               "--set", "batch_size=64", "--set", "label_smoothing=0", "--set", "log_every=20",
               "--set", f"sample_every={steps}", "--set", f"checkpoint_every={steps}", "--device", "cpu"]
        subprocess.run(cmd, check=True, capture_output=True)
        card = json.loads(Path(f"{tmp}/run/card.json").read_text())
    return steps * 64 / card["training"]["seconds"]


def matmul_gflops(n: int = 1024, seconds: float = 2.0) -> float:
    """The machine's fp32 matrix-multiply rate, best over ~`seconds` of (n x n) @ (n x n)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def step_gflop(size: int, channels: int, freeze_d: bool, batch: int = 64, width: int = 64) -> float:
    """FLOPs of one DCGAN training step (G forward, D on real and fake, both backward passes), in GFLOP.

    freeze_d: as ganstudio does, D's weight gradients are not computed in the generator's backward pass
    (the example computes them and throws them away at its next zero_grad).
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from ganstudio.train.models import DCGANDiscriminator, DCGANGenerator

    g, d = DCGANGenerator(100, width, size, channels), DCGANDiscriminator(width, size, channels)
    real = torch.randn(batch, channels, size, size)
    with FlopCounterMode(display=False) as counter:
        fake = g(torch.randn(batch, 100))
        lr, _ = d(real)
        lf, _ = d(fake.detach())
        (F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr)) + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))).backward()
        d.requires_grad_(not freeze_d)
        lg, _ = d(fake)
        F.binary_cross_entropy_with_logits(lg, torch.ones_like(lg)).backward()
    return counter.get_total_flops() / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[28, 64], choices=sorted(SETUPS))
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default: 300 at 28 px, 120 at 64 px: several epochs, ~1-3 min a run)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each, alternating; the best of each counts")
    args = ap.parse_args()

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch 64, best of {args.repeats}\n")
    peak = matmul_gflops()
    print(f"fp32 matmul: {peak:.1f} GFLOP/s\n")
    print(f"{'':>5}  {'':>14}  {'':>10}  {'':>6}  {'GFLOP per step':^17}  {'ganstudio':>9}")
    print(f"{'size':>5}  {'example-style':>14}  {'ganstudio':>10}  {'ratio':>6}  {'example':>8} {'ours':>8}  {'of matmul':>9}")
    for size in args.sizes:
        dataset, data = SETUPS[size]
        steps = args.steps or DEFAULT_STEPS[size]
        runs = [(baseline(data, steps), ganstudio(dataset, size, steps)) for _ in range(args.repeats)]
        base, ours = max(b for b, _ in runs), max(o for _, o in runs)  # alternated, so a slow spell hits both
        theirs, flops = (step_gflop(size, 1 if size == 28 else 3, freeze) for freeze in (False, True))
        frac = flops * ours / 64 / peak  # the FLOPs ganstudio's step really performs, per second
        print(f"{size:>4}px  {base:>10.1f} img/s  {ours:>6.1f} img/s  {ours / base:>5.2f}x  {theirs:>8.1f} {flops:>8.1f}  {frac:>8.0%}")
    print("\ntargets: ratio >= 1.3x at each size; >= 70% of the matmul rate at 64 px")


if __name__ == "__main__":
    main()
