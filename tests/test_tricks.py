"""Each stabilisation trick is reachable from a recipe and changes exactly what it should."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganstudio.data import datasets
from ganstudio.errors import UserError
from ganstudio.artifact import rundir
from ganstudio.train import loop, recipe, state
from ganstudio.train.models import coded_as
from ganstudio.train.optim import build_optimizers, lr_at, momentum_at, schedule
from ganstudio.train.tricks import HOLE, SHIFT, DiffAugment, InstanceNoise

TINY = dict(dataset="mnist", nz=8, ngf=8, ndf=8, batch_size=8, log_every=1, sample_every=1000, checkpoint_every=1000)


def models(**values) -> tuple[nn.Module, nn.Module]:
    """G and D as the loop builds them for a 28x28 grey dataset."""
    g, d, _ = loop.build_models(recipe.make(**{**TINY, **values}), datasets.Dataset("mnist", np.zeros((1, 1, 28, 28), np.uint8)))
    return g, d


def run_with_d_inputs(monkeypatch, tmp_path, **values) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Train (without the export); return every input D saw and every output G made, in order."""
    seen: list[torch.Tensor] = []
    made: list[torch.Tensor] = []
    build = loop.build_models

    def spying(r, ds):
        g, d, arch = build(r, ds)
        d.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
        g.register_forward_hook(lambda module, args, out: made.append(out.detach().clone()))
        return g, d, arch

    monkeypatch.setattr(loop, "build_models", spying)
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    loop.train(recipe.make(**{**TINY, **values}), tmp_path / "run", tensorboard=False)
    return seen, made


def clean_batches() -> loop.Batches:
    return loop.Batches(torch.from_numpy(datasets.load("mnist").images), 8, 0, (-1.0, 1.0))


def test_instance_noise_sigma_decays_linearly_to_zero():
    noise = InstanceNoise(0.4, 100, torch.Generator().manual_seed(0))
    assert [noise.sigma(s) for s in (0, 25, 50, 100, 500)] == pytest.approx([0.4, 0.3, 0.2, 0.0, 0.0])
    x = torch.zeros(64, 1, 28, 28)
    assert noise(x, 0).std().item() == pytest.approx(0.4, rel=0.03)
    assert noise(x, 50).std().item() == pytest.approx(0.2, rel=0.03)
    before = noise.noise.get_state()
    assert noise(x, 100) is x and torch.equal(noise.noise.get_state(), before)  # clean, and nothing drawn


def test_instance_noise_blurs_real_and_fake_d_inputs_until_the_schedule_ends(monkeypatch, tmp_path):
    seen, made = run_with_d_inputs(monkeypatch, tmp_path, steps=4, instance_noise=0.5, instance_noise_steps=2)
    assert len(seen) == 4 * 3  # per step: D on real, D on fake, G's step on the same fake
    batches = clean_batches()
    for step, sigma in enumerate((0.5, 0.25, 0.0, 0.0)):
        real, fake_d, fake_g = seen[3 * step : 3 * step + 3]
        assert (real - batches(step)).std().item() == pytest.approx(sigma, rel=0.05, abs=1e-9)
        assert (fake_d - made[step]).std().item() == pytest.approx(sigma, rel=0.05, abs=1e-9)
        assert torch.equal(fake_d, fake_g)  # G is judged on the fakes D saw, noise included
    assert torch.equal(seen[6], batches(2)) and torch.equal(seen[10], made[3])  # clean once sigma reaches 0


def shift_of(out: torch.Tensor, x: torch.Tensor) -> tuple[int, int]:
    """The (dy, dx) with out[i, j] == x[i - dy, j - dx] wherever both are inside; fails when there is none."""
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            moved = torch.zeros_like(x)
            src = x[max(0, -dy) : x.shape[0] - max(0, dy), max(0, -dx) : x.shape[1] - max(0, dx)]
            moved[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
            if torch.equal(moved, out):
                return dy, dx
    raise AssertionError("not a translation of the input")


def test_translation_shifts_each_image_by_its_own_offset_within_an_eighth_and_fills_with_zero():
    x = torch.arange(1.0, 28 * 28 + 1).reshape(1, 1, 28, 28).repeat(64, 1, 1, 1)
    out = DiffAugment("translation", torch.Generator().manual_seed(0))(x)
    shifts = {shift_of(out[i, 0], x[i, 0]) for i in range(64)}
    limit = round(28 * SHIFT)
    assert all(abs(dy) <= limit and abs(dx) <= limit for dy, dx in shifts)
    assert len(shifts) > 20  # independent per image, over the whole range
    assert {dy for dy, _ in shifts} == set(range(-limit, limit + 1))


def test_cutout_zeroes_one_square_of_half_the_side_and_keeps_the_rest():
    x = torch.rand(64, 3, 32, 32) + 1.0  # no zeros of its own
    out = DiffAugment("cutout", torch.Generator().manual_seed(0))(x)
    side = round(32 * HOLE)
    for i in range(64):
        hole = out[i] == 0
        assert torch.equal(hole[0], hole[1]) and torch.equal(hole[0], hole[2])  # every channel alike
        ys, xs = torch.nonzero(hole[0], as_tuple=True)
        assert len(ys) > 0 and len(ys) == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)  # a rectangle
        assert ys.max() - ys.min() + 1 <= side and xs.max() - xs.min() + 1 <= side  # clipped by the edge at most
        assert torch.equal(out[i][~hole], x[i][~hole])


