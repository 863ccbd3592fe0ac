"""The GPU road, proven end to end by one command on a machine with one CUDA GPU (within 10 minutes).

    python benchmarks/gpu_check.py                      # CUDA: full sizes, figures to ./gpu_check.json
    python benchmarks/gpu_check.py --device cpu         # small sizes: proves the script itself (CI runs it)
    python benchmarks/gpu_check.py --json docs/gpu_check.json

It writes a folder of 64 px colour images and then, through the real `ganstudio` command:
  dcgan, wgan-gp, mlp   each trains past at least two checkpoints with the recipe's defaults (amp included)
                        and exports with ONNX parity
  resume                the DCGAN run resumed on the CPU, then back on the GPU
  torchrun              `torchrun --nproc_per_node=1` trains and exports
  throughput            ganstudio's training step against the example-style DCGAN script at 64 px, batch 64
                        and 256, images/s of both and their ratio, and the share of the device's measured
                        matmul rate (bf16 on a GPU, fp32 on a CPU) the step reaches
  onnxruntime-cuda      ONNX Runtime's CUDA provider draws a 64-image grid, the same pixels as its CPU
                        provider within 1/255
One line per check (PASS, FAIL or SKIP with the reason); exits 1 if any failed. Works from any directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]  # the checkout's ganstudio; train_speed's FLOP count


@dataclass(frozen=True)
class Sizes:
    """How big each part of the check is on a device."""

    images: int  # in the generated folder
    steps: int  # of each model's training run
    checkpoint_every: int
    widths: tuple[str, ...]  # --set overrides of the models' widths (none: the recipe's defaults)
    resume_steps: tuple[int, int]  # steps added on the CPU, then back on the device
    throughput: dict[int, int]  # batch size -> steps of each throughput run
    workers: int  # the example-style script's DataLoader workers


CUDA = Sizes(2048, 300, 100, (), (10, 100), {64: 1000, 256: 400}, 4)
CPU = Sizes(96, 4, 2, ("nz=16", "ngf=8", "ndf=8", "batch_size=16"), (2, 2), {16: 4, 32: 3}, 0)


@dataclass
class Report:
    """The checks' lines as they are printed, and their figures for the JSON file."""

    checks: list[dict] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str, **figures: object) -> None:
        print(f"{status} {name}: {detail}", flush=True)
        self.checks.append({"check": name, "status": status, "detail": detail, **figures})

    @property
    def failed(self) -> bool:
        return any(c["status"] == "FAIL" for c in self.checks)


class Failed(Exception):
    """A command of the check failed: its last line of output says why."""


def run(args: list[str], env: dict[str, str]) -> str:
    """A command's output (stdout and stderr), or Failed with its last lines."""
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise Failed(" | ".join(output.strip().splitlines()[-3:]))
    return output


