"""The CUDA road, held on a CPU: tensors on two devices, resuming on another device, the precision chosen per
device, cuDNN's autotuner, one decode of a dataset under torchrun, and Apple's MPS."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils import _pytree as pytree
from typer.testing import CliRunner

from ganstudio.cli import app
from ganstudio.data import cache
from ganstudio.errors import UserError
from ganstudio.train import devices, distributed, recipe, state

TINY = ["--set", "nz=12", "--set", "ngf=8", "--set", "ndf=8", "--set", "batch_size=16", "--set", "eval_every=0",
        "--set", "log_every=2", "--set", "checkpoint_every=2", "--set", "sample_every=2"]


class OnTheGPU(torch.Tensor):
    """A CPU tensor that says it lives on cuda:0 and keeps CUDA's device rules: stack and cat take tensors of
    one device only; elementwise ops also take 0-dim CPU tensors; .cpu() gives a plain CPU tensor."""

    STRICT = {torch.ops.aten.stack.default, torch.ops.aten.cat.default}

    @staticmethod
    def __new__(cls, data: torch.Tensor) -> "OnTheGPU":
        t = torch.Tensor._make_wrapper_subclass(cls, data.shape, dtype=data.dtype, device=torch.device("cuda", 0))
        t.inner = data
        return t

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        leaves = [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        cpu = [x for x in leaves if not isinstance(x, cls) and (func in cls.STRICT or x.dim() > 0)]
        if cpu and any(isinstance(x, cls) for x in leaves):
            raise RuntimeError(f"Expected all tensors to be on the same device, but found cuda:0 and cpu ({func})")
        plain = pytree.tree_map_only(cls, lambda x: x.inner, (args, kwargs))
        out = func(*plain[0], **plain[1])
        if func is torch.ops.aten._to_copy.default and kwargs.get("device") == torch.device("cpu"):
            return out
        return pytree.tree_map_only(torch.Tensor, cls, out)


def gpu_adam(nan: bool = False) -> tuple[dict, dict]:
    """A module and its Adam as torch keeps them on a GPU: weights and moments on cuda, `step` on the CPU."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    weight = model.weight.detach().clone()
    if nan:
        weight[0, 0] = torch.nan

    class OnGPU(torch.nn.Module):
        def state_dict(self, *a, **k):
            return {"weight": OnTheGPU(weight), "bias": OnTheGPU(model.bias.detach())}

    for per_param in opt.state.values():
        for k, v in per_param.items():
            if k != "step":
                per_param[k] = OnTheGPU(v)
    assert all(v.device.type == "cpu" for p in opt.state.values() for k, v in p.items() if k == "step")
    return {"G": OnGPU()}, {"opt_G": opt}


def test_finite_checks_weights_on_the_gpu_and_adams_step_on_the_cpu():
    modules, optimizers = gpu_adam()
    with pytest.raises(RuntimeError, match="same device"):  # the emulated device keeps CUDA's rule
        torch.stack([OnTheGPU(torch.tensor(True)), torch.tensor(True)])
    assert state.finite(modules, optimizers) is True
    assert state.finite(*gpu_adam(nan=True)) is False


