"""Optimisers and their per-step schedule, built from the recipe.

Adam (the DCGAN and WGAN-GP papers) or SGD with momentum (the MNIST notebook, after Goodfellow's pylearn2
code: momentum ramping linearly 0.5 -> 0.7 over the first 250 steps, lr decaying exponentially per step to
a floor). Weight decay is an L2 penalty on conv/linear weights only, as the notebook declared it on weights
but not biases. The schedule is a pure function of the step, so a resumed run sets exactly the values an
uninterrupted one would.
"""

from __future__ import annotations

import torch
from torch import nn

from ganstudio.train.recipe import Recipe


LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
WEIGHT_NAMES = ("weight", "parametrizations.weight.original")  # plain, or under spectral norm


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Conv/linear weights with weight decay; biases and norm gains (LayerNorm's are 3-D) without."""
    decayed = {id(p) for m in model.modules() if isinstance(m, LAYERS) for n, p in m.named_parameters() if n in WEIGHT_NAMES}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decayed], "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]  # a D without biases or norms has no second group


def build_optimizers(r: Recipe, g: nn.Module, d: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """(opt_G, opt_D), at their step-0 learning rates and momentum."""

    def build(model: nn.Module, lr: float) -> torch.optim.Optimizer:
        groups = param_groups(model, r.weight_decay)
        if r.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=lr, momentum=r.momentum, foreach=True)
        return torch.optim.Adam(groups, lr=lr, betas=(r.beta1, r.beta2), foreach=True)

    return build(g, r.lr_g), build(d, r.lr_d)


def lr_at(r: Recipe, lr: float, step: int) -> float:
    """max(lr * lr_decay**-step, lr_min): the notebook's exponential decay (constant when lr_decay is 1).

    A negative power underflows to 0 where lr / lr_decay**step would overflow (1.01**71337 > 1e308).
    """
    return max(lr * r.lr_decay**-step, r.lr_min)


def momentum_at(r: Recipe, step: int) -> float:
    """momentum -> momentum_final linearly over momentum_ramp_steps, then constant."""
    done = min(1.0, step / r.momentum_ramp_steps) if r.momentum_ramp_steps else 1.0
    return r.momentum + (r.momentum_final - r.momentum) * done


def schedule(r: Recipe, step: int, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, lr_scale: float = 1.0) -> None:
    """Set this step's lr (and SGD momentum) on every param group; lr_scale is what NaN/Inf rollbacks left of the lr."""
    for opt, lr in ((opt_g, r.lr_g), (opt_d, r.lr_d)):
        for group in opt.param_groups:
            group["lr"] = lr_at(r, lr, step) * lr_scale
            if r.optimizer == "sgd":
                group["momentum"] = momentum_at(r, step)
