"""Each objective computes what its paper says: checked against hand computations on tiny critics."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.train.models import DCGANDiscriminator, DCGANGenerator, coded_as
from ganstudio.train import recipe
from ganstudio.train.losses import AxisSeeking, DCGANLoss, FeatureMatching, ModeSeeking, WGANGPLoss, build_loss, feature_distance, gradient_penalty


class Linear(nn.Module):
    """D(x) = w.x + b: its input gradient is w everywhere, so the penalty is (|w| - 1)^2 exactly."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.flatten())
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b, x.flatten(1)


class Quadratic(nn.Module):
    """D(x) = c/2 |x|^2: its input gradient c.x depends on where the interpolate falls."""

    def __init__(self, c: float):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):
        return 0.5 * self.c * x.flatten(1).square().sum(1), x.flatten(1)


def images(seed: int, n: int = 6, shape=(1, 4, 4)) -> torch.Tensor:
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))


def test_gradient_penalty_is_lambda_times_the_mean_squared_slope_gap():
    real, fake = images(0), images(1)
    w = torch.randn(16, generator=torch.Generator().manual_seed(2))
    for norm in (1.0, 2.5, 0.2):
        critic = Linear(w / w.norm() * norm)
        loss, m = WGANGPLoss(10.0, torch.Generator().manual_seed(0)).discriminator(critic, real, fake)
        assert m["gp"].item() == pytest.approx((norm - 1) ** 2, abs=1e-6)  # ~0 for unit-norm gradients only
        wasserstein = (critic(real)[0].mean() - critic(fake)[0].mean()).item()
        assert m["wasserstein"].item() == pytest.approx(wasserstein, abs=1e-5)
        assert loss.item() == pytest.approx(-wasserstein + 10.0 * (norm - 1) ** 2, abs=1e-4)


def test_gradient_penalty_is_taken_at_random_interpolates_of_real_and_fake():
    real, fake = images(0), images(1)
    noise = torch.Generator().manual_seed(7)
    eps = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(7))  # the draws the penalty will make
    x = real + eps * (fake - real)
    want = ((0.7 * x.flatten(1).norm(dim=1) - 1) ** 2).mean()
    penalty, grad_norm = gradient_penalty(Quadratic(0.7), real, fake, noise)
    assert penalty.item() == pytest.approx(want.item(), rel=1e-5)
    assert grad_norm.item() == pytest.approx((0.7 * x.flatten(1).norm(dim=1)).mean().item(), rel=1e-5)
    assert not torch.equal(noise.get_state(), torch.Generator().manual_seed(7).get_state())  # drawn from the loop's generator


def test_gradient_penalty_trains_the_critic_towards_unit_slope():
    critic = Linear(torch.full((16,), 1.0))  # |w| = 4
    loss, _ = WGANGPLoss(10.0, torch.Generator().manual_seed(0)).discriminator(critic, images(0), images(0))
    loss.backward()  # real == fake: the Wasserstein term is 0, only the penalty pulls
    assert (critic.w.grad * critic.w).sum() > 0  # descending it shrinks |w| towards 1


def test_gradient_penalty_stays_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    critic = DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="layer")
    real, fake = images(0, 8, (1, 28, 28)).tanh(), images(1, 8, (1, 28, 28)).tanh()
    exact, _ = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, m = WGANGPLoss(10.0, torch.Generator().manual_seed(3)).discriminator(critic, real, fake)
        assert critic(real)[0].dtype == torch.bfloat16  # autocast is really on for the critic's plain forward
        penalty, _ = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(3))
    assert penalty.dtype == torch.float32 and m["gp"].dtype == torch.float32
    assert torch.isfinite(loss) and torch.isfinite(m["gp"])
    assert penalty.item() == pytest.approx(exact.item(), rel=1e-6)  # the fp32 value, not a bf16 approximation
    # the same penalty computed in bf16 would be visibly off: what the fp32 path protects against
    x = torch.lerp(real, fake, torch.rand(8, 1, 1, 1, generator=torch.Generator().manual_seed(3))).requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (grad,) = torch.autograd.grad(critic(x)[0].sum(), x, create_graph=True)
    in_bf16 = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert abs(in_bf16.item() - exact.item()) > 1e-6 * abs(exact.item())


