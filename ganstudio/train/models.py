"""Generators and discriminators (torch side).

DCGAN (Radford et al.): strided transposed convolutions up, strided convolutions down, BatchNorm, ReLU in G,
LeakyReLU(0.2) in D, tanh out, N(0, 0.02) init. 28 px starts from a 7x7 map, 32/64/128 px from 4x4; each
stride-2 layer doubles the size and halves the width. D returns logits: losses apply the sigmoid fused.

The MLP GAN of the MNIST notebook: G nz -> 1200 -> 1200 -> C*H*W (LeakyReLU 0.2, sigmoid out),
D C*H*W -> 200 -> 200 -> 1, uniform init (+-0.05 in G, +-0.005 in D), biases 0.1.

Generators take z as (B, nz), so the exported graph's only input is the latent batch.

Class-coded models (classes > 0, labelled data): z's class is the index of its largest entry among the first
`classes`, and G sees that class's one-hot beside z; D judges an image with its class through a projection
(Miyato & Koyama 2018). Each class then owns an equal share of the latent space, and G cannot merge two classes
into one mode: a class the data has is drawn as often as any other.
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


def with_code(z: torch.Tensor, classes: int) -> torch.Tensor:
    """(B, nz) -> (B, nz + classes): z and the one-hot of the class it codes (a max and a compare, for ONNX)."""
    head = z[:, :classes]
    return torch.cat([z, (head == head.amax(1, keepdim=True)).to(z.dtype)], 1)


def coded_as(z: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """z with each row's largest head entry swapped with entry labels[i], so that row i codes class labels[i].

    By symmetry the swap leaves z distributed as N(0, I) given its class: training draws classes as the data
    has them, and a sampler drawing plain N(0, I) meets each class with probability 1/classes.
    """
    head = z[:, :classes]
    top, want = head.argmax(1, keepdim=True), labels.reshape(-1, 1)
    at_top, at_want = head.gather(1, top), head.gather(1, want)
    head = head.scatter(1, top, at_want).scatter(1, want, at_top)
    return torch.cat([head, z[:, classes:]], 1)


class ClassProjection(nn.Embedding):
    """A conditional D's class term: the inner product of the head's input with its class's learnt vector.

    The projection discriminator of Miyato & Koyama (2018): D's logit becomes head(h) + <h, embed(y)>, so a
    well drawn 4 scores low when labelled 9. Init N(0, 0.02), as the DCGAN layers.
    """

    def __init__(self, classes: int, features: int):
        super().__init__(classes, features)
        nn.init.normal_(self.weight, 0.0, 0.02)

    def score(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (h * self(labels)).sum(1)  # (B, features), (B,) -> (B,)


def _class_term(projection: ClassProjection | None, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | float:
    if projection is None:
        return 0.0
    if labels is None:
        raise ValueError("this discriminator is class-conditional: call it with the images' labels")
    return projection.score(h, labels)


class LatentStem(nn.ConvTranspose2d):
    """A DCGAN generator's first layer: a ConvTranspose2d (nz -> c, kernel k, stride 1) on the 1x1 latent.

    On a 1x1 input that layer is the matrix product z @ W, and it runs as one: the transposed-convolution
    kernels take many times longer for the same numbers (docs/performance.md). The
    weight, its init and the state dict stay the ConvTranspose2d's. The output has channels_last strides.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        nz, c, kh, kw = self.weight.shape
        return (z.reshape(-1, nz) @ _rows(self.weight)).reshape(-1, kh, kw, c).permute(0, 3, 1, 2)  # (B, c, kh, kw)


class LogitHead(nn.Conv2d):
    """A DCGAN discriminator's last layer: a Conv2d (C -> 1) whose kernel covers the whole last (C, k, k) map.

    That is one dot product per image, and runs as one matrix-vector product, far cheaper than the
    convolution kernels for it (docs/performance.md). Weight, init, spectral norm and state dict stay the Conv2d's.
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
    def __init__(self, nz: int = 100, ngf: int = 64, image_size: int = 64, channels: int = 3, classes: int = 0):
        super().__init__()
        base, ups = _base_and_ups(image_size)
        width = ngf * 2 ** (ups - 1)
        layers: list[nn.Module] = [
            # (B, nz + classes, 1, 1) -> (B, width, base, base)
            LatentStem(nz + classes, width, base, 1, 0, bias=False),
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
        self.nz, self.classes = nz, classes
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.classes:
            z = with_code(z.reshape(-1, self.nz), self.classes)
        return self.net(z.reshape(-1, self.nz + self.classes, 1, 1))  # (B, nz) -> (B, C, H, W)


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
        classes: int = 0,
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
        self.projection = ClassProjection(classes, (width + bool(minibatch_std)) * base * base) if classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) [, labels (B,)] -> (logits (B,), features (B, width, base, base))."""
        f = self.features(x)
        h = f if self.spread is None else self.spread(f)
        return self.head(h).flatten() + _class_term(self.projection, _rows(h), labels), f


class MLPGenerator(nn.Module):
    def __init__(self, nz: int = 100, hidden: int = 1200, image_size: int = 28, channels: int = 1, classes: int = 0):
        super().__init__()
        self.shape, self.classes = (channels, image_size, image_size), classes
        self.net = nn.Sequential(
            nn.Linear(nz + classes, hidden), nn.LeakyReLU(0.2),  # (B, nz + classes) -> (B, hidden)
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),  # (B, hidden) -> (B, hidden)
            nn.Linear(hidden, channels * image_size**2), nn.Sigmoid(),  # (B, hidden) -> (B, C*H*W) in [0, 1]
        )
        _uniform_init(self, 0.05)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(with_code(z, self.classes) if self.classes else z).reshape(-1, *self.shape)  # (B, nz) -> (B, C, H, W)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: int = 200, image_size: int = 28, channels: int = 1, spectral_norm: bool = False, classes: int = 0):
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
        self.projection = ClassProjection(classes, hidden) if classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f).flatten() + _class_term(self.projection, f, labels), f


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
