"""Builds a generator's encoder (x -> z) for `ganstudio project` (torch side; projecting runs the ONNX graph).

The encoder learns from the generator's own samples: every step draws fresh seeded z, renders G(z) with the
frozen generator, and fits E(G(z)) to z (the latent loss) and G(E(G(z))) to G(z) (the image loss, through
the frozen generator, so dimensions the image hardly shows cost little). That is in-domain inversion: a
real image is then encoded as if it were a sample, and ganstudio.explore.projection refines the guess.

The graph (input "images" (batch, C, H, W) in [0, 1], output "z" (batch, nz)) is written as encoder.onnx
beside the model, after a parity check against torch, with encoder.json recording the generator sha256 it
was made for, its shapes and its training figures. The model's own files are only read.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio import __version__
from ganstudio.artifact import atomic, catalog
from ganstudio.artifact.checkpoint import Card, load_weights, sha256_file
from ganstudio.errors import UserError
from ganstudio.explore import latent, limits, projection, runtime
from ganstudio.train.export import PARITY_BATCHES, PARITY_TOLERANCE
from ganstudio.train.features import deterministic, onnx_graph
from ganstudio.train.models import build_generator, load_generator_tensors

SEED = 0
STEPS = limits.ENCODER_STEPS_DEFAULT
BATCH = 32
LR = 1e-3
Z_WEIGHT = 0.1  # the latent loss beside the image loss (both means of squares; pixels in [0, 1])
CHECK_IMAGES = 256  # fresh samples (seeds from 2**31, not training's draws) the record's figures are measured on
FLOOR = 4  # the encoder halves the image down to this side or less, then one linear layer gives z


class Encoder(nn.Module):
    """(B, C, S, S) in [0, 1] -> z (B, nz): stride-2 3x3 convolutions down to 4x4, then one linear layer."""

    def __init__(self, nz: int, image_size: int, channels: int, width: int = 16, max_width: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        side, c_in, c_out = image_size, channels, width
        while side > FLOOR:
            # (B, c_in, side, side) -> (B, c_out, ceil(side/2), ceil(side/2))
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
            side, c_in, c_out = math.ceil(side / 2), c_out, min(c_out * 2, max_width)
        self.body = nn.Sequential(*layers, nn.Flatten())  # -> (B, c_in * side * side)
        self.head = nn.Linear(c_in * side * side, nz)  # -> (B, nz)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body((x - 0.5) / 0.5))


def _unit(x: torch.Tensor, output_range: tuple[float, float]) -> torch.Tensor:
    """Generator output -> [0, 1], so losses and errors mean the same on every model."""
    lo, hi = output_range
    return (x - lo) / (hi - lo)


def train(
    g: nn.Module, card: Card, steps: int = STEPS, seed: int = SEED, batch: int = BATCH,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[Encoder, dict[str, Any]]:
    """An encoder fitted to g's own samples (g is left frozen and unchanged); (encoder, training figures)."""
    torch.manual_seed(seed)
    g = g.eval().requires_grad_(False)
    enc = Encoder(card.nz, card.image_size, card.channels)
    opt = torch.optim.Adam(enc.parameters(), LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    draws = torch.Generator().manual_seed(seed)
    start, losses = time.perf_counter(), []
    for step in range(steps):
        z = torch.randn(batch, card.nz, generator=draws)
        with torch.no_grad():
            x = _unit(g(z), card.output_range)
        z_hat = enc(x)
        loss = F.mse_loss(_unit(g(z_hat), card.output_range), x) + Z_WEIGHT * F.mse_loss(z_hat, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, losses[-1])
    enc.eval()
    seconds = time.perf_counter() - start
    figures = {"seed": seed, "steps": steps, "batch_size": batch, "seconds": round(seconds, 1), "lr": LR,
               "z_weight": Z_WEIGHT, "final_loss": round(float(np.mean(losses[-50:])), 5), **check(g, enc, card)}
    return enc, figures


@torch.inference_mode()
def check(g: nn.Module, enc: Encoder, card: Card) -> dict[str, Any]:
    """On fresh samples: the image error of the encoder's guess vs the nearest of as many random samples."""
    z = torch.from_numpy(latent.z_batch(2**31, CHECK_IMAGES, card.nz))
    x = _unit(g(z), card.output_range)
    encoded = ((_unit(g(enc(x)), card.output_range) - x) ** 2).mean((1, 2, 3))
    pool = _unit(g(torch.from_numpy(latent.z_batch(0, CHECK_IMAGES, card.nz))), card.output_range)
    nearest = torch.cdist(x.flatten(1), pool.flatten(1)).pow(2).min(1).values / x[0].numel()
    return {"check_images": CHECK_IMAGES, "encoder_mse": round(float(encoded.mean()), 5),
            "nearest_random_mse": round(float(nearest.mean()), 5), "nearest_random_n": CHECK_IMAGES}


def parity(enc: Encoder, graph: bytes, card: Card, g: nn.Module) -> dict[str, float]:
    """Max |ONNX Runtime - torch| of z, per batch size, on the generator's own images."""
    session = runtime.session(graph)
    out: dict[str, float] = {}
    with torch.inference_mode():
        for b in PARITY_BATCHES:
            x = _unit(g(torch.from_numpy(latent.z_batch(1000, b, card.nz))), card.output_range)
            diff = np.abs(session.run(None, {"images": x.numpy()})[0] - enc(x).numpy()).max()
            out[str(b)] = float(diff)
    return out


def build(model: str | None, steps: int = STEPS, seed: int = SEED,
          progress: Callable[[int, float], None] | None = None) -> dict[str, Any]:
    """Train, export and check the encoder of `model`; write encoder.onnx and encoder.json beside it."""
    found = catalog.resolve(model)
    sha = sha256_file(found.weights)
    card, tensors = load_weights(found.weights)
    g = load_generator_tensors(build_generator(card.architecture), tensors, str(found.weights))
    # Small convolutions on small batches: a second thread costs more in hand-offs than it computes, and one
    # thread gives the same figures on any machine.
    with deterministic(threads=1):
        enc, figures = train(g, card, steps, seed, progress=progress)
        graph = onnx_graph(enc, torch.zeros(2, card.channels, card.image_size, card.image_size), ["z"])
        diffs = parity(enc, graph, card, g)
    if not max(diffs.values()) <= PARITY_TOLERANCE:
        raise RuntimeError(f"encoder ONNX export disagrees with torch: max abs diff {max(diffs.values()):.3g} > {PARITY_TOLERANCE:g}")
    record = {
        "format": projection.ENCODER_FORMAT, "generator_sha256": sha, "graph_sha256": hashlib.sha256(graph).hexdigest(),
        "nz": card.nz, "image_size": card.image_size, "channels": card.channels, "input": "images in [0, 1]",
        "training": {**figures, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "torch": torch.__version__, "ganstudio_version": __version__},
        "parity": {"max_abs_diff": max(diffs.values()), "per_batch": diffs, "tolerance": PARITY_TOLERANCE},
    }
    if sha256_file(found.weights) != sha:
        raise UserError(f"{found.weights} changed while its encoder was trained: run `ganstudio encoder` again")
    # The graph first, the record naming it (by sha256) last: a kill between them leaves a record that does
    # not match, which projecting reports, rather than a record vouching for a graph that is not there.
    atomic.write_bytes(found.path / projection.ENCODER_GRAPH, graph)
    atomic.write_text(found.path / projection.ENCODER_RECORD, json.dumps(record, indent=2) + "\n")
    return {**record, "path": str(found.path / projection.ENCODER_GRAPH)}