def test_wgan_generator_maximises_the_critic_score():
    critic = Linear(torch.ones(16))
    fake = images(1)
    loss, m = WGANGPLoss(10.0, torch.Generator()).generator(critic, fake, images(0))
    assert loss.item() == pytest.approx(-critic(fake)[0].mean().item(), abs=1e-6)
    assert m["loss_g"].item() == loss.item()


def identity_critic(x):
    """The 'images' are the logits themselves: lets a test set D's output directly."""
    return x.flatten(), x


def test_label_smoothing_moves_the_real_target_to_0_9():
    logits = torch.tensor([math.log(0.9 / 0.1)] * 4)  # D(x) = 0.9
    for smoothing, zero_gradient in ((0.1, True), (0.0, False)):
        real = logits.clone().requires_grad_(True)
        loss, m = DCGANLoss(label_smoothing=smoothing).discriminator(identity_critic, real, torch.full((4,), -3.0))
        want = F.binary_cross_entropy_with_logits(logits, torch.full((4,), 1.0 - smoothing))
        assert m["loss_d_real"].item() == pytest.approx(want.item(), abs=1e-6)
        loss.backward()
        assert (real.grad.abs().max().item() < 1e-6) is zero_gradient  # 0.9 is the optimum only when smoothed


def test_nonsaturating_gradient_is_larger_when_d_rejects_the_fakes():
    def grad(kind: str, logit: float) -> float:
        fake = torch.full((4,), logit, requires_grad=True)
        loss, _ = DCGANLoss(kind).generator(identity_critic, fake, fake.detach())
        loss.backward()
        return fake.grad.abs().sum().item()

    # D(G(z)) = sigmoid(-6) ~ 0.0025: minimax's gradient sigma(l) vanishes, nonsaturating's 1 - sigma(l) does not
    assert grad("nonsaturating", -6.0) > 100 * grad("minimax", -6.0)
    assert grad("nonsaturating", -6.0) == pytest.approx(1 - torch.sigmoid(torch.tensor(-6.0)).item(), rel=1e-5)
    # once D is fooled (D(G(z)) ~ 1) it is the other way round
    assert grad("minimax", 6.0) > 100 * grad("nonsaturating", 6.0)


def test_feature_matching_is_zero_for_matching_features_and_positive_otherwise():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="none")
    real = images(0, 8, (1, 28, 28)).tanh()
    assert feature_distance(d, real, real).item() == 0.0
    assert feature_distance(d, real.flip(0), real).item() == pytest.approx(0.0, abs=1e-12)  # batch means only
    assert feature_distance(d, images(1, 8, (1, 28, 28)).tanh(), real).item() > 1e-6


def test_feature_matching_weight_ramps_up_under_the_adversarial_term():
    fm = FeatureMatching(DCGANLoss(), weight=2.0, ramp=100)
    assert [fm.weight_at(s) for s in (0, 50, 100, 1000)] == [0.0, 1.0, 2.0, 2.0]
    assert FeatureMatching(DCGANLoss(), weight=2.0).weight_at(0) == 2.0

    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="none")
    g = DCGANGenerator(nz=8, ngf=8, image_size=28, channels=1)
    z, real = torch.randn(8, 8), images(0, 8, (1, 28, 28)).tanh()

    def g_grad(loss, step):
        g.zero_grad()
        value, m = loss.generator(d, g(z), real, step)
        value.backward()
        return value.item(), m, torch.cat([p.grad.flatten() for p in g.parameters()])

    adversarial, _, adv_grad = g_grad(DCGANLoss(), 0)
    at_start, _, start_grad = g_grad(fm, 0)
    assert at_start == pytest.approx(adversarial, abs=1e-6) and torch.allclose(start_grad, adv_grad, atol=1e-7)
    later, m, later_grad = g_grad(fm, 100)
    distance = feature_distance(d, g(z), real).item()
    assert later == pytest.approx(adversarial + 2.0 * distance, rel=1e-5)
    assert m["loss_g_adv"].item() == pytest.approx(adversarial, abs=1e-6) and not torch.allclose(later_grad, adv_grad)
    only, _, _ = g_grad(FeatureMatching(DCGANLoss(), weight=2.0, only=True), 0)
    assert only == pytest.approx(2.0 * distance, rel=1e-5)