def write_folder(folder: Path, n: int, seed: int = 0) -> None:
    """n 64 px colour PNGs: a coloured disc on a two-colour gradient, each at its own place and size."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32) / 63
    for i in range(n):
        top, bottom, disc = rng.uniform(0, 255, (3, 3))
        image = top * (1 - yy[..., None]) + bottom * yy[..., None]
        cy, cx, r = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.1, 0.3)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] = disc
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i:05d}.png")


def card_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "card.json").read_text())


def check_training(report: Report, name: str, sets: list[str], base: list[str], root: Path, sizes: Sizes,
                   env: dict[str, str], device: str) -> Path | None:
    """Train one model past two checkpoints and export it; its run directory, or None if it failed."""
    out = root / name
    steps = sizes.steps
    try:
        run([*base, "train", "folder", "--out", str(out), "--steps", str(steps), *sets,
             "--set", f"checkpoint_every={sizes.checkpoint_every}", "--set", f"sample_every={steps}", "--device", device], env)
        card = card_of(out)
    except Failed as e:
        report.add(name, "FAIL", str(e))
        return None
    tr, parity = card["training"], card["parity"]["max_abs_diff"]
    passed = steps // sizes.checkpoint_every
    ok = tr["steps"] == steps and passed >= 2 and parity < 1e-4
    report.add(name, "PASS" if ok else "FAIL",
               f"{steps} steps on {tr['device']} in {tr.get('precision', '?')}, {passed} checkpoints, "
               f"{tr['seconds']:.1f} s; ONNX parity {parity:.1e}",
               steps=steps, seconds=tr["seconds"], device=tr["device"], precision=tr.get("precision"), parity=parity)
    return out


def check_resume(report: Report, run_dir: Path, sizes: Sizes, base: list[str], env: dict[str, str], device: str) -> None:
    """The run goes on for a few steps on the CPU, then back on the device."""
    on_cpu, back = sizes.steps + sizes.resume_steps[0], sizes.steps + sum(sizes.resume_steps)
    try:
        first = run([*base, "train", "--resume", str(run_dir), "--steps", str(on_cpu), "--device", "cpu",
                     "--set", f"checkpoint_every={sizes.resume_steps[0]}"], env)
        second = run([*base, "train", "--resume", str(run_dir), "--steps", str(back), "--device", device], env)
    except Failed as e:
        report.add("resume", "FAIL", str(e))
        return
    moved = device != "cpu"
    said = ["saved on another device" in out for out in (first, second)]
    ok = card_of(run_dir)["training"]["steps"] == back and said == [moved, moved]
    report.add("resume", "PASS" if ok else "FAIL",
               f"to step {on_cpu} on cpu, then {back} on {device}" + ("; each move reseeded the noise stream" if moved else ""))


def check_torchrun(report: Report, folder: Path, root: Path, sizes: Sizes, env: dict[str, str], device: str) -> None:
    out = root / "torchrun"
    steps = sizes.checkpoint_every * 2
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "ganstudio",
           "train", "folder", "--data", str(folder), "--out", str(out), "--steps", str(steps), "--device", device,
           "--set", "eval_every=0", "--set", f"checkpoint_every={sizes.checkpoint_every}", *sets_of(sizes.widths)]
    try:
        run(cmd, env)
        card = card_of(out)
    except Failed as e:
        report.add("torchrun", "FAIL", str(e))
        return
    parity = card["parity"]["max_abs_diff"]
    report.add("torchrun", "PASS" if card["training"]["steps"] == steps and parity < 1e-4 else "FAIL",
               f"{steps} steps on {card['training']['device']}, exported, ONNX parity {parity:.1e} "
               "(one process needs no process group; NCCL joins from two GPUs on)")


def sets_of(values: tuple[str, ...] | list[str]) -> list[str]:
    return [arg for v in values for arg in ("--set", v)]


def matmul_tflops(device: str) -> tuple[float, str]:
    """The device's measured matrix-multiply rate (TFLOP/s) and its dtype: bf16 on a GPU, fp32 on a CPU."""
    import torch

    if device == "cpu":
        from train_speed import matmul_gflops

        return matmul_gflops() / 1e3, "fp32"
    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    best = 0.0
    for _ in range(5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            torch.mm(a, b)
        torch.cuda.synchronize()
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - t) / 1e12)
    return best, "bf16"


