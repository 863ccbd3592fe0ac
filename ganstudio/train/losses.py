"""GAN objectives. Each loss owns its discriminator step and its generator step (the loop only calls them).

DCGANLoss is binary cross-entropy on logits (the sigmoid is fused into the loss: stable, and no separate
Sigmoid+BCELoss kernels). The generator objective is
  nonsaturating  -log D(G(z))      strong gradients while D still wins (Goodfellow et al.; the default)
  minimax        log(1 - D(G(z)))  the original game; its gradient vanishes when D is confident
WGANGPLoss is the Wasserstein critic with a gradient penalty (Gulrajani et al. 2017).
FeatureMatching adds (or substitutes) a feature-statistics term to any of them on the generator side.
ModeSeeking is a further term for G under any of them: it needs the latents, which the loop hands it.

Every loss has discriminator(d, real, fake) and generator(d, fake, real, step); `d(x)` returns
(scores (B,), features). A class-conditional D arrives with the step's labels bound (loop.judged). Metrics are detached device tensors: the Monitor syncs them once per interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganstudio.train.distributed import World
from ganstudio.train.recipe import Recipe

Metrics = dict[str, Tensor]
Critic = nn.Module | Callable[[Tensor], tuple[Tensor, Tensor]]  # x -> (scores (B,), features)


class Loss(Protocol):
    def discriminator(self, d: Critic, real: Tensor, fake: Tensor) -> tuple[Tensor, Metrics]: ...

    def generator(self, d: Critic, fake: Tensor, real: Tensor, step: int = 0) -> tuple[Tensor, Metrics]: ...


class DCGANLoss:
    def __init__(self, generator_loss: str = "nonsaturating", label_smoothing: float = 0.0):
        self.generator_loss = generator_loss
        self.real_label = 1.0 - label_smoothing  # one-sided: fakes stay at 0

    def discriminator(self, d: Critic, real: Tensor, fake: Tensor) -> tuple[Tensor, Metrics]:
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

    def generator(self, d: Critic, fake: Tensor, real: Tensor, step: int = 0) -> tuple[Tensor, Metrics]:
        logits, _ = d(fake)
        if self.generator_loss == "nonsaturating":
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        else:  # minimax: minimise log(1 - D(G(z))) = -BCE(logits, 0)
            loss = -F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
        return loss, {"loss_g": loss.detach()}


def gradient_penalty(d: Critic, real: Tensor, fake: Tensor, noise: torch.Generator, world: World = World()) -> tuple[Tensor, Tensor]:
    """(E[(|grad_x D(x)| - 1)^2], E|grad_x D(x)|) over x = random interpolates of real and fake (fake detached).

    Always fp32 with autocast off: in bf16 the squared gradient norms lose most of their digits and the
    double backward can overflow to NaN. The interpolation weights come from the loop's seeded generator
    (under torchrun: the global batch's weights, this rank's rows). Through a DDP critic the input gradient
    is autograd.grad (no reduction: it is per sample); the penalty's weight gradients reach the parameters
    in the critic's one backward, which DDP averages.
    """
    eps = world.draw(torch.rand, (real.shape[0], 1, 1, 1), generator=noise, device=real.device)
    with torch.autocast(real.device.type, enabled=False):
        x = torch.lerp(real.detach().float(), fake.detach().float(), eps).requires_grad_(True)
        scores, _ = d(x)
        (grad,) = torch.autograd.grad(scores.float().sum(), x, create_graph=True)
        norms = torch.linalg.vector_norm(grad.flatten(1), dim=1)
        return (norms - 1).square().mean(), norms.detach().mean()


class WGANGPLoss:
    """The critic maximises E D(real) - E D(fake) (the Wasserstein estimate) under a soft 1-Lipschitz penalty."""

    def __init__(self, gp_weight: float, noise: torch.Generator, world: World = World()):
        self.gp_weight, self.noise, self.world = gp_weight, noise, world

    def discriminator(self, d: Critic, real: Tensor, fake: Tensor) -> tuple[Tensor, Metrics]:
        real_scores, _ = d(real)
        fake_scores, _ = d(fake.detach())
        wasserstein = real_scores.float().mean() - fake_scores.float().mean()
        penalty, grad_norm = gradient_penalty(d, real, fake, self.noise, self.world)
        loss = -wasserstein + self.gp_weight * penalty
        metrics = {
            "loss_d": loss.detach(),
            "wasserstein": wasserstein.detach(),
            "gp": penalty.detach(),  # unweighted: reads the same whatever gp_weight is
            "grad_norm_interp": grad_norm,  # E|grad D| on the interpolates: near 1 when the penalty holds
        }
        return loss, metrics

    def generator(self, d: Critic, fake: Tensor, real: Tensor, step: int = 0) -> tuple[Tensor, Metrics]:
        scores, _ = d(fake)
        loss = -scores.float().mean()
        return loss, {"loss_g": loss.detach()}


def feature_distance(d: Critic, fake: Tensor, real: Tensor) -> Tensor:
    """Mean squared difference between the batch-mean D features of real and fake (Salimans et al. 2016).

    A mean rather than a sum over features, so a weight means the same at any D width. Real features are a
    fixed target: no graph is kept for them.
    """
    with torch.no_grad():
        _, real_features = d(real)
    _, fake_features = d(fake)
    return (fake_features.float().mean(0) - real_features.float().mean(0)).square().mean()


class FeatureMatching:
    """G's loss = adversarial + w(step) * feature distance, w ramping linearly from 0 to `weight` over `ramp` steps.

    The ramp lets the adversarial term dominate early, as the DCGAN blog found necessary (feature matching
    alone let D reach zero loss at once). `only=True` drops the adversarial term, as Salimans et al. did.
    The discriminator step is the wrapped loss's own.
    """

    def __init__(self, adversarial: Loss, weight: float, ramp: int = 0, only: bool = False):
        self.adversarial, self.weight, self.ramp, self.only = adversarial, weight, ramp, only

    def weight_at(self, step: int) -> float:
        return self.weight * min(1.0, step / self.ramp) if self.ramp else self.weight

    def discriminator(self, d: Critic, real: Tensor, fake: Tensor) -> tuple[Tensor, Metrics]:
        return self.adversarial.discriminator(d, real, fake)

    def generator(self, d: Critic, fake: Tensor, real: Tensor, step: int = 0) -> tuple[Tensor, Metrics]:
        fake_out = d(fake)  # one D forward on the fakes serves both terms
        d_once = lambda x: fake_out if x is fake else d(x)  # noqa: E731
        distance = feature_distance(d_once, fake, real)
        term = self.weight_at(step) * distance
        if self.only:
            return term, {"loss_g": term.detach(), "feature_distance": distance.detach()}
        adversarial, metrics = self.adversarial.generator(d_once, fake, real, step)
        loss = adversarial + term
        return loss, {"loss_g": loss.detach(), "loss_g_adv": metrics["loss_g"], "feature_distance": distance.detach()}


def _seeking(weight: float, a: Tensor, b: Tensor, za: Tensor, zb: Tensor, name: str) -> tuple[Tensor, Metrics]:
    """weight / (ratio + EPS), ratio = mean |a - b| / mean |za - zb|: images a, b of latents za, zb, in fp32."""
    ratio = (a.float() - b.float()).abs().mean() / (za.float() - zb.float()).abs().mean()
    return weight / (ratio + ModeSeeking.EPS), {name: ratio.detach()}


class ModeSeeking:
    """weight / (ratio + EPS), ratio = mean |G(z1) - G(z2)| / mean |z1 - z2| over pairs of one batch (Mao et al. 2019).

    Minimising it maximises how far apart two latents' images are per unit of latent distance, so G cannot
    ignore part of z (the failure of class-coded generators: the class leads, the rest of z barely moves the
    image). The reciprocal is the paper's own code's form: its gradient falls as 1/ratio^2, so the pull is
    strong on a G that ignores z and fades once images differ. A class-coded batch pairs only images of one class: a pair across
    classes would reward the class code, not the rest of z. Distances in fp32, whatever the autocast.
    """

    EPS = 1e-5

    def __init__(self, weight: float):
        self.weight = weight

    @staticmethod
    def pairs(n: int, labels: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor]:
        """Indices (i, j) of disjoint pairs: the halves of the batch, or, with labels, two rows of one label each."""
        if labels is None:
            half = torch.arange(n // 2, device=device)
            return half, half + n // 2
        order = torch.argsort(labels, stable=True)
        ranked = labels[order]
        first_of_label = torch.searchsorted(ranked, ranked)  # where each row's label starts in the sorted order
        at = torch.arange(n - 1, device=labels.device)
        opens = (ranked[:-1] == ranked[1:]) & ((at - first_of_label[:-1]) % 2 == 0)  # a label's 1st row, 3rd, ...
        return order[:-1][opens], order[1:][opens]

    def __call__(self, fake: Tensor, z: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Metrics]:
        """(the term, {"mode_seeking_ratio": the ratio}) for G's images `fake` of latents `z` (and their labels)."""
        i, j = self.pairs(len(z), labels, z.device)
        if len(i) == 0:  # a torchrun shard with no two rows of one class: no term this step
            zero = fake.float().sum() * 0.0
            return zero, {"mode_seeking_ratio": zero.detach()}
        return _seeking(self.weight, fake[i], fake[j], z[i], z[j], "mode_seeking_ratio")