def test_feature_matching_runs_d_once_on_the_fakes():
    calls = []
    d = DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="none")
    d.register_forward_pre_hook(lambda module, args: calls.append(args[0]))
    fake, real = images(1, 4, (1, 28, 28)), images(0, 4, (1, 28, 28))
    FeatureMatching(DCGANLoss(), weight=1.0).generator(d, fake, real)
    assert len(calls) == 2 and calls[0] is fake and calls[1] is real


def test_each_objective_is_reachable_from_a_recipe():
    noise = torch.Generator()
    wgan = build_loss(recipe.make(model="wgan-gp", gp_weight=5.0), noise)
    assert isinstance(wgan, WGANGPLoss) and wgan.gp_weight == 5.0 and wgan.noise is noise
    dcgan = build_loss(recipe.make(loss="minimax", label_smoothing=0.1), noise)
    assert isinstance(dcgan, DCGANLoss) and dcgan.generator_loss == "minimax" and dcgan.real_label == pytest.approx(0.9)
    fm = build_loss(recipe.make(model="wgan-gp", feature_matching=0.5, feature_matching_ramp=200), noise)
    assert isinstance(fm, FeatureMatching) and isinstance(fm.adversarial, WGANGPLoss)
    assert (fm.weight, fm.ramp, fm.only) == (0.5, 200, False)
    assert isinstance(build_loss(recipe.make(model="mlp"), noise), DCGANLoss)


def test_a_whole_wgan_gp_step_runs_under_bf16_autocast():
    """What the loop does on CUDA (where amp is on), done on the CPU: no dtype clash, everything finite."""
    from ganstudio.train.tricks import InstanceNoise

    torch.manual_seed(0)
    g, d = DCGANGenerator(nz=8, ngf=8, image_size=28, channels=1), DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="layer")
    noise = torch.Generator().manual_seed(0)
    loss = build_loss(recipe.make(model="wgan-gp", feature_matching=1.0, feature_matching_ramp=10), noise)
    blur = InstanceNoise(0.2, 10, noise)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fake = blur(g(torch.randn(8, 8)), 5)
        assert fake.dtype == torch.bfloat16
        loss_d, m_d = loss.discriminator(d, blur(images(0, 8, (1, 28, 28)).tanh(), 5), fake)
    loss_d.backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss_g, m_g = loss.generator(d, fake, images(0, 8, (1, 28, 28)).tanh(), 5)
    loss_g.backward()
    assert all(torch.isfinite(v) for v in (*m_d.values(), *m_g.values()))
    assert m_d["gp"].dtype == torch.float32 and loss_d.dtype == torch.float32 and loss_g.dtype == torch.float32
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


def test_mode_seeking_is_the_weight_over_image_distance_per_latent_distance():
    # halves pair up: (0, 2) and (1, 3). Images differ by 0.5 and 0 per pixel: mean 0.25; latents by 2 and 1: mean 1.5
    fake = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.full((1, 2, 2), 0.5), torch.ones(1, 2, 2)])
    z = torch.tensor([[0.0, 0.0], [0.0, 0.0], [2.0, 2.0], [1.0, -1.0]])
    term, m = ModeSeeking(3.0)(fake, z)
    assert m["mode_seeking_ratio"].item() == pytest.approx(0.25 / 1.5)
    assert term.item() == pytest.approx(3.0 / (0.25 / 1.5 + ModeSeeking.EPS))


