"""Class-coded models: z's largest head entry picks the class, G draws it, D judges each image with its label."""

import numpy as np
import pytest
import torch

from ganstudio.artifact import describe
from ganstudio.data import datasets
from ganstudio.errors import UserError
from ganstudio.explore import runtime
from ganstudio.train import loop, recipe
from ganstudio.train.models import DCGANDiscriminator, MLPDiscriminator, coded_as, with_code

TINY = ["nz=12", "ngf=8", "ndf=8", "batch_size=16", "log_every=5", "sample_every=1000", "checkpoint_every=1000", "eval_every=0"]


def test_coded_as_moves_the_largest_entry_to_the_label_and_keeps_the_values():
    torch.manual_seed(0)
    z, labels = torch.randn(2000, 12), torch.randint(0, 10, (2000,))
    coded = coded_as(z, labels, 10)
    assert torch.equal(coded[:, :10].argmax(1), labels)
    assert torch.equal(coded.sort(1).values, z.sort(1).values)  # a swap within each row, nothing redrawn
    assert torch.equal(coded[:, 10:], z[:, 10:])
    already = z[:, :10].argmax(1) == labels
    assert already.any() and torch.equal(coded[already], z[already])
    one_hot = with_code(coded, 10)[:, 12:]
    assert torch.equal(one_hot, torch.nn.functional.one_hot(labels, 10).float())


def test_plain_normal_draws_meet_every_class_equally_often():
    # what a sampler (CLI, studio, eval) does: z ~ N(0, I), no labels; 10 classes at 1/10 each
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((100_000, 12)).astype(np.float32))
    shares = with_code(z, 10)[:, 12:].mean(0)
    assert shares.sum() == 1 and ((shares - 0.1).abs() < 0.005).all()  # 5 standard errors
    # and coding labels keeps the head's entries N(0, 1) overall: a swap only permutes each row
    coded = coded_as(z, torch.randint(0, 10, (100_000,)), 10)
    assert abs(coded[:, :10].std().item() - 1) < 0.01 and abs(coded[:, :10].mean().item()) < 0.01


@pytest.mark.parametrize("make", [
    lambda: DCGANDiscriminator(ndf=8, image_size=28, channels=1, norm="none", classes=10),
    lambda: MLPDiscriminator(hidden=16, image_size=28, channels=1, classes=10),
])
def test_a_class_conditional_d_scores_an_image_by_its_label(make):
    torch.manual_seed(0)
    d = make()
    x = torch.randn(6, 1, 28, 28)
    sevens, nines = torch.full((6,), 7), torch.full((6,), 9)
    assert not torch.allclose(d(x, sevens)[0], d(x, nines)[0])
    assert torch.equal(d(x, sevens)[1], d(x, nines)[1])  # the features are the image's alone
    with pytest.raises(ValueError, match="class-conditional"):
        d(x)
    d(x, sevens)[0].sum().backward()
    grad = d.projection.weight.grad
    assert grad[7].abs().sum() > 0 and grad[9].abs().sum() == 0  # only the label's vector learns


def test_class_code_is_a_recipe_flag_for_labelled_data():
    with pytest.raises(UserError, match="^class_code needs a labelled dataset"):
        recipe.make(dataset="emoji", class_code=True)
    ds = datasets.Dataset("mnist", np.zeros((4, 28, 28, 1), np.uint8), np.arange(4) % 10 + 6)  # labels up to 9
    g, d, arch = loop.build_models(recipe.make(class_code=True, nz=12, ngf=8, ndf=8), ds)
    assert arch["classes"] == 10 and g.classes == 10 and d.projection.num_embeddings == 10
    assert "classes" not in loop.build_models(recipe.make(nz=12, ngf=8, ndf=8), ds)[2]
    with pytest.raises(UserError, match="nz 8 is below the 10 classes"):
        loop.build_models(recipe.make(class_code=True, nz=8), ds)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dcgan", "mlp"])
def test_the_fakes_d_judges_code_the_real_batchs_labels(tmp_path, monkeypatch, model):
    """Wiring: each D step's fakes are drawn for the real batch's labels, and D sees those labels with both."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # (labels D got, classes the fakes' z coded)
    g_cls, d_cls = (loop.MLPGenerator, MLPDiscriminator) if model == "mlp" else (loop.DCGANGenerator, DCGANDiscriminator)
    g_forward, d_forward = g_cls.forward, d_cls.forward
    coded: list[torch.Tensor] = []  # the classes of the z the live G drew from

    def g_spy(self, z):
        if self.training:
            coded.append(z[:, :10].argmax(1))
        return g_forward(self, z)

    def d_spy(self, x, labels=None):
        seen.append(labels)
        return d_forward(self, x, labels)

    monkeypatch.setattr(g_cls, "forward", g_spy)
    monkeypatch.setattr(d_cls, "forward", d_spy)
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    r = recipe.make(dataset="mnist", model=model, class_code=True, **recipe.parse_overrides([*TINY, "steps=3"]))
    loop.train(r, tmp_path / "run", tensorboard=False)

    ds = datasets.load("mnist")
    batches = loop.Batches(torch.zeros(len(ds.images)), r.batch_size, r.seed, (0.0, 1.0), labels=torch.from_numpy(ds.labels))
    assert len(coded) == 3 and all(label is not None for label in seen)
    for step, fake_classes in enumerate(coded):
        assert torch.equal(fake_classes, batches.labels(step))
    assert all(torch.equal(label, batches.labels(i // 3)) for i, label in enumerate(seen[:9]))  # real, fake, G's


@pytest.mark.slow
def test_a_class_coded_run_exports_a_graph_that_draws_by_its_code(tmp_path):
    r = recipe.load("mnist-dcgan", [*TINY, "class_code=true", "steps=10"])
    card = loop.train(r, tmp_path / "run", tensorboard=False)
    assert card.architecture["classes"] == 10 and card.parity["max_abs_diff"] <= 1e-4
    gen = runtime.load(tmp_path / "run")
    z = np.random.default_rng(0).standard_normal((2, 12)).astype(np.float32)
    other = z.copy()
    other[:, :10] = z[:, :10][:, ::-1]  # another class for each row, the same values
    assert not np.allclose(gen.raw(z), gen.raw(other))
    assert ("classes", "10, one per label: z's largest entry among dimensions 0-9 picks the class drawn") in describe.card_rows(card)
