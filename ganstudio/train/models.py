"""Generators and discriminators (torch side).

DCGAN (Radford et al.): strided transposed convolutions up, strided convolutions down, BatchNorm, ReLU in G,
LeakyReLU(0.2) in D, tanh out, N(0, 0.02) init. 28 px starts from a 7x7 map, 32/64/128 px from 4x4; each
stride-2 layer doubles the size and halves the width. D returns logits: losses apply the sigmoid fused.

The MLP GAN of the MNIST notebook: G nz -> 1200 -> 1200 -> C*H*W (LeakyReLU 0.2, sigmoid out),
D C*H*W -> 200 -> 200 -> 1, uniform init (+-0.05 in G, +-0.005 in D), biases 0.1.

Generators take z as (B, nz), so the exported graph's only input is the latent batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ganstudio.errors import UserError

IMAGE_SIZES = (28, 32, 64, 128)


def _base_and_ups(image_size: int) -> tuple[int, int]:
    """(side of the first feature map, number of stride-2 layers) for a supported image size."""
    if image_size not in IMAGE_SIZES:
        raise UserError(f"image size {image_size} is not supported: use one of {IMAGE_SIZES}")
    base = 7 if image_size == 28 else 4
    return base, int(math.log2(image_size // base))


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) for (de)convolutions; BatchNorm weight N(1, 0.02), bias 0 (the DCGAN paper's init)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W*C), in channels_last order: a view of a channels_last tensor, not a copy."""
    return t.permute(0, 2, 3, 1).reshape(len(t), -1)


class LatentStem(nn.ConvTranspose2d):
    """A DCGAN generator's first layer: a ConvTranspose2d (nz -> c, kernel k, stride 1) on the 1x1 latent.

    On a 1x1 input that layer is the matrix product z @ W, and it runs as one: the transposed-convolution
    kernels take 10-20x longer for the same numbers (about 1% of a 64 px training step on this CPU). The
    weight, its init and the state dict stay the ConvTranspose2d's. The output has channels_last strides.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        nz, c, kh, kw = self.weight.shape
        return (z.reshape(-1, nz) @ _rows(self.weight)).reshape(-1, kh, kw, c).permute(0, 3, 1, 2)  # (B, c, kh, kw)


class LogitHead(nn.Conv2d):
    """A DCGAN discriminator's last layer: a Conv2d (C -> 1) whose kernel covers the whole last (C, k, k) map.

    That is one dot product per image, and runs as one matrix-vector product: the convolution kernels take
    about 2% of a 28 px training step for it. Weight, init, spectral norm and state dict stay the Conv2d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _rows(x) @ _rows(self.weight).T  # (B, out_channels)


class MinibatchStd(nn.Module):
    """Appends one channel: the batch's standard deviation of every feature, averaged (Karras et al. 2018).

    A generator that draws a few look-alikes gives a batch of low spread, which D can now see and punish;
    one image's features alone cannot show it. The whole batch is one group (under torchrun: each process's
    shard), and D scores real and fake batches separately, so the channel describes the batch it is in.
    """

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        spread = f.float().var(0, unbiased=False).add(1e-8).sqrt().mean().to(f.dtype)
        return torch.cat([f, spread.expand(len(f), 1, *f.shape[2:])], 1)


