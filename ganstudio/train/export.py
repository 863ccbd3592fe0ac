"""Export a generator: safetensors weights + card, an ONNX graph with a dynamic batch, and proof they agree.

The graph is exported and checked against torch in memory first; only a graph within PARITY_TOLERANCE
is written, so a checkpoint directory never holds a graph that disagrees with its weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import copy
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganstudio.artifact import atomic, checkpoint, rundir
from ganstudio.explore import images, latent, runtime
from ganstudio.artifact.checkpoint import GRAPH, GRID, WEIGHTS, Card
from ganstudio.errors import UserError
from ganstudio.train.models import DCGANGenerator, build_generator, generator_tensors, load_generator_tensors

PARITY_BATCHES = (1, 7, 64)
# Below this many generator steps a GAN's samples are still noise or blobs (every shipped generator trained for
# thousands): the card and the command say so, rather than hand over noise without a hint.
SHORT_RUN_STEPS = 500
PARITY_TOLERANCE = 1e-4
GRID_SEED, GRID_N = 0, 64


class _DenseStem(nn.Module):
    """A DCGAN generator's first ConvTranspose2d (on a 1x1 input) and its BatchNorm, as one Linear + reshape.

    The same arithmetic, but ONNX Runtime runs it as one batched Gemm instead of a much slower
    ConvTranspose (docs/performance.md).
    """

    def __init__(self, conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d):
        super().__init__()
        nz, c, kh, kw = conv.weight.shape
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # eval-mode BatchNorm folded in
        weight = conv.weight.permute(1, 2, 3, 0) * scale[:, None, None, None]  # (c, kh, kw, nz)
        self.linear = nn.Linear(nz, c * kh * kw)
        self.linear.weight.data = weight.reshape(c * kh * kw, nz).detach().clone()
        self.linear.bias.data = (bn.bias - bn.running_mean * scale).repeat_interleave(kh * kw).detach().clone()
        self.shape = (c, kh, kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).reshape(-1, *self.shape)


def inference_form(g: nn.Module) -> nn.Module:
    """An eval-mode copy of g laid out for ONNX Runtime; export's parity check proves it equals g."""
    g = copy.deepcopy(g).eval()
    if isinstance(g, DCGANGenerator):
        conv, bn = g.net[0], g.net[1]
        g.net = nn.Sequential(_DenseStem(conv, bn), *list(g.net)[2:])
    return g


def onnx_bytes(g: nn.Module, nz: int) -> bytes:
    """The generator as ONNX (input "z" (batch, nz), output "images" (batch, C, H, W)), exporter kept quiet."""
    g = inference_form(g)
    z = torch.zeros(2, nz)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            g,
            (z,),
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            input_names=["z"],
            output_names=["images"],
            verbose=False,
        )
    return program.model_proto.SerializeToString()


def parity(g: nn.Module, graph: bytes, nz: int) -> dict[str, float]:
    """Max |ONNX Runtime - torch| over the outputs, per batch size, on seeded z."""
    session = runtime.session(graph)
    out: dict[str, float] = {}
    with torch.inference_mode():
        for b in PARITY_BATCHES:
            z = latent.z_batch(1000, b, nz)
            diff = np.abs(session.run(None, {"z": z})[0] - g(torch.from_numpy(z)).numpy()).max()
            out[str(b)] = float(diff)
    return out


def export_generator(g: nn.Module, card: Card, out_dir: Path) -> Card:
    """Write generator.safetensors, generator.onnx, card.json and grid.png into out_dir; return the card."""
    # the plain module in the standard layout (training runs channels_last), never a compiled or DDP wrapper
    g = copy.deepcopy(g).float().cpu().eval().to(memory_format=torch.contiguous_format)
    graph = onnx_bytes(g, card.nz)
    diffs = parity(g, graph, card.nz)
    worst = max(diffs.values())
    if not worst <= PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export disagrees with torch: max abs diff {worst:.3g} > {PARITY_TOLERANCE:g}")
    card = card.replace(
        parity={"max_abs_diff": worst, "per_batch": diffs, "tolerance": PARITY_TOLERANCE},
        files={GRAPH: hashlib.sha256(graph).hexdigest()},
    )
    atomic.clean(out_dir)
    # The weights first: they are the model's identity, and their card names the graph (by sha256) that belongs
    # to them, so a kill before the graph lands leaves a mismatch that loading refuses and re-export repairs.
    checkpoint.save_weights(out_dir / WEIGHTS, card, generator_tensors(g))
    atomic.write_bytes(out_dir / GRAPH, graph)
    checkpoint.write_card_json(out_dir, card)
    _write_grid(g, card, out_dir)
    return card


