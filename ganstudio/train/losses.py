"""GAN objectives. Each loss owns its discriminator step and its generator step (the loop only calls them).

DCGANLoss is binary cross-entropy on logits (the sigmoid is fused into the loss: stable, and no separate
Sigmoid+BCELoss kernels). The generator objective is
  nonsaturating  -log D(G(z))      strong gradients while D still wins (Goodfellow et al.; the default)
  minimax        log(1 - D(G(z)))  the original game; its gradient vanishes when D is confident
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Metrics = dict[str, Tensor]


class DCGANLoss:
    def __init__(self, generator_loss: str = "nonsaturating", label_smoothing: float = 0.0):
        self.generator_loss = generator_loss
        self.real_label = 1.0 - label_smoothing  # one-sided: fakes stay at 0

    def discriminator(self, d: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Metrics]:
        real_logits, _ = d(real)
        fake_logits, _ = d(fake.detach())
        loss_real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_label))
        loss_fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        metrics = {
            "loss_d_real": loss_real.detach(),
            "loss_d_fake": loss_fake.detach(),
            "d_x": torch.sigmoid(real_logits.detach()).mean(),
            "d_g_z": torch.sigmoid(fake_logits.detach()).mean(),
        }
        return loss_real + loss_fake, metrics

    def generator(self, d: nn.Module, fake: Tensor, real: Tensor) -> tuple[Tensor, Metrics]:
        logits, _ = d(fake)
        if self.generator_loss == "nonsaturating":
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        else:  # minimax: minimise log(1 - D(G(z))) = -BCE(logits, 0)
            loss = -F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
        return loss, {"loss_g": loss.detach()}
