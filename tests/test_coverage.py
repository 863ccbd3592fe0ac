"""Mode coverage finds a class a generator never draws, and records it in the card."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ganstudio.artifact import checkpoint
from ganstudio.train import coverage
from ganstudio.data import datasets
from ganstudio.explore import runtime
from ganstudio.artifact.checkpoint import CARD, WEIGHTS
from ganstudio.cli import app

from conftest import SHIPPED, make_tiny_model


def test_a_class_drawn_far_below_its_share_is_dropped():
    share = np.array([0.1] * 9 + [0.015])
    c = coverage.Coverage([str(d) for d in range(10)], share, np.full(10, 0.1), 0.05, 1000, 0.97)
    assert c.dropped == ["9"]
    assert "drops digit 9" in c.note() and "rarest 9 (1.5%)" in c.note() and "97.0%" in c.note()
    assert c.metrics() == {"classes_drawn": 9.0, "rarest_class_share": 0.015, "unrecognisable": 0.05}
    full = coverage.Coverage(c.names, np.full(10, 0.095), c.data_share, 0.05, 1000, 0.97)
    assert full.dropped == [] and full.note().startswith(coverage.NOTE_PREFIX) and "draws every digit;" in full.note()
    uneven = coverage.Coverage(c.names, np.array([0.04] + [0.96 / 9] * 9), c.data_share, 0.05, 1000, 0.97)
    assert uneven.dropped == [] and uneven.under_drawn == ["0"]
    assert "draws every digit, 0 under half as often as the data has them" in uneven.note()


def fake_generator(digits: set[int]) -> runtime.Generator:
    """A 'generator' that returns real MNIST digits of the given classes only, chosen by z."""
    mnist = datasets.load("mnist")
    pool = mnist.images[np.isin(mnist.labels, list(digits))].astype(np.float32) / 255.0  # (N, 1, 28, 28)
    real = runtime.load(SHIPPED)
    card = real.card.replace(output_range=(0.0, 1.0))

    def forward(z: np.ndarray) -> np.ndarray:
        idx = (np.abs(z[:, 0]) * 1e6).astype(np.int64) % len(pool)
        return pool[idx]

    return runtime.Generator(card=card, model=real.model, sha256="fake", backend="fake", forward=forward)


@pytest.mark.slow
def test_measure_sees_the_missing_digit():
    result = coverage.measure(fake_generator(set(range(9))), n=600)
    assert result.accuracy > 0.9
    assert result.dropped == ["9"]
    assert result.share[:9].min() > 0.05  # the others are all there


def test_coverage_refuses_an_unlabelled_dataset():
    result = CliRunner().invoke(app, ["coverage", "emoji-dcgan"])
    assert result.exit_code == 2
    assert "labelled dataset" in result.output and "emoji" in result.output
    assert CliRunner().invoke(app, ["coverage", "--n", "5"]).exit_code == 2


@pytest.mark.slow
def test_record_writes_the_finding_into_every_file(tmp_path):
    tiny_copy = make_tiny_model(tmp_path / "tiny-mnist", dataset="mnist")  # untrained: it draws noise
    result = CliRunner().invoke(app, ["coverage", str(tiny_copy), "--n", "200", "--record"])
    assert result.exit_code == 0, result.output
    card = checkpoint.read_card(tiny_copy / WEIGHTS)  # the weights' own copy of the card
    assert card.notes.splitlines()[-1].startswith(coverage.NOTE_PREFIX)
    assert {"classes_drawn", "rarest_class_share", "unrecognisable"} <= set(card.metrics)
    assert json.loads((tiny_copy / CARD).read_text())["notes"] == card.notes
    runtime.load(tiny_copy)  # the graph's sha256 in the card still matches
    again = CliRunner().invoke(app, ["coverage", str(tiny_copy), "--n", "200", "--record"])
    assert again.exit_code == 0
    assert sum(line.startswith(coverage.NOTE_PREFIX) for line in checkpoint.read_card(tiny_copy / WEIGHTS).notes.splitlines()) == 1
