"""The latent-space measures (eval.latent_space) on generators whose answer is known by construction."""

import json
import math
import shutil

import numpy as np
import pytest
from scipy.stats import chi
from typer.testing import CliRunner

from ganstudio.artifact.catalog import ModelDir
from ganstudio.cli import app
from ganstudio.eval import EVAL_FILE, latent_space, markdown
from ganstudio.eval.latent_space import MOVE, THRESHOLD, measure_with, path_lengths, summary, trimmed

from conftest import make_tiny_model

NZ = 16


def linear(weights: np.ndarray, wiggle: float = 0.0):
    """images(z) = 127.5 + z @ weights (+ wiggle * sin(40 z) @ weights): a (1, 1, P) image per latent."""

    def images(z: np.ndarray) -> np.ndarray:
        x = 127.5 + z @ weights + wiggle * np.sin(40.0 * z) @ weights
        return x.astype(np.float32)[:, None, None, :]

    return images


def flat(x: np.ndarray) -> np.ndarray:
    """The identity feature map: features are the pixels."""
    return x.reshape(len(x), -1).astype(np.float64)


def test_a_dimension_the_generator_ignores_does_not_matter_and_others_scale_with_their_weight():
    w = np.eye(NZ) * 10.0
    w[3] = 0.0  # dimension 3 reaches no pixel
    w[5] *= 0.1  # dimension 5 a tenth as far as the others
    d = measure_with(linear(w), flat, NZ, seed=0).dimensions["features"]
    fractions = np.array(d["fractions"])
    assert fractions[3] == 0.0
    assert fractions[5] == pytest.approx(0.1 * fractions[0], rel=1e-3)
    assert np.allclose(np.delete(fractions, [3, 5]), fractions[0], rtol=1e-3)  # a ±3 move is 60 whatever the seed
    # the scale: two random samples are 10 |z1 - z2| apart over 14 dimensions (and a tenth of one): a median of
    # 10 sqrt(2) chi_14's median; a move is 10 * 2 * MOVE
    assert fractions[0] == pytest.approx(2 * MOVE / (math.sqrt(2) * chi.median(NZ - 2)), rel=0.05)
    assert d["matter"] == NZ - 2 and d["dimensions"] == NZ
    assert [dim for dim, _ in d["weakest"][:2]] == [3, 5]
    assert d["weakest"][0][1] == 0.0 and 5 not in [dim for dim, _ in d["strongest"]]


def test_a_class_coded_models_class_dimensions_are_reported_apart():
    fractions = np.array([2.0, 1.5, 1.8] + [0.5] * 5 + [0.1] * 4)
    d = summary(fractions, classes=3)
    assert d["dimensions"] == 9 and d["matter"] == 5 and d["median"] == 0.5 and d["class_median"] == 1.8
    named = {dim for dim, _ in d["weakest"] + d["strongest"]}
    assert named.isdisjoint({0, 1, 2})  # the class code is neither weakest nor strongest
    assert [dim for dim, _ in d["weakest"][:4]] == [8, 9, 10, 11]
    assert summary(fractions, classes=0)["strongest"][0] == [0, 2.0]
    every = measure_with(linear(np.eye(4)), flat, 4, seed=0, classes=4).to_dict()  # nz = classes: nothing else to move
    assert every["dimensions"]["features"]["dimensions"] == 0
    assert latent_space.lines(every)[0] == "dimensions that matter: none outside the 4 that code the class"
    assert THRESHOLD == pytest.approx(1 / 3)


def test_path_length_of_a_linear_generator_is_twice_its_squared_weights():
    # lerp: the step between t and t + eps is eps * (z2 - z1) @ W, so the value is |(z2 - z1) @ W|^2: mean 2 |W|^2
    w = np.eye(NZ) * 2.0
    values = path_lengths(linear(w), flat, NZ, seed=0, method="lerp")
    assert trimmed(values)["mean"] == pytest.approx(2 * 4.0 * NZ, rel=0.05)


