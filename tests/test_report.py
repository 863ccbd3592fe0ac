"""report.html: one self-contained file with the plots, every kept sample grid, the alerts and the card."""

import base64
import math
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from ganstudio.cli import app
from ganstudio.train import report

runner = CliRunner()
TINY = ["nz=12", "ngf=8", "ndf=8", "batch_size=16", "log_every=5", "sample_every=10"]


def parse(html: str) -> ET.Element:
    """Strict parse: the report is well-formed XHTML-compatible HTML, so any unclosed or stray tag fails here."""
    assert html.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(html.removeprefix("<!DOCTYPE html>\n"))


@pytest.mark.slow
def test_a_finished_run_gets_a_self_contained_report_that_export_regenerates(tmp_path):
    run = tmp_path / "run"
    # a run built to alert (D wins at step 25), so the report has an alert to show and mark
    sets = [*TINY, "loss=minimax", "lr_g=1e-7", "lr_d=5e-3"]
    result = runner.invoke(app, ["train", "mnist", "--steps", "30", "--out", str(run), *[x for s in sets for x in ("--set", s)]])
    assert result.exit_code == 0, result.output
    assert f"report: {run / 'report.html'}" in result.output

    html = (run / "report.html").read_text()
    root = parse(html)
    assert "http://" not in html and "https://" not in html  # nothing fetched: no scripts, styles, fonts or images outside
    assert not root.findall(".//script") and not root.findall(".//link")
    titles = [svg.get("aria-label") for svg in root.iter("svg")]
    assert titles == ["Losses (BCE)", "D's outputs", "Gradient norms (log scale)", "Fakes' pixel diversity / real images'"]
    assert all(svg.findall("polyline") for svg in root.iter("svg"))
    for grid in ["samples/step_0000010.png", "samples/step_0000020.png", "samples/step_0000030.png", "grid.png"]:
        assert base64.b64encode((run / grid).read_bytes()).decode() in html, grid
    captions = [c.text for c in root.iter("figcaption")]
    assert captions == ["step 10", "step 20", "step 30", "the exported generator: seeds 0-63"]
    assert "convergence failure, 4 intervals running: D(G(z))" in html
    assert [t.text for t in root.iter("title")][1:] == ["convergence failure at step 25"] * len(titles)  # marked on each plot
    assert "training health: convergence failure at step 25" in html  # the card's notes
    assert "30 steps" in html and "loss=minimax" in html

    (run / "report.html").unlink()
    result = runner.invoke(app, ["export", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report.html").read_text().count("<svg") == len(titles)


def test_wgan_rows_get_the_critic_plots_and_no_d_outputs():
    rows = [{"step": 5 * i, "loss_d": -1.0, "wasserstein": 1.0 + i, "gp": 0.1, "grad_norm_interp": 0.9, "loss_g": 0.5,
             "grad/D/features.0": 1.0, "grad/D/head": 1.0, "grad/G/net.0": 1.0, "grad/G/net.6": 2.0} for i in range(1, 5)]
    titles = [title for title, _, _ in report.plots(rows)]
    assert titles == ["Losses (WGAN-GP)", "Critic: Wasserstein estimate and penalty", "Gradient norms (log scale)"]
    grads = report.plots(rows)[-1][1]
    assert list(grads) == ["G first layer (net.0)", "G last layer (net.6)", "D first layer (features.0)", "D last layer (head)"]


def test_a_chart_breaks_its_line_at_nan_and_skips_what_a_log_scale_cannot_show():
    svg = ET.fromstring(report.chart("t", {"a": [(1, 1.0), (2, math.nan), (3, 2.0), (4, 3.0)]}))
    assert len(svg.findall("polyline")) == 2  # 1 | 3-4 (a lone point is drawn as a dot-sized segment)
    svg = ET.fromstring(report.chart("t", {"a": [(1, 0.0), (2, 1e-3), (3, 1e-1), (4, 10.0)]}, log=True))
    assert len(svg.findall("polyline")) == 1
    labels = [t.text for t in svg.findall("text")]
    assert {"0.001", "0.01", "0.1", "1", "10"} <= set(labels)  # whole decades
    assert report.chart("t", {"a": [(1, math.nan)]}) == ""  # nothing to draw


def test_ticks_are_round_numbers_covering_the_range():
    assert report.ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert report.ticks(3, 97) == pytest.approx([0, 20, 40, 60, 80, 100])
    assert report.ticks(-0.013, 0.002) == pytest.approx([-0.015, -0.01, -0.005, 0, 0.005])
