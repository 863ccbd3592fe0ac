"""The training loop's fast-path pieces change speed, never results."""

import contextlib

import pytest
import torch

from ganstudio.train.models import DCGANDiscriminator, DCGANGenerator
from ganstudio.train import recipe
from ganstudio.train.loop import Batches, generator_backward
from ganstudio.train.losses import build_loss


@pytest.mark.parametrize("overrides", [{}, {"feature_matching": 1.0}, {"model": "wgan-gp"}])
def test_generator_backward_gives_g_the_plain_gradients_and_d_none(overrides):
    r = recipe.Recipe(**{"model": "dcgan", **overrides})
    loss = build_loss(r, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    g, d = DCGANGenerator(8, 8, 32, 3), DCGANDiscriminator(8, 32, 3, r.d_norm)
    z, real = torch.randn(4, 8), torch.rand(4, 3, 32, 32) * 2 - 1

    plain_loss, _ = loss.generator(d, g(z), real, 10)  # what autograd gives without freezing D
    plain = torch.autograd.grad(plain_loss, list(g.parameters()))

    generator_backward(loss, d, g(z), real, 10, contextlib.nullcontext)
    for ours, want in zip((p.grad for p in g.parameters()), plain):
        torch.testing.assert_close(ours, want)
    assert all(p.grad is None for p in d.parameters())  # no weight gradients computed for D
    assert all(p.requires_grad for p in d.parameters())  # and D trainable again for its next step


def test_batches_in_channels_last_hold_the_same_pixels():
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    plain = Batches(images, 16, seed=3, output_range=(-1.0, 1.0))
    fast = Batches(images, 16, seed=3, output_range=(-1.0, 1.0), memory_format=torch.channels_last)
    for step in range(5):  # across an epoch boundary
        a, b = plain(step), fast(step)
        assert b.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(a, b) and a.min() >= -1 and a.max() <= 1


@pytest.mark.parametrize("step", [0, 3, 5000])
def test_ema_update_is_the_hand_computed_average_with_buffers_averaged_and_counters_copied(step):
    import copy

    from ganstudio.train.loop import ema_update

    torch.manual_seed(0)
    live = DCGANGenerator(8, 8, 28, 1)
    ema = copy.deepcopy(live)
    live(torch.randn(4, 8))  # a training-mode forward pass moves live's BatchNorm statistics and counter
    with torch.no_grad():
        for p in live.parameters():
            p.add_(torch.randn_like(p))
    before, now = copy.deepcopy(ema.state_dict()), live.state_dict()
    ema_update(ema, live, 0.999, step)
    decay = min(0.999, (1 + step) / (10 + step))  # the documented warm-up
    after = ema.state_dict()
    assert any(k.endswith("running_mean") for k in after) and any(k.endswith("num_batches_tracked") for k in after)
    for k, v in after.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, decay * before[k] + (1 - decay) * now[k], rtol=1e-5, atol=1e-6)
            assert not torch.equal(v, now[k]) and not torch.equal(v, before[k]), k
        else:
            assert torch.equal(v, now[k]), k  # counters are copied
