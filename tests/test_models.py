import pytest
import torch

from ganstudio.errors import UserError
from ganstudio.train.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    LatentStem,
    LogitHead,
    MLPDiscriminator,
    MLPGenerator,
    build_generator,
    generator_tensors,
    load_generator_tensors,
)


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    g = DCGANGenerator(nz=16, ngf=8, image_size=size, channels=channels)
    d = DCGANDiscriminator(ndf=8, image_size=size, channels=channels)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh
    logits, features = d(x)
    assert logits.shape == (5,)
    assert features.shape[0] == 5 and features.shape[-1] == (7 if size == 28 else 4)


def test_dcgan_64_is_the_papers_network():
    g = DCGANGenerator(nz=100, ngf=64, image_size=64, channels=3)
    widths = [m.out_channels for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert widths == [512, 256, 128, 64, 3]


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_latent_stem_is_the_transposed_convolution_values_and_gradients(layout):
    torch.manual_seed(0)
    stem = LatentStem(16, 24, 4, 1, 0, bias=False).to(memory_format=layout)
    z = torch.randn(5, 16, 1, 1, requires_grad=True)
    out, ref = stem(z), torch.nn.functional.conv_transpose2d(z, stem.weight)
    assert out.shape == ref.shape == (5, 24, 4, 4)
    assert torch.allclose(out, ref, atol=1e-6)
    up = torch.randn_like(ref)
    grads = torch.autograd.grad((out * up).sum(), (z, stem.weight))
    ref_grads = torch.autograd.grad((ref * up).sum(), (z, stem.weight))
    for got, want in zip(grads, ref_grads):
        assert torch.allclose(got, want, atol=1e-5)
    assert list(stem.state_dict()) == ["weight"]  # checkpoints keep the ConvTranspose2d's layout


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_logit_head_is_the_whole_map_convolution_values_and_gradients(layout):
    torch.manual_seed(0)
    head = LogitHead(24, 1, 4, 1, 0, bias=False).to(memory_format=layout)
    x = torch.randn(5, 24, 4, 4).to(memory_format=layout).requires_grad_(True)
    out, ref = head(x).flatten(), torch.nn.functional.conv2d(x, head.weight).flatten()
    assert out.shape == ref.shape == (5,)
    assert torch.allclose(out, ref, atol=1e-5)
    up = torch.randn(5)
    grads = torch.autograd.grad((out * up).sum(), (x, head.weight))
    ref_grads = torch.autograd.grad((ref * up).sum(), (x, head.weight))
    for got, want in zip(grads, ref_grads):
        assert torch.allclose(got, want, atol=1e-5)
    assert list(head.state_dict()) == ["weight"]


def test_dcgan_init_is_normal_0_002():
    torch.manual_seed(0)
    g = DCGANGenerator(nz=100, ngf=64, image_size=64, channels=3)
    d = DCGANDiscriminator(ndf=64, image_size=64, channels=3)
    for model in (g, d):
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m.weight.numel() > 10_000:
                assert abs(m.weight.mean().item()) < 2e-3
                assert m.weight.std().item() == pytest.approx(0.02, rel=0.05)
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.weight.mean().item() == pytest.approx(1.0, abs=0.01)
                assert m.bias.abs().max().item() == 0


def test_critic_variants_have_no_batchnorm():
    for norm in ("layer", "none"):
        d = DCGANDiscriminator(ndf=8, image_size=32, channels=3, norm=norm, spectral_norm=True)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
        assert d(torch.randn(2, 3, 32, 32))[0].shape == (2,)
    with pytest.raises(UserError):
        DCGANDiscriminator(norm="group")


def test_minibatch_std_lets_d_see_a_batch_of_look_alikes():
    """Without it (no BatchNorm) an image's logit ignores its batch; with it, copies of one image score
    otherwise than the same image among others, and the added channel is the batch's mean feature spread."""
    torch.manual_seed(0)
    x = torch.randn(8, 1, 28, 28)
    copies = x[:1].expand(8, -1, -1, -1).contiguous()
    plain = DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="none")
    assert torch.allclose(plain(x)[0][0], plain(copies)[0][0])
    d = DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="none", minibatch_std=True)
    torch.nn.init.normal_(d.head.weight)  # so the spread channel's weights are not near zero
    assert d.head.in_channels == plain.head.in_channels + 1
    assert not torch.allclose(d(x)[0][0], d(copies)[0][0])
    f = d.features(x)
    spread = d.spread(f)[:, -1]
    assert torch.allclose(spread, f.std(0, unbiased=False).mean().expand_as(spread), atol=1e-5)
    assert d.spread(d.features(copies))[:, -1].abs().max() < 1e-3  # look-alikes: no spread
    assert torch.equal(d(x)[1], f)  # feature matching still sees D's own last hidden map
    d(x)[0].sum().backward()
    assert d.features[0].weight.grad.abs().sum() > 0


def test_minibatch_std_is_a_recipe_flag_of_the_convolutional_d():
    from ganstudio.data import datasets
    from ganstudio.train import recipe
    from ganstudio.train.loop import build_models

    ds = datasets.Dataset("x", torch.zeros(4, 1, 28, 28, dtype=torch.uint8).numpy())
    for model in ("dcgan", "wgan-gp"):
        _, d, _ = build_models(recipe.make(model=model, minibatch_std=True), ds)
        assert d.spread is not None
    assert build_models(recipe.make(), ds)[1].spread is None
    with pytest.raises(UserError, match="^minibatch_std: for the convolutional D"):
        recipe.make(model="mlp", minibatch_std=True)


def test_mlp_gan_is_the_notebooks_network():
    g, d = MLPGenerator(), MLPDiscriminator()
    assert [m.out_features for m in g.modules() if isinstance(m, torch.nn.Linear)] == [1200, 1200, 784]
    assert [m.out_features for m in d.modules() if isinstance(m, torch.nn.Linear)] == [200, 200, 1]
    x = g(torch.randn(3, 100))
    assert x.shape == (3, 1, 28, 28) and x.min() >= 0 and x.max() <= 1  # sigmoid
    for model, bound in ((g, 0.05), (d, 0.005)):
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                assert m.weight.abs().max().item() <= bound
                assert torch.all(m.bias == 0.1)


def test_unsupported_size():
    with pytest.raises(UserError, match="28, 32, 64, 128"):
        DCGANGenerator(image_size=48)


def test_generator_tensors_round_trip_strictly():
    arch = {"name": "dcgan", "nz": 8, "ngf": 8, "image_size": 32, "channels": 3}
    g = build_generator(arch)
    tensors = generator_tensors(g)
    assert not any(k.endswith("num_batches_tracked") for k in tensors)
    h = load_generator_tensors(build_generator(arch), tensors, "x")
    z = torch.randn(2, 8)
    assert torch.equal(g.eval()(z), h.eval()(z))
    missing = dict(tensors)
    missing.pop("net.0.weight")
    with pytest.raises(UserError, match="missing"):
        load_generator_tensors(build_generator(arch), missing, "x")
    wrong = {**tensors, "net.0.weight": tensors["net.0.weight"][:4]}
    with pytest.raises(UserError, match="shape"):
        load_generator_tensors(build_generator(arch), wrong, "x")
