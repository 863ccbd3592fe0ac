"""DDP on the CPU: 2 processes x 1 thread (torchrun, gloo) against 1 process x 2 threads, same global batch.

Both train the same DCGAN (MNIST 28 px, ngf = ndf = 64, global batch 64) for the same steps, alternating,
`--repeats` times each; img/s is taken from the card's training seconds (the loop alone: start-up, data
loading and the export are not counted), best run of each. Printed: both rates and their ratio, for plain
BatchNorm and for sync_batchnorm.

What it says: on one machine's cores, how much DDP costs against letting torch thread one process -- the
gradient all-reduce (gloo), the BatchNorm statistics exchanged under sync_batchnorm, the work each rank
repeats (drawing the whole batch's z, noise and order), and each rank's smaller matrix products.
What it does not say: anything about GPUs. With N GPUs each process has a device of its own, so the question
there is how close to N times one GPU's rate NCCL's all-reduce lets the run get; two processes sharing two
CPU cores cannot be faster than one process using both, and this benchmark does not measure that case.

    python benchmarks/ddp_scaling.py [--steps 150] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RECIPE = ["mnist", "--device", "cpu", "--set", "ngf=64", "--set", "ndf=64", "--set", "nz=100", "--set", "batch_size=64",
          "--set", "log_every=25"]


def rate(processes: int, steps: int, sync: bool) -> float:
    """Training img/s of `ganstudio train` on `processes` processes sharing the machine's 2 threads."""
    threads = 2 // processes
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m", "ganstudio"]
                if processes > 1 else [sys.executable, "-m", "ganstudio"])
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*launcher, "train", *RECIPE, "--steps", str(steps), "--out", f"{tmp}/run", "--set", f"sample_every={steps}",
               "--set", f"checkpoint_every={steps}", "--set", f"sync_batchnorm={str(sync).lower()}"]
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        card = json.loads(Path(f"{tmp}/run/card.json").read_text())
    return steps * 64 / card["training"]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for sync in (False, True):
        one, two = [], []
        for _ in range(args.repeats):  # alternating, so a slow spell on a shared host hurts neither more
            one.append(rate(1, args.steps, sync))
            two.append(rate(2, args.steps, sync))
        label = "sync_batchnorm" if sync else "batchnorm     "
        print(f"{label}  1 process x 2 threads {max(one):7.1f} img/s   2 processes x 1 thread {max(two):7.1f} img/s   "
              f"ratio {max(two) / max(one):.2f}x   (runs: {', '.join(f'{x:.0f}' for x in one)} | {', '.join(f'{x:.0f}' for x in two)})")


if __name__ == "__main__":
    main()