def _write_grid(g: nn.Module, card: Card, out_dir: Path) -> None:
    """The checkpoint's preview: seeds 0..63, as `ganstudio sample --seed 0 --n 64` would draw them."""
    z = latent.z_batch(GRID_SEED, GRID_N, card.nz)
    with torch.inference_mode():
        pixels = images.to_uint8(g(torch.from_numpy(z)).numpy(), card.output_range)
    recipe = {"op": "sample", "model_sha256": checkpoint.sha256_file(out_dir / WEIGHTS), "seed": GRID_SEED, "n": GRID_N, "psi": 1.0}
    images.save_png(images.tile(pixels), out_dir / GRID, recipe)


def _exported(model_dir: Path) -> tuple[Card, nn.Module]:
    """An exported generator's card and its module, rebuilt from generator.safetensors."""
    card, tensors = checkpoint.load_weights(model_dir / WEIGHTS)
    return card, load_generator_tensors(build_generator(card.architecture), tensors, str(model_dir / WEIGHTS))


def reexport(model_dir: Path, out_dir: Path | None = None) -> Card:
    """Rebuild the ONNX graph (and card.json, grid) of an existing generator.safetensors."""
    card, g = _exported(model_dir)
    return export_generator(g, card.replace(parity={}, files={}), out_dir or model_dir)


def short_run_note(steps: int) -> str:
    """A warning for the card when a run is far too short to have learnt anything; "" otherwise."""
    if steps >= SHORT_RUN_STEPS:
        return ""
    return (f"far too short: trained only {steps:,} steps (under {SHORT_RUN_STEPS:,}), too few for a GAN to draw "
            "more than noise; train longer (ganstudio train --resume RUN --steps N)")


def export_run(run_dir: Path, out_dir: Path | None = None) -> Card:
    """A training run's latest checkpoint -> its exported generator (the EMA one when the run kept an EMA).

    This is what the end of `ganstudio train` and `ganstudio export RUN` both do, writing report.html beside
    the export too; a directory with only a generator.safetensors is re-exported from that instead.
    """
    from ganstudio.train import report, state, watchdog

    last = state.latest(run_dir)
    if last is None:
        if (run_dir / WEIGHTS).is_file():
            return reexport(run_dir, out_dir)
        raise UserError(f"{run_dir}: nothing to export (no training checkpoint in {rundir.STATE_DIR}/, no {WEIGHTS})")
    meta, tensors = state.read(last)
    which = "G_ema" if any(k.startswith("G_ema/") for k in tensors) else "G"
    g = build_generator(meta["architecture"])
    g.load_state_dict({k[len(which) + 1 :]: v for k, v in tensors.items() if k.startswith(which + "/")})
    r = meta["recipe"]
    card = Card(
        architecture=meta["architecture"],
        output_range=tuple(meta["output_range"]),
        dataset=r["dataset"],
        training={
            "steps": meta["step"],
            "epochs": round(meta["step"] / meta["steps_per_epoch"], 2),
            "images_seen": meta["step"] * r["batch_size"],
            "seconds": round(meta["seconds"], 1),
            "device": meta["device"],
            **({"precision": meta["precision"]} if "precision" in meta else {}),
            "exported": "ema" if which == "G_ema" else "live",
            "date": meta["date"],
            "ganstudio_version": meta["ganstudio_version"],
            "recipe": r,
        },
        metrics=rundir.last_row(run_dir / rundir.METRICS_FILE, meta["step"]),
        notes="\n".join(filter(None, [watchdog.notes(run_dir, meta), short_run_note(meta["step"])])),
    )
    card = export_generator(g, card, out_dir or run_dir)
    report.write(run_dir, card, out_dir)
    return card