def test_slerp_paths_are_longer_than_lerp_by_pi_squared_over_8_in_high_dimensions():
    # z1, z2 nearly orthogonal and of norm ~sqrt(nz): the arc's speed is (pi/2) sqrt(nz), the chord's sqrt(2 nz)
    nz = 256
    w = np.eye(nz)
    lerp, slerp = (trimmed(path_lengths(linear(w), flat, nz, seed=0, method=m, n=300))["mean"] for m in ("lerp", "slerp"))
    assert slerp / lerp == pytest.approx(math.pi**2 / 8, rel=0.05)


def test_a_generator_whose_images_jump_has_a_longer_path():
    w = np.eye(NZ) * 2.0
    smooth = measure_with(linear(w), flat, NZ, seed=0).path_length
    jumpy = measure_with(linear(w, wiggle=0.2), flat, NZ, seed=0).path_length  # small, fast wiggles: |d/dz| up to 9x
    for method in ("lerp", "slerp"):
        assert jumpy[method]["mean"] > 5 * smooth[method]["mean"]
        assert smooth[method]["n"] == latent_space.PATHS and smooth[method]["kept"] >= 0.97 * latent_space.PATHS


def test_trimming_drops_the_extremes_as_karras_et_al_did():
    values = np.concatenate([np.full(982, 5.0), np.zeros(9), np.full(9, 1e9)])  # under 1% at each end
    t = trimmed(values)
    assert t["mean"] == 5.0 and t["std"] == 0.0 and t["kept"] == 982 and t["n"] == 1000


def test_the_measures_are_seeded():
    w = np.eye(NZ)
    a, b = (measure_with(linear(w, 0.1), flat, NZ, seed=4).to_dict() for _ in range(2))
    assert a == b and measure_with(linear(w, 0.1), flat, NZ, seed=5).to_dict() != a


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("latent") / "tiny-mnist", dataset="mnist")


def test_ganstudio_eval_writes_the_latent_space_and_info_and_the_card_say_it(tiny, tmp_path):
    model = shutil.copytree(tiny, tmp_path / "m")
    result = CliRunner().invoke(app, ["eval", str(model), "--n", "100"], terminal_width=200)
    assert result.exit_code == 0, result.output
    saved = json.loads((model / EVAL_FILE).read_text())["latent_space"]
    nz = len(saved["dimensions"]["features"]["fractions"])
    assert saved["dimensions"]["features"]["dimensions"] == nz - saved["classes"]
    assert saved["path_length"]["lerp"]["n"] == latent_space.PATHS and saved["path_length"]["slerp"]["mean"] > 0
    out = " ".join(result.output.split())
    assert "dimensions that matter:" in out and "perceptual path length" in out and "the latent space:" in out
    info = CliRunner().invoke(app, ["info", str(model)], terminal_width=200)
    assert "dimensions that matter:" in " ".join(info.output.split())
    md, _ = markdown(ModelDir(model))
    assert any("perceptual path length" in line for line in md)


def test_the_shipped_default_models_latent_dimensions_each_move_its_image():
    """Issue 23's target on checkpoints/mnist-dcgan, measured here from its weights: at least 80 of the 90
    dimensions outside the class code carry the image a third of a random pair's distance, in pixels; and
    the eval.json shipped beside it says what this measurement says."""
    from conftest import SHIPPED
    from ganstudio.explore import runtime
    from ganstudio.eval import features

    gen = runtime.load(SHIPPED)
    net = features.for_dataset("mnist")
    measured = latent_space.measure(gen, lambda x: net.run(x)[0], seed=0).to_dict()
    pixels = measured["dimensions"]["pixels"]
    assert measured["classes"] == 10 and pixels["dimensions"] == 90
    assert pixels["matter"] >= 80, f"{pixels['matter']} of 90 dimensions move the shipped model's image"
    shipped = json.loads((SHIPPED / EVAL_FILE).read_text())
    assert shipped["model_sha256"] == gen.sha256
    assert shipped["latent_space"]["dimensions"]["pixels"]["matter"] == pixels["matter"]
    assert shipped["latent_space"]["dimensions"]["pixels"]["fractions"] == pytest.approx(pixels["fractions"], abs=1e-3)