def test_diffaugment_is_differentiable_and_off_when_empty():
    x = torch.rand(8, 1, 28, 28, requires_grad=True)
    DiffAugment("translation,cutout", torch.Generator().manual_seed(0))(x).sum().backward()
    assert 0 < x.grad.sum() < x.numel() and set(x.grad.unique().tolist()) <= {0.0, 1.0}  # kept pixels pass 1 back
    g = torch.Generator().manual_seed(0)
    before = g.get_state()
    assert DiffAugment("", g)(x) is x and torch.equal(g.get_state(), before)


def test_augment_reaches_d_on_real_and_fake_and_g_is_judged_on_the_augmented_fakes(monkeypatch, tmp_path):
    seen, made = run_with_d_inputs(monkeypatch, tmp_path, steps=3, augment="translation,cutout")
    batches = clean_batches()
    for step in range(3):
        real, fake_d, fake_g = seen[3 * step : 3 * step + 3]
        assert not torch.equal(real, batches(step)) and not torch.equal(fake_d, made[step])
        assert (real == 0).float().mean() > 0.1 and (fake_d == 0).float().mean() > 0.1  # holes and shifted-in borders
        assert torch.equal(fake_d, fake_g)


def test_n_critic_takes_n_d_steps_on_n_distinct_batches_per_g_step(monkeypatch, tmp_path):
    seen, _ = run_with_d_inputs(monkeypatch, tmp_path, model="wgan-gp", steps=2)
    # per critic step D sees real, fake, interpolates; then one G step: 5 * 3 + 1 calls per step
    assert len(seen) == 2 * 16
    batches = clean_batches()
    for step in range(2):
        for k in range(5):
            assert torch.equal(seen[16 * step + 3 * k], batches(5 * step + k))
    last = load_file(str(state.latest(tmp_path / "run")))
    assert last["opt_D/0/step"].item() == 10 and last["opt_G/0/step"].item() == 2  # 5 D steps per G step


def test_an_epoch_counts_the_batches_every_critic_step_eats():
    assert loop.total_steps(recipe.make(model="wgan-gp", batch_size=10, epochs=3), 5000) == (300, 100)
    assert loop.total_steps(recipe.make(batch_size=10, epochs=3), 5000) == (1500, 500)


