"""Stabilisation tricks that act on D's inputs rather than on an objective.

Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017): Gaussian noise on every image D sees, real
and fake alike, so the two distributions overlap and D cannot separate them perfectly early on. Its sigma
decays linearly to 0 so the end of training sees clean images. The noise is drawn from the loop's seeded
generator and sigma is a pure function of the step, so a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganstudio.train.distributed import World

SHIFT = 1 / 8  # translation: up to this share of the side, either way (the paper's)
HOLE = 1 / 2  # cutout: a square of this share of the side (the paper's)


class InstanceNoise:
    def __init__(self, sigma: float, steps: int, noise: torch.Generator, world: World = World()):
        """world: under torchrun each rank's noise is its rows of the global batch's (World.draw)."""
        self.start, self.steps, self.noise, self.world = sigma, steps, noise, world

    def sigma(self, step: int) -> float:
        """sigma(0) = start, falling linearly to 0 at `steps` and staying there."""
        return self.start * max(0.0, 1.0 - step / self.steps) if self.steps else 0.0

    def __call__(self, x: Tensor, step: int) -> Tensor:
        """x + sigma(step) * N(0, I); x itself (and no draw) once sigma is 0. Gradients flow through to G."""
        sigma = self.sigma(step)
        if sigma == 0.0:
            return x
        return x + sigma * self.world.draw(torch.randn, tuple(x.shape), generator=self.noise, device=x.device, dtype=x.dtype)


class DiffAugment:
    def __init__(self, policy: str, noise: torch.Generator, world: World = World()):
        """policy: a comma-separated subset of recipe.AUGMENTS, applied in that order; "" is off."""
        self.policy = [p for p in policy.split(",") if p]
        self.noise, self.world = noise, world

    def _uniform(self, n: int, device: torch.device) -> Tensor:
        return self.world.draw(torch.rand, (n,), generator=self.noise, device=device)

    def _offsets(self, n: int, span: int, device: torch.device) -> Tensor:
        """n integers, uniform in 0..span-1."""
        return (self._uniform(n, device) * span).long().clamp_(max=span - 1)

    def translation(self, x: Tensor) -> Tensor:
        """Shift each image by up to SHIFT of its side in each direction; what moves in is 0."""
        b, _, h, w = x.shape
        sh, sw = max(1, round(h * SHIFT)), max(1, round(w * SHIFT))
        dy, dx = self._offsets(b, 2 * sh + 1, x.device), self._offsets(b, 2 * sw + 1, x.device)
        padded = torch.nn.functional.pad(x, (sw, sw, sh, sh))
        rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]  # (b, h) rows of the padded image
        cols = torch.arange(w, device=x.device)[None, :] + dx[:, None]
        picked = padded[torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
        return picked.permute(0, 3, 1, 2)  # advanced indexing put channels last

    def cutout(self, x: Tensor) -> Tensor:
        """Set a HOLE-sized square at a random place (it may hang over the edge) in each image to 0."""
        b, _, h, w = x.shape
        hh, hw = max(1, round(h * HOLE)), max(1, round(w * HOLE))
        top = self._offsets(b, h + hh - 1, x.device) - (hh - 1)  # every square that overlaps the image
        left = self._offsets(b, w + hw - 1, x.device) - (hw - 1)
        ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
        in_rows = (ys[None, :] >= top[:, None]) & (ys[None, :] < top[:, None] + hh)  # (b, h)
        in_cols = (xs[None, :] >= left[:, None]) & (xs[None, :] < left[:, None] + hw)
        hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (b, 1, h, w)
        return x.masked_fill(hole, 0.0)

    def __call__(self, x: Tensor) -> Tensor:
        for p in self.policy:
            x = getattr(self, p)(x)
        return x
