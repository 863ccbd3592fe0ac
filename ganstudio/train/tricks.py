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