def largest_singular_values(d: nn.Module) -> list[float]:
    return [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_spectral_norm_makes_every_d_layer_1_lipschitz(model):
    _, plain = models(model=model)
    _, normed = models(model=model, spectral_norm=True)
    for _ in range(5):  # each forward in training mode runs one more power iteration
        normed(torch.randn(8, 1, 28, 28))
    assert largest_singular_values(normed) == pytest.approx([1.0] * len(largest_singular_values(plain)), abs=0.02)
    assert all(abs(s - 1) > 0.1 for s in largest_singular_values(plain))
    first = next(m for m in normed.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    init_std = 0.02 if model == "dcgan" else 0.005 / 3**0.5  # the model's own init survives the wrapping
    assert first.parametrizations.weight.original.std().item() == pytest.approx(init_std, rel=0.15)


def test_wgan_gp_critic_gets_layernorm_and_dcgan_keeps_batchnorm():
    kinds = lambda d: {type(m) for m in d.modules()}  # noqa: E731
    assert nn.LayerNorm in kinds(models(model="wgan-gp")[1]) and nn.BatchNorm2d not in kinds(models(model="wgan-gp")[1])
    assert nn.BatchNorm2d in kinds(models(model="dcgan")[1])
    assert not {nn.LayerNorm, nn.BatchNorm2d} & kinds(models(model="wgan-gp", critic_norm="none")[1])


def test_ttur_recipe_gives_d_four_times_g_learning_rate():
    r = recipe.load("mnist-ttur")
    opt_g, opt_d = build_optimizers(r, *models(**{k: getattr(r, k) for k in ("lr_g", "lr_d", "spectral_norm", "critic_norm")}))
    assert [grp["lr"] for grp in opt_d.param_groups] == [4e-4] * len(opt_d.param_groups)
    assert [grp["lr"] for grp in opt_g.param_groups] == [1e-4] * len(opt_g.param_groups)
    assert r.spectral_norm and r.d_norm == "none"


def test_wgan_gp_recipes_get_the_papers_defaults():
    r = recipe.load("fashion-mnist")
    assert r.model == "wgan-gp"
    assert (r.lr_g, r.lr_d, r.beta1, r.beta2, r.n_critic, r.gp_weight, r.d_norm) == (1e-4, 1e-4, 0.0, 0.9, 5, 10.0, "layer")
    assert recipe.load("mnist", ["model=wgan-gp", "label_smoothing=0", "n_critic=3"]).n_critic == 3  # a recipe's own value wins
    assert recipe.make(model="wgan-gp", lr_d=3e-4).lr_d == 3e-4
    assert recipe.make(model="dcgan").n_critic == 1 and recipe.make().beta1 == 0.5


@pytest.mark.parametrize(
    "values",
    [
        dict(model="wgan-gp", critic_norm="batch"),
        dict(model="wgan-gp", label_smoothing=0.1),
        dict(model="wgan-gp", loss="minimax"),
        dict(model="wgan-gp", optimizer="sgd"),
        dict(model="mlp", critic_norm="layer"),
        dict(gp_weight=5.0),
        dict(n_critic=0),
        dict(feature_matching_ramp=100),
        dict(feature_matching=1.0, feature_matching_only=True, feature_matching_ramp=100),
        dict(instance_noise=0.1),
        dict(instance_noise_steps=100),
        dict(momentum=0.9),
        dict(optimizer="sgd", beta1=0.0),
        dict(lr_min=1e-6),
        dict(lr_decay=0.99),
        dict(weight_decay=-1.0),
        dict(critic_norm="group"),
        dict(augment="flip"),
        dict(augment="translation,translation"),
        dict(mode_seeking=-1.0),
        dict(mode_seeking=101.0),
        dict(mode_seeking=1.0, batch_size=1),
        dict(mode_seeking=1.0, class_code=True, batch_size=10),  # a batch of 10 may hold no two of one digit
        dict(mode_seeking_axis=-1.0),
        dict(mode_seeking_axis=101.0),
        dict(mode_seeking_axis=1.0, batch_size=1),
        dict(mode_seeking_axis=1.0, class_code=True, nz=10),  # no dimension outside the class code to redraw
    ],
)
def test_invalid_combinations_are_refused_in_one_place(values):
    with pytest.raises(UserError):
        recipe.make(**values)
    with pytest.raises(UserError):
        recipe.Recipe(**values).check()


def mlp_recipe() -> recipe.Recipe:
    return recipe.load("mnist-mlp")


def test_sgd_momentum_ramps_from_0_5_to_0_7_over_250_steps():
    r = mlp_recipe()
    assert [momentum_at(r, s) for s in (0, 125, 250, 10_000)] == pytest.approx([0.5, 0.6, 0.7, 0.7])
    opt_g, opt_d = build_optimizers(r, *models(model="mlp", optimizer="sgd", lr_g=0.01, lr_d=0.01))
    assert isinstance(opt_g, torch.optim.SGD) and opt_d.param_groups[0]["momentum"] == 0.5
    schedule(r, 125, opt_g, opt_d)
    assert [grp["momentum"] for opt in (opt_g, opt_d) for grp in opt.param_groups] == pytest.approx([0.6] * 4)


def test_lr_decays_exponentially_and_floors_at_lr_min():
    r = mlp_recipe()
    assert lr_at(r, 0.01, 0) == 0.01
    assert lr_at(r, 0.01, 100_000) == pytest.approx(0.01 / 1.000004**100_000) == pytest.approx(0.01 * 0.67032, rel=1e-4)
    assert lr_at(r, 0.01, 10_000_000) == 1e-6  # 0.01 / e^40 would be far below the floor
    opt_g, opt_d = build_optimizers(r, *models(model="mlp"))
    schedule(r, 100_000, opt_g, opt_d)
    assert [grp["lr"] for opt in (opt_g, opt_d) for grp in opt.param_groups] == pytest.approx([0.01 * 0.67032] * 4, rel=1e-4)
    assert lr_at(recipe.make(), 2e-4, 10**6) == 2e-4  # lr_decay 1: constant


def test_weight_decay_shrinks_weights_but_not_biases():
    r = recipe.make(model="mlp", optimizer="sgd", lr_g=0.1, lr_d=0.1, weight_decay=0.01)
    g, d = models(model="mlp")
    opt_g, _ = build_optimizers(r, g, d)
    before = {n: p.detach().clone() for n, p in g.named_parameters()}
    for p in g.parameters():
        p.grad = torch.zeros_like(p)  # no data gradient: only the decay moves anything
    opt_g.step()
    for n, p in g.named_parameters():
        want = before[n] * (1 - 0.1 * 0.01) if n.endswith("weight") else before[n]
        assert torch.allclose(p, want, atol=1e-9), n
    assert {grp["weight_decay"] for grp in build_optimizers(recipe.make(), g, d)[0].param_groups} == {0.0}


def test_the_lr_decay_cannot_overflow_at_any_step_the_recipe_allows():
    # 1.01**71337 passes the largest float: the schedule must still give the floor there, and up to MAX_STEPS.
    r = recipe.make(optimizer="sgd", lr_decay=1.01, lr_min=1e-6)
    for step in (71_336, 71_337, 71_338, 10**6, recipe.MAX_STEPS):
        assert lr_at(r, 0.01, step) == 1e-6
    assert lr_at(r, 0.01, 100) == pytest.approx(0.01 / 1.01**100, rel=1e-12)
    unfloored = recipe.make(optimizer="sgd", lr_decay=1.01)
    assert lr_at(unfloored, 0.01, recipe.MAX_STEPS) == 0.0


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp", "mlp"])
@pytest.mark.parametrize("terms", [dict(mode_seeking=1.0), dict(mode_seeking_axis=1.0), dict(mode_seeking=1.0, mode_seeking_axis=1.0)])
def test_mode_seeking_reaches_g_of_any_model_from_a_recipe(monkeypatch, tmp_path, model, terms):
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    values = dict(model=model, steps=2, batch_size=16, nz=16, class_code=model == "dcgan", **terms)
    loop.train(recipe.make(**{**TINY, **values}), tmp_path / "run", tensorboard=False)
    rows = rundir.read_rows(tmp_path / "run" / rundir.METRICS_FILE)
    ratios = {"mode_seeking": "mode_seeking_ratio", "mode_seeking_axis": "mode_seeking_axis_ratio"}
    assert len(rows) == 2 and all(row[ratios[t]] > 0 for row in rows for t in terms)
    assert all(name not in row for row in rows for t, name in ratios.items() if t not in terms)


def test_d_sees_independent_draws_and_g_draws_axis_partners_beside_them(monkeypatch, tmp_path):
    """With mode_seeking_axis, G draws the batch and, after it, partners of its first half (one dimension outside
    the class code redrawn each); D judges only the batch."""
    drawn: list[torch.Tensor] = []
    judged: list[int] = []
    build = loop.build_models

    def watched(r, ds):
        g, d, arch = build(r, ds)
        g.register_forward_pre_hook(lambda module, args: drawn.append(args[0].detach().clone()) if module.training else None)
        d.register_forward_pre_hook(lambda module, args: judged.append(len(args[0])))
        return g, d, arch

    monkeypatch.setattr(loop, "build_models", watched)
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    values = dict(steps=1, batch_size=32, nz=16, class_code=True, mode_seeking_axis=1.0)
    loop.train(recipe.make(**{**TINY, **values}), tmp_path / "run", tensorboard=False)
    z = drawn[0]
    assert len(z) == 48 and set(judged) == {32}
    changed = z[:16] != z[32:]
    assert (changed.sum(1) == 1).all() and not changed[:, :10].any()
    assert len({tuple(row) for row in z[:32].tolist()}) == 32  # the batch itself: independent rows


def spread_within_a_class(g: nn.Module, nz: int, classes: int) -> float:
    """Per-pixel standard deviation over 64 latents of one class, averaged over pixels and classes."""
    z = torch.randn(64 * classes, nz, generator=torch.Generator().manual_seed(99))
    y = torch.arange(classes).repeat_interleave(64)
    with torch.no_grad():
        x = g.eval()(coded_as(z, y, classes))
    return x.reshape(classes, 64, -1).std(1).mean().item()


@pytest.mark.slow
def test_mode_seeking_makes_a_class_coded_g_draw_more_varied_images_of_each_class(monkeypatch, tmp_path):
    """The same tiny class-coded run (same seed, same data) with and without the term."""
    made: dict[float, nn.Module] = {}
    build = loop.build_models
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    for weight in (0.0, 1.0):
        def keeping(r, ds, weight=weight):
            g, d, arch = build(r, ds)
            made[weight] = g
            return g, d, arch

        monkeypatch.setattr(loop, "build_models", keeping)
        values = dict(steps=40, batch_size=32, nz=16, class_code=True, mode_seeking=weight, ema_decay=0.0)
        loop.train(recipe.make(**{**TINY, **values}), tmp_path / f"run{weight}", tensorboard=False)
    without, with_term = (spread_within_a_class(made[w], 16, 10) for w in (0.0, 1.0))
    assert with_term > 1.2 * without
