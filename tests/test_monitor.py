import json

import pytest
import torch

from ganstudio.train.models import DCGANDiscriminator, DCGANGenerator
from ganstudio.artifact import rundir
from ganstudio.train import monitor


def test_layer_weights_are_the_conv_layers_first_first():
    critic = DCGANDiscriminator(8, 28, 1, norm="layer", spectral_norm=True)
    names = [n for n, _ in monitor.layer_weights(critic)]
    assert names == ["features.0", "features.2", "head"]  # no LayerNorm gains, spectral norm unwrapped
    assert [n for n, _ in monitor.layer_weights(DCGANGenerator(8, 8, 28, 1))] == ["net.0", "net.3", "net.6"]


def test_grad_norms_name_each_layer():
    g = DCGANGenerator(8, 8, 28, 1)
    g(torch.randn(2, 8)).mean().backward()
    norms = monitor.grad_norms("G", monitor.layer_weights(g))
    assert list(norms) == ["grad/G/net.0", "grad/G/net.3", "grad/G/net.6"]
    assert norms["grad/G/net.6"].item() == pytest.approx(g.net[6].weight.grad.norm().item())


def test_monitor_averages_each_interval_and_writes_once(tmp_path):
    m = monitor.Monitor(tmp_path, log_every=2, tensorboard=False)
    assert m.add(0, {"a": torch.tensor(1.0)}) is None
    assert m.add(1, {"a": torch.tensor(3.0)}) == {"a": 2.0}
    m.add(2, {"a": torch.tensor(5.0)})
    m.flush(2)  # the partial last interval
    rows = [json.loads(x) for x in (tmp_path / rundir.METRICS_FILE).read_text().splitlines()]
    assert rows == [{"step": 2, "a": 2.0}, {"step": 3, "a": 5.0}]
    rundir.truncate_after(tmp_path / rundir.METRICS_FILE, 2)
    assert rundir.last_row(tmp_path / rundir.METRICS_FILE, 10) == {"a": 2.0}


def test_diversity_is_the_spread_across_the_batch_and_zero_for_copies_of_one_image():
    real = torch.rand(64, 1, 28, 28)
    same = real[:1].expand(64, -1, -1, -1)
    d = monitor.diversity(real, same)
    assert d["diversity_fake"].item() == 0.0
    assert d["diversity_real"].item() == pytest.approx(real.std(0).mean().item())
    assert d["diversity_real"].item() == pytest.approx((1 / 12) ** 0.5, rel=0.05)  # the std of U(0, 1)


def test_the_last_step_flushes_a_partial_interval_and_a_discarded_one_is_never_written(tmp_path):
    m = monitor.Monitor(tmp_path, log_every=10, tensorboard=False)
    m.add(0, {"a": torch.tensor(float("nan"))})
    m.discard()  # a rollback: these steps are trained again
    assert m.add(0, {"a": torch.tensor(1.0)}) is None
    assert m.add(1, {"a": torch.tensor(3.0)}, last=True) == {"a": 2.0}
    assert rundir.read_rows(tmp_path / rundir.METRICS_FILE) == [{"step": 2, "a": 2.0}]


def test_an_eval_measured_at_a_logged_step_goes_into_that_row(tmp_path):
    m = monitor.Monitor(tmp_path, log_every=2, tensorboard=False)
    m.add(0, {"a": torch.tensor(1.0)})
    assert m.add(1, {"a": torch.tensor(3.0)}, extra={"eval/recall": 0.5}) == {"a": 2.0, "eval/recall": 0.5}
    rows = [json.loads(x) for x in (tmp_path / rundir.METRICS_FILE).read_text().splitlines()]
    assert rows == [{"step": 2, "a": 2.0, "eval/recall": 0.5}]
