"""Training-state checkpoints in safetensors: models, optimizers, RNG states, step and recipe. No pickle.

Files are state/step_0001234.safetensors, written atomically; the newest complete one is the resume point,
so a run killed at any moment (even mid-write) resumes from its last finished checkpoint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import nn

from ganstudio.artifact import atomic, rundir
from ganstudio.errors import UserError

_NAME = re.compile(r"^step_(\d{7,})\.safetensors$")


def checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first (temp files of an interrupted write are not matched)."""
    d = run_dir / rundir.STATE_DIR
    found = [p for p in d.glob("step_*.safetensors") if _NAME.match(p.name)] if d.is_dir() else []
    return sorted(found, key=step_of)


def latest(run_dir: Path) -> Path | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


def step_of(path: Path) -> int:
    """The step a checkpoint file was written at, from its name."""
    return int(_NAME.match(path.name).group(1))


def finite(modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> bool:
    """Whether every floating-point tensor a checkpoint would hold is free of NaN/Inf (one host sync per device).

    The loop asks before each save, so the resume (and rollback) point is always a healthy state. Tensors are
    checked where they live: Adam keeps its step count on the CPU beside CUDA weights (unless fused or
    capturable), and one stack cannot hold tensors of two devices.
    """
    tensors = [t for m in modules.values() for t in m.state_dict().values()]
    tensors += [t for opt in optimizers.values() for per_param in opt.state.values() for t in per_param.values() if torch.is_tensor(t)]
    flags: dict[torch.device, list[torch.Tensor]] = {}
    for t in tensors:
        if t.is_floating_point():
            flags.setdefault(t.device, []).append(torch.isfinite(t).all())
    return all(bool(torch.stack(on_device).all()) for on_device in flags.values())


def save(
    run_dir: Path,
    step: int,
    meta: dict[str, Any],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rngs: dict[str, torch.Generator],
    keep: int,
) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    groups: dict[str, Any] = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"{name}/{k}"] = v.detach().cpu().contiguous()
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        for idx, per_param in sd["state"].items():
            for k, v in per_param.items():
                tensors[f"{name}/{idx}/{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        groups[name] = sd["param_groups"]
    for name, gen in rngs.items():
        tensors[f"rng/{name}"] = gen.get_state()
    tensors["rng/torch_global"] = torch.get_rng_state()
    rng_devices = {name: gen.device.type for name, gen in rngs.items()}
    metadata = {"ganstudio.state": json.dumps({**meta, "step": step, "param_groups": groups, "rng_devices": rng_devices})}
    path = run_dir / rundir.STATE_DIR / f"step_{step:07d}.safetensors"
    try:
        atomic.write_bytes(path, st_save(tensors, metadata=metadata))
    except UserError as e:  # a full disk, say: stop in one line, and say what remains to resume from
        kept = latest(run_dir)
        raise UserError(f"{e}; the last good checkpoint, {kept}, is kept" if kept else str(e)) from None
    for old in checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Metadata and tensors of a training checkpoint, or one line saying why it cannot be used."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["ganstudio.state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a usable ganstudio training checkpoint ({e})") from None
    return meta, tensors


def restore(
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rngs: dict[str, torch.Generator],
) -> dict[str, Any]:
    """Load everything save() wrote back into live objects; returns the metadata (with "step").

    A generator saved on another kind of device (a run moved between a CPU and a GPU) cannot take its state:
    CUDA's Philox and the CPU's Mersenne Twister keep different states. It is seeded from the recipe's seed
    and the step instead, named in the metadata's "reseeded", and the run goes on with another noise stream
    than it would have drawn on one device.
    """
    meta, tensors = read(path)
    for name, m in modules.items():
        prefix = f"{name}/"
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            m.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise UserError(f"{path}: {name} does not fit this recipe's model ({str(e).splitlines()[0]})") from None
    for name, opt in optimizers.items():
        state: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"{name}/"
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix):].split("/", 1)
                state.setdefault(int(idx), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"][name]})
    meta["reseeded"] = []
    for name, gen in rngs.items():
        saved = tensors[f"rng/{name}"]
        if saved_on(meta, name, saved) == gen.device.type:
            gen.set_state(saved)
        else:
            gen.manual_seed(meta["recipe"]["seed"] * 1_000_003 + meta["step"])
            meta["reseeded"].append(name)
    torch.set_rng_state(tensors["rng/torch_global"])
    return meta


def saved_on(meta: dict[str, Any], name: str, state: torch.Tensor) -> str:
    """The device type a generator's state was saved from; checkpoints older than that record tell by the
    state's size, which only the CPU's generator has."""
    if name in meta.get("rng_devices", {}):
        return meta["rng_devices"][name]
    return "cpu" if state.numel() == torch.Generator().get_state().numel() else "another device"