def check_throughput(report: Report, folder: Path, root: Path, sizes: Sizes, base: list[str], env: dict[str, str],
                     device: str) -> dict:
    from train_speed import step_gflop

    peak, dtype = matmul_tflops(device)
    widths = [w for w in sizes.widths if w.startswith(("ngf=", "ndf="))]  # nz stays 100, as the example has it
    ngf = next((int(w.split("=")[1]) for w in widths if w.startswith("ngf=")), 64)
    figures = {"matmul_tflops": peak, "matmul_dtype": dtype, "batches": {}}
    for batch, steps in sizes.throughput.items():
        out = root / f"speed-{batch}"
        try:
            run([*base, "train", "folder", "--data", str(folder), "--out", str(out), "--steps", str(steps), "--device", device,
                 "--set", f"batch_size={batch}", "--set", "eval_every=0", "--set", f"checkpoint_every={steps}",
                 "--set", f"sample_every={steps}", *sets_of(widths)], env)
            ours = steps * batch / card_of(out)["training"]["seconds"]
            line = run([sys.executable, str(HERE / "example_style_dcgan.py"), "--data", "folder", "--folder", str(folder),
                        "--device", device, "--batch-size", str(batch), "--steps", str(steps), "--ngf", str(ngf),
                        "--workers", str(sizes.workers)], env).strip().splitlines()[-1]
        except Failed as e:
            report.add(f"throughput batch {batch}", "FAIL", str(e))
            continue
        r = json.loads(line)
        theirs = r["steps"] * r["batch_size"] / r["seconds"]
        share = step_gflop(64, 3, True, batch, ngf) * ours / batch / (peak * 1e3)
        figures["batches"][batch] = {"ganstudio_img_s": ours, "example_img_s": theirs, "ratio": ours / theirs, "of_matmul": share}
        report.add(f"throughput batch {batch}", "PASS",
                   f"ganstudio {ours:,.0f} img/s, example-style {theirs:,.0f} img/s ({ours / theirs:.2f}x); "
                   f"the step reaches {share:.1%} of the {peak:,.1f} TFLOP/s {dtype} matmul rate measured now",
                   **figures["batches"][batch])
    return figures


def check_onnxruntime(report: Report, run_dir: Path | None, device: str) -> None:
    if device == "cpu":
        report.add("onnxruntime-cuda", "SKIP", "no GPU asked for (--device cpu)")
        return
    if run_dir is None:
        report.add("onnxruntime-cuda", "SKIP", "no DCGAN run to sample")
        return
    import numpy as np

    from ganstudio.errors import UserError
    from ganstudio.explore import latent, runtime

    try:
        on_gpu = runtime.load(run_dir, device="cuda")
    except UserError as e:
        report.add("onnxruntime-cuda", "SKIP", f"{e} (pip install onnxruntime-gpu)")
        return
    z = latent.z_batch(0, 64, on_gpu.nz)
    diff = int(np.abs(on_gpu.images(z).astype(int) - runtime.load(run_dir, device="cpu").images(z).astype(int)).max())
    report.add("onnxruntime-cuda", "PASS" if diff <= 1 else "FAIL",
               f"64-image grid, largest pixel difference from the CPU provider {diff}/255", max_pixel_diff=diff)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--json", type=Path, default=Path("gpu_check.json"), help="where the figures go")
    args = ap.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA GPU here; run it on a GPU machine, or with --device cpu")
    sizes = CUDA if args.device == "cuda" else CPU
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu ({os.cpu_count()} cores)"
    print(f"gpu_check on {name}, torch {torch.__version__}", flush=True)
    report, started = Report(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "images"
        write_folder(folder, sizes.images)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               "GANSTUDIO_CACHE": str(root / "cache"), "PYTHONUNBUFFERED": "1"}
        base = [sys.executable, "-m", "ganstudio"]
        data = ["--data", str(folder), "--set", "eval_every=0", *sets_of(sizes.widths)]
        models = {"dcgan": [], "wgan-gp": ["--set", "model=wgan-gp"],
                  "mlp": ["--set", "model=mlp", "--set", "image_size=28"] + ([] if sizes.widths else ["--set", "ngf=1200", "--set", "ndf=200"])}
        runs = {m: check_training(report, m, [*data, *extra], base, root, sizes, env, args.device) for m, extra in models.items()}
        if runs["dcgan"] is not None:
            check_resume(report, runs["dcgan"], sizes, base, env, args.device)
        check_torchrun(report, folder, root, sizes, env, args.device)
        throughput = check_throughput(report, folder, root, sizes, base, env, args.device)
        check_onnxruntime(report, runs["dcgan"], args.device)
    seconds = time.perf_counter() - started
    print(f"{'FAILED' if report.failed else 'passed'} in {seconds:.0f} s; figures in {args.json}")
    args.json.write_text(json.dumps({
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "device": name,
        "torch": torch.__version__, "seconds": round(seconds, 1), "checks": report.checks, "throughput": throughput,
    }, indent=2) + "\n")
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