class AxisSeeking:
    """The mode-seeking ratio over axis pairs: a latent and itself with one dimension (outside the class code)
    redrawn, so each dimension's own effect counts. Independent draws (ModeSeeking) are content with a G that
    moves with a few dimensions; here a dimension G ignores pulls the ratio down, whichever it is.

    The partners are extra rows G draws beside the batch, never shown to D: D's batch stays independent draws.
    """

    def __init__(self, weight: float):
        self.weight = weight

    @staticmethod
    def partners(z: Tensor, classes: int, noise: torch.Generator) -> Tensor:
        """The first half of z, each row with one dimension from `classes` on redrawn: the same class, and each
        row still N(0, I). Every torchrun rank has as many rows, so their noise streams stay in step."""
        m = len(z) // 2
        dims = torch.randint(classes, z.shape[1], (m,), generator=noise, device=z.device)
        out = z[:m].clone()
        out[torch.arange(m, device=z.device), dims] = torch.randn(m, generator=noise, device=z.device, dtype=z.dtype)
        return out

    def __call__(self, fake: Tensor, partner_fake: Tensor, z: Tensor, partners: Tensor) -> tuple[Tensor, Metrics]:
        """(the term, {"mode_seeking_axis_ratio": the ratio}): `partner_fake` are G's images of `partners`."""
        m = len(partners)
        return _seeking(self.weight, fake[:m], partner_fake, z[:m], partners, "mode_seeking_axis_ratio")


def build_loss(r: Recipe, noise: torch.Generator, world: World = World()) -> Loss:
    """The recipe's objective; `noise` is the loop's seeded generator (the penalty's interpolation weights)."""
    adversarial: Loss = WGANGPLoss(r.gp_weight, noise, world) if r.model == "wgan-gp" else DCGANLoss(r.loss, r.label_smoothing)
    if r.feature_matching > 0:
        return FeatureMatching(adversarial, r.feature_matching, r.feature_matching_ramp, r.feature_matching_only)
    return adversarial