def saved_as_if_on_a_gpu(checkpoint: Path) -> None:
    """Rewrite a CPU run's checkpoint as a CUDA run writes it: the noise generator's state is Philox's 16 bytes."""
    with safe_open(str(checkpoint), framework="pt") as f:
        meta = json.loads(f.metadata()["ganstudio.state"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["rng/noise"] = torch.arange(16, dtype=torch.uint8)
    meta["rng_devices"] = {"noise": "cuda"}
    meta["device"] = "cuda:0"
    save_file(tensors, str(checkpoint), metadata={"ganstudio.state": json.dumps(meta)})


@pytest.mark.slow
def test_a_run_saved_on_a_gpu_resumes_on_the_cpu_with_a_reseeded_noise_stream(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "mnist", *TINY, "--steps", 2, "--out", str(run)])
    assert result.exit_code == 0, result.output
    saved_as_if_on_a_gpu(state.latest(run))
    twice = []
    for attempt in range(2):
        copy = tmp_path / f"resumed{attempt}"
        shutil.copytree(run, copy)
        result = CliRunner().invoke(app, ["train", "--resume", str(copy), "--steps", "4"])
        assert result.exit_code == 0, result.output
        assert "saved on another device than cpu: the noise stream restarts" in result.output
        twice.append(state.read(state.latest(copy))[1]["G/net.0.weight"])
    assert torch.equal(*twice)  # the new stream is a function of the seed and the step


def test_restore_reseeds_only_a_generator_of_another_device(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    gen = torch.Generator().manual_seed(3)
    meta = {"recipe": {"seed": 3}}
    path = state.save(tmp_path, 5, meta, {"M": model}, {"opt": opt}, {"noise": gen}, keep=2)
    gen.manual_seed(99)
    restored = state.restore(path, {"M": model}, {"opt": opt}, {"noise": gen})
    assert restored["reseeded"] == [] and torch.equal(gen.get_state(), torch.Generator().manual_seed(3).get_state())
    saved_as_if_on_a_gpu(path)
    restored = state.restore(path, {"M": model}, {"opt": opt}, {"noise": gen})
    assert restored["reseeded"] == ["noise"]
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(3 * 1_000_003 + 5).get_state())


@pytest.mark.parametrize(
    ("device", "amp", "native_bf16", "dtype"),
    [("cuda", True, True, torch.bfloat16), ("cuda", True, False, None), ("cuda", False, True, None),
     ("cpu", True, True, None), ("mps", True, True, None)],
)
def test_the_precision_is_chosen_per_device(monkeypatch, device, amp, native_bf16, dtype):
    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: asked.append(including_emulation) or native_bf16)
    chosen = devices.precision(torch.device(device), amp)
    assert chosen.dtype == dtype
    assert chosen.label == ("bf16 autocast" if dtype else "fp32")
    assert asked in ([], [False])  # emulated bf16 does not count


def test_a_cuda_run_turns_on_cudnns_autotuner(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert devices.configure(torch.device("cuda"), True).dtype == torch.bfloat16
    assert torch.backends.cudnn.benchmark is True
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    devices.configure(torch.device("cpu"), True)
    assert torch.backends.cudnn.benchmark is False


def test_a_cpu_card_records_fp32_and_the_run_says_so(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "mnist", *TINY, "--steps", 2, "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "training on cpu in fp32 (amp is for CUDA GPUs" in result.output
    card = json.loads((run / "card.json").read_text())
    assert card["training"]["precision"] == "fp32" and card["training"]["recipe"]["amp"] is True


def test_mps_is_accepted_where_torch_has_it_and_refused_in_one_line_elsewhere(monkeypatch):
    assert recipe.make(device="mps").device == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"^--device mps: torch sees no Apple GPU \(MPS\) on this machine"):
        devices.pick_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.pick_device("mps") == torch.device("mps")
    assert devices.precision(torch.device("mps"), True).dtype is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(UserError, match="^torchrun with --device mps"):
        distributed.setup("mps", 16)


def _decode(folder: str, log: str, out: str) -> None:
    """One of two processes loading the same uncached dataset (as torchrun's ranks do at a run's start)."""
    root = Path(folder)
    files = sorted(root.glob("*.png"))

    def build() -> np.ndarray:
        with open(log, "a") as f:
            f.write("decoded\n")
        time.sleep(1.0)  # a decode long enough for the other process to arrive meanwhile
        return np.full((len(files), 1, 4, 4), 7, np.uint8)

    images = cache.cached("demo", 4, root, files, build, Console(quiet=True))
    np.save(out, images)


@pytest.mark.slow
def test_two_processes_loading_one_dataset_decode_it_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"x" * (i + 1))
    log = tmp_path / "decodes.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_decode, args=(str(folder), str(log), str(tmp_path / f"out{i}.npy"))) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert log.read_text() == "decoded\n"
    assert np.array_equal(np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy"))


@pytest.mark.slow
def test_the_gpu_check_runs_on_the_cpu_from_any_directory(tmp_path):
    figures = tmp_path / "figures.json"
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    result = subprocess.run([sys.executable, str(script), "--device", "cpu", "--json", str(figures)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    checks = {c["check"]: c["status"] for c in json.loads(figures.read_text())["checks"]}
    assert checks == {"dcgan": "PASS", "wgan-gp": "PASS", "mlp": "PASS", "resume": "PASS", "torchrun": "PASS",
                      "throughput batch 16": "PASS", "throughput batch 32": "PASS", "onnxruntime-cuda": "SKIP"}
    lines = result.stdout.splitlines()
    assert all(line.split(" ", 1)[0] in ("PASS", "SKIP") for line in lines[1:-1]), lines