def test_mode_seeking_pushes_the_images_of_two_latents_apart():
    fake = torch.stack([torch.zeros(1, 2, 2), torch.full((1, 2, 2), 0.5)]).requires_grad_(True)
    z = torch.tensor([[0.0], [1.0]])
    term, _ = ModeSeeking(1.0)(fake, z)
    term.backward()
    assert (fake.grad[0] > 0).all() and (fake.grad[1] < 0).all()  # descending moves image 0 down, image 1 up
    closer = fake.detach().clone()
    closer[1] -= 0.1
    assert ModeSeeking(1.0)(closer, z)[0] > term  # nearer images cost more


def test_mode_seeking_pairs_only_images_of_one_class():
    labels = torch.tensor([3, 1, 3, 3, 1, 0, 2, 3])
    i, j = ModeSeeking.pairs(len(labels), labels, labels.device)
    assert torch.equal(labels[i], labels[j]) and len(i) == 3  # two pairs of 3s, one of 1s, none of 0 or 2
    assert len(set(i.tolist()) | set(j.tolist())) == 6  # disjoint
    # same-class pairs alike, classes far apart: the cross-class distances must not count
    fake = labels.float().reshape(-1, 1, 1, 1) * 10.0
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    assert ModeSeeking(1.0)(fake, z, labels)[1]["mode_seeking_ratio"].item() == 0.0
    assert ModeSeeking(1.0)(fake, z)[1]["mode_seeking_ratio"].item() > 1.0  # unlabelled halves do pair across classes


def test_mode_seeking_adds_nothing_when_no_two_rows_share_a_class():
    fake = torch.rand(3, 1, 2, 2, requires_grad=True)
    term, m = ModeSeeking(1.0)(fake, torch.randn(3, 4), torch.tensor([0, 1, 2]))
    term.backward()
    assert term.item() == 0.0 and m["mode_seeking_ratio"].item() == 0.0 and not fake.grad.any()


def test_axis_partners_differ_in_one_dimension_outside_the_class_code_and_keep_their_class():
    noise = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (32,), generator=noise)
    z = coded_as(torch.randn(32, 12, generator=noise), labels, 3)
    partners = AxisSeeking.partners(z, 3, noise)
    assert partners.shape == (16, 12)
    changed = partners != z[:16]
    assert (changed.sum(1) == 1).all() and not changed[:, :3].any()  # one dimension, never the class code's
    assert torch.equal(partners[:, :3].argmax(1), labels[:16])
    assert len(set(changed.nonzero()[:, 1].tolist())) > 3  # the redrawn dimension varies from row to row


def test_axis_partners_consume_the_same_noise_whatever_the_labels():
    """Under torchrun each rank's shard has its own labels: their noise streams must stay in step."""
    streams = []
    for classes in (3, 8):
        noise = torch.Generator().manual_seed(0)
        AxisSeeking.partners(torch.randn(8, 12), classes, noise)
        streams.append(torch.randn(4, generator=noise))
    assert torch.equal(*streams)


def test_the_axis_ratio_grows_with_the_effect_of_each_dimension_alone():
    """A G that reads only z[0] scores far lower on axis pairs than one reading every dimension; on independent
    draws the two look alike (both move the image with z), which is why class-coded Gs lean on few dimensions."""
    noise = torch.Generator().manual_seed(1)
    z = torch.randn(4096, 16, generator=noise)
    partners = AxisSeeking.partners(z, 0, noise)
    both = torch.cat([z, partners])
    reads_one, reads_all = (4.0 * both[:, :1]).reshape(-1, 1, 1, 1), both.sum(1).reshape(-1, 1, 1, 1)  # same spread, 4

    def ratio(images: torch.Tensor) -> float:
        term, m = AxisSeeking(2.0)(images[:4096], images[4096:], z, partners)
        assert term.item() == pytest.approx(2.0 / (m["mode_seeking_axis_ratio"].item() + ModeSeeking.EPS))
        return m["mode_seeking_axis_ratio"].item()

    assert ratio(reads_all) > 2.5 * ratio(reads_one)  # 16 / 4 expected
    drawn = lambda images: ModeSeeking(1.0)(images[:4096], z)[1]["mode_seeking_ratio"].item()  # noqa: E731
    assert drawn(reads_one) == pytest.approx(drawn(reads_all), rel=0.15)