class DCGANGenerator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, image_size: int = 64, channels: int = 3):
        super().__init__()
        base, ups = _base_and_ups(image_size)
        width = ngf * 2 ** (ups - 1)
        layers: list[nn.Module] = [
            # (B, nz, 1, 1) -> (B, width, base, base)
            LatentStem(nz, width, base, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(ups - 1):
            # (B, w, s, s) -> (B, w/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        # (B, ngf, size/2, size/2) -> (B, channels, size, size) in [-1, 1]
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.nz = nz
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(-1, self.nz, 1, 1))  # (B, nz) -> (B, C, H, W)


class DCGANDiscriminator(nn.Module):
    """Also the WGAN-GP critic: norm="layer" or "none" (a critic must not use BatchNorm), spectral_norm optional.

    features(x) exposes the last hidden map, for the feature-matching loss.
    """

    def __init__(
        self,
        ndf: int = 64,
        image_size: int = 64,
        channels: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
        minibatch_std: bool = False,
    ):
        super().__init__()
        if norm not in ("batch", "layer", "none"):
            raise UserError(f"discriminator norm {norm!r} is not one of batch, layer, none")
        base, downs = _base_and_ups(image_size)

        def normalise(ch: int, side: int) -> list[nn.Module]:
            if norm == "batch":
                return [nn.BatchNorm2d(ch)]
            if norm == "layer":
                return [nn.LayerNorm([ch, side, side])]
            return []

        side = image_size // 2
        # (B, C, size, size) -> (B, ndf, size/2, size/2); no norm on the first layer (DCGAN)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(downs - 1):
            side //= 2
            # (B, w, s, s) -> (B, 2w, s/2, s/2)
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), *normalise(width * 2, side), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.features = nn.Sequential(*layers)
        self.spread = MinibatchStd() if minibatch_std else None
        # (B, width (+1), base, base) -> (B, 1): one logit per image
        self.head = LogitHead(width + bool(minibatch_std), 1, base, 1, 0, bias=False)
        self.apply(dcgan_init)
        if spectral_norm:
            _spectral_norm(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> (logits (B,), features (B, width, base, base))."""
        f = self.features(x)
        return self.head(f if self.spread is None else self.spread(f)).flatten(), f


class MLPGenerator(nn.Module):
    def __init__(self, nz: int = 100, hidden: int = 1200, image_size: int = 28, channels: int = 1):
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.net = nn.Sequential(
            nn.Linear(nz, hidden), nn.LeakyReLU(0.2),  # (B, nz) -> (B, hidden)
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),  # (B, hidden) -> (B, hidden)
            nn.Linear(hidden, channels * image_size**2), nn.Sigmoid(),  # (B, hidden) -> (B, C*H*W) in [0, 1]
        )
        _uniform_init(self, 0.05)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(-1, *self.shape)  # (B, nz) -> (B, C, H, W)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: int = 200, image_size: int = 28, channels: int = 1, spectral_norm: bool = False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Flatten(),  # (B, C, H, W) -> (B, C*H*W)
            nn.Linear(channels * image_size**2, hidden), nn.LeakyReLU(0.2),  # -> (B, hidden)
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),  # -> (B, hidden)
        )
        self.head = nn.Linear(hidden, 1)  # (B, hidden) -> (B, 1)
        _uniform_init(self, 0.005)
        if spectral_norm:
            _spectral_norm(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f).flatten(), f


def _uniform_init(module: nn.Module, bound: float) -> None:
    """The notebook's init (from Goodfellow's pylearn2): U(-bound, bound) weights, biases 0.1."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.constant_(m.bias, 0.1)


def _spectral_norm(module: nn.Module) -> None:
    """Divide every conv/linear weight by its largest singular value (Miyato et al.), so each layer is 1-Lipschitz.

    Applied after the init: the parametrization keeps the initialised weight as `.original` and starts its
    power iteration from it (initialising a wrapped layer would write into the computed W/sigma and be lost).
    """
    for m in [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
        nn.utils.parametrizations.spectral_norm(m)


GENERATORS = {"dcgan": DCGANGenerator, "mlp": MLPGenerator}
OUTPUT_RANGE = {"dcgan": (-1.0, 1.0), "mlp": (0.0, 1.0)}


def build_generator(architecture: dict[str, Any]) -> nn.Module:
    """The generator a card's architecture describes: {"name": ..., **constructor arguments}."""
    kwargs = dict(architecture)
    return GENERATORS[kwargs.pop("name")](**kwargs)


def generator_tensors(g: nn.Module) -> dict[str, np.ndarray]:
    """The float tensors a generator needs at inference (BatchNorm's step counter is training bookkeeping)."""
    return {
        k: v.detach().to("cpu", torch.float32).contiguous().numpy()
        for k, v in g.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def load_generator_tensors(g: nn.Module, tensors: dict[str, np.ndarray], source: str) -> nn.Module:
    """Strictly load tensors into g: a missing, extra or mis-shaped tensor is refused in one line."""
    own = {k: v for k, v in g.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or extra:
        raise UserError(f"{source}: weights do not fit the architecture (missing {missing}, extra {extra})")
    for k, v in own.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise UserError(f"{source}: tensor {k} has shape {list(tensors[k].shape)}, the architecture needs {list(v.shape)}")
    g.load_state_dict({k: torch.from_numpy(np.array(t)) for k, t in tensors.items()}, strict=False)
    return g
