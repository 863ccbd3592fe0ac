"""`ganstudio eval` end to end: each measure moves the way it must on generators whose truth is known."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from ganstudio.artifact.catalog import ModelDir
from ganstudio.artifact.checkpoint import CARD, GRAPH, WEIGHTS
from ganstudio.cli import app
from ganstudio.data import datasets
from ganstudio.eval import EVAL_FILE, SHEET_FILE, evaluate, markdown, read, split
from ganstudio.eval.run import Result
from ganstudio.explore import images

from conftest import make_tiny_model
from test_no_torch import run_blocked

N = 300


class Returns:
    """A 'generator' drawing from a pool of uint8 (N, C, H, W) images, picked by z, through `change`."""

    nz = 8

    def __init__(self, pool: np.ndarray, change=lambda x, z: x):
        self.pool, self.change = pool, change

    def images(self, z: np.ndarray) -> np.ndarray:
        idx = (np.abs(z[:, 0]) * 1e6).astype(np.int64) % len(self.pool)
        return self.change(self.pool[idx], z).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def mnist():
    ds = datasets.load("mnist")
    train_idx, held_idx = split.split("mnist", len(ds.images))
    return ds, train_idx, held_idx


def noisy(sigma: float):
    def change(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(int(abs(z[0, 0]) * 1e6))
        return np.clip(x + rng.normal(0, sigma * 255, x.shape), 0, 255).astype(np.uint8)

    return change


def blurred(radius: float):
    def change(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        if radius == 0:
            return x
        return np.stack([np.asarray(Image.fromarray(img[0]).filter(ImageFilter.GaussianBlur(radius)))[None] for img in x])

    return change


@pytest.mark.slow
@pytest.mark.parametrize("change", [noisy, blurred])
def test_noise_and_blur_raise_fd_and_kid_with_their_strength(mnist, change):
    ds, _, held_idx = mnist
    strengths = (0.0, 0.1, 0.2, 0.4) if change is noisy else (0.0, 0.7, 1.4, 2.8)
    # the same held-out images each time (z picks them), changed more and more
    results = [evaluate(Returns(ds.images[held_idx], change(s)), "mnist", 200, memorisation=False) for s in strengths]
    fds = [r.metrics["fd"] for r in results]
    kids = [r.metrics["kid"] for r in results]
    assert fds == sorted(fds) and len(set(fds)) == len(fds), fds
    assert kids == sorted(kids) and len(set(kids)) == len(kids), kids


def test_real_held_out_images_score_like_the_baseline(mnist):
    ds, _, held_idx = mnist
    r = evaluate(Returns(ds.images[held_idx]), "mnist", N, memorisation=False)
    for key in ("precision", "recall", "density", "coverage"):
        assert r.metrics[key] == pytest.approx(r.baseline[key], abs=0.1), key
    assert r.metrics["fd"] < 2 * r.baseline["fd"]
    assert r.class_coverage.drawn == 10 and not r.class_coverage.under_drawn


def test_a_generator_of_one_class_covers_one_class_with_low_recall(mnist):
    ds, train_idx, _ = mnist
    threes = ds.images[train_idx][ds.labels[train_idx] == 3]
    r = evaluate(Returns(threes), "mnist", N, memorisation=False)
    cov = r.class_coverage
    assert cov.drawn == 1 and cov.share[3] > 0.9
    assert set(cov.dropped) == {str(d) for d in range(10)} - {"3"}
    assert r.metrics["recall"] < r.baseline["recall"] / 3
    assert r.metrics["coverage"] < r.baseline["coverage"] / 3
    assert r.metrics["precision"] > r.baseline["precision"] * 0.8  # real threes: each one is faithful


def test_jittered_training_images_are_flagged_as_copies_and_held_out_images_are_not(mnist):
    ds, train_idx, held_idx = mnist
    copier = evaluate(Returns(ds.images[train_idx], noisy(0.01)), "mnist", N)
    assert copier.copying.copies and "copies its training data" in copier.memorisation["verdict"]
    assert copier.copying.pixels.c_t < -3 and copier.copying.features.c_t < -3 and copier.copying.near_copies > 0.5
    honest = evaluate(Returns(ds.images[held_idx], noisy(0.01)), "mnist", N)
    assert not honest.copying.copies and "no sign of copying" in honest.memorisation["verdict"]


def test_a_generator_of_unseen_4s_and_9s_is_not_called_a_copier(mnist):
    """Real unseen 4s and 9s sit nearer the training set than the held-out mix of all digits does (dense
    digits); within cells they are compared with the held-out 4s and 9s, as C_T does, and nothing is copied."""
    ds, _, held_idx = mnist
    fours_and_nines = ds.images[held_idx][np.isin(ds.labels[held_idx], (4, 9))]
    r = evaluate(Returns(fours_and_nines), "mnist", 1000)
    c = r.copying
    for space in (c.features, c.pixels):
        assert space.cells == 20 and space.cells_tested >= 2 and space.tested_share > 0.8
        assert space.c_t > -3
    assert not c.copies and "no sign of copying" in r.memorisation["verdict"]


def _same(a, b) -> bool:
    """Two Results equal in every figure (how long each took, and where the real side came from, aside)."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        del d["seconds"], d["real_side"]
    return da == db


def test_the_real_side_is_computed_once_then_read_back_and_never_served_stale(mnist, tmp_path, monkeypatch):
    from ganstudio.eval import features, realside

    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(realside, "_MEMO", {})
    ds, train_idx, held_idx = mnist
    gen = Returns(ds.images[held_idx], noisy(0.1))
    first = evaluate(gen, "mnist", N)
    assert first.real_side == "computed"
    files = list((tmp_path / "cache" / "eval").glob("*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(realside, "_MEMO", {})  # a new process: from disk
    again = evaluate(gen, "mnist", N)
    assert again.real_side == "cache" and _same(first, again)
    other = evaluate(Returns(ds.images[train_idx], noisy(0.3)), "mnist", N)  # another generator, the same real side
    assert other.real_side == "cache" and other.baseline == first.baseline and other.metrics != first.metrics

    files[0].write_bytes(files[0].read_bytes()[:1000])  # a torn file is computed again, not trusted
    monkeypatch.setattr(realside, "_MEMO", {})
    torn = evaluate(gen, "mnist", N)
    assert torn.real_side == "computed" and _same(first, torn)
    assert evaluate(gen, "mnist", N, seed=1).real_side == "computed"  # other reference images: another entry
    assert evaluate(gen, "mnist", N, memorisation=False).real_side == "computed"

    net = features.for_dataset("mnist")
    parts = {"reference": ds.images[train_idx[:N]].copy(), "held_out": ds.images[held_idx[:N]].copy()}
    base = realside.key(net, parts, "seed 0")
    assert realside.key(net, parts, "seed 1") != base
    assert realside.key(features.user(str(net.path)), parts, "seed 0") != base  # the same graph as --features: no logits
    parts["held_out"][7, 0, 14, 14] ^= 1  # one pixel of one image
    assert realside.key(net, parts, "seed 0") != base


def test_the_real_sides_key_holds_every_setting_its_arrays_depend_on(mnist, monkeypatch):
    """The cells' and radii's settings and how images are prepared for the net: a change to any of them
    must give another cache entry, never stale cells."""
    from ganstudio.eval import copying, features, metrics, realside

    ds, train_idx, held_idx = mnist
    net = features.for_dataset("mnist")
    parts = {"reference": ds.images[train_idx[:N]], "held_out": ds.images[held_idx[:N]]}
    base = realside.key(net, parts, "seed 0")
    for module, name in ((copying, "HELD_PER_CELL"), (copying, "MAX_CELLS"), (copying, "KMEANS_ROUNDS"),
                         (copying, "PIXEL_SIDE"), (metrics, "K_PR"), (metrics, "K_DC")):
        with monkeypatch.context() as m:
            m.setattr(module, name, getattr(module, name) + 1)
            assert realside.key(net, parts, "seed 0") != base, name
    with monkeypatch.context() as m:  # the net's preprocessing: the same file, images scaled otherwise
        m.setattr(features.FeatureNet, "prepare", lambda self, x: x.astype(np.float32) / 256.0)
        assert realside.key(net, parts, "seed 0") != base
    assert realside.key(net, parts, "seed 0") == base


def test_an_unwritable_cache_warns_once_and_changes_nothing(mnist, tmp_path, monkeypatch):
    from ganstudio.eval import realside

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "file"))  # a file where the folder should be
    monkeypatch.setattr(realside, "_MEMO", {})
    ds, _, held_idx = mnist
    warnings: list[str] = []
    result = evaluate(Returns(ds.images[held_idx]), "mnist", N, warn=warnings.append)
    assert result.real_side == "computed" and len(warnings) == 1
    assert warnings[0].startswith("cannot cache the real side of this eval (cannot write ")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "ok"))
    monkeypatch.setattr(realside, "_MEMO", {})
    assert _same(result, evaluate(Returns(ds.images[held_idx]), "mnist", N))


def test_exact_copies_are_counted_when_held_out_images_duplicate_training_images(mnist, monkeypatch):
    """4% of the held-out digits replaced by training digits: the held-out 1% quantile of the distances is 0,
    and a generator returning training digits a third of the time must still show as near copies."""
    from ganstudio.eval import run

    ds, train_idx, held_idx = mnist
    images = ds.images.copy()
    images[held_idx[::25]] = images[train_idx[: len(held_idx[::25])]]
    monkeypatch.setattr(run, "_dataset", lambda name, data_dir, size: datasets.Dataset("mnist", images, ds.labels))

    def a_third_copied(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        copies = images[train_idx[(np.abs(z[:, 2]) * 1e6).astype(int) % len(train_idx)]]
        return np.where((np.abs(z[:, 1]) < 0.43)[:, None, None, None], copies, x)  # P(|z| < 0.43) = 1/3

    r = evaluate(Returns(images[held_idx], a_third_copied), "mnist", 1000)
    c = r.copying
    assert c.near_copies_held_out > 0.02 and 0.25 < c.near_copies < 0.45 and c.copies
    assert "copies its training data" in r.memorisation["verdict"]


def test_every_training_image_is_searched_and_the_verdict_says_how_many(mnist, monkeypatch):
    """25,000 digits (MNIST's 5,000, shifted by 0-4 pixels), 15,000 of them for training: a generator that
    returns training images is seen copying every time, not only when its image is among the searched."""
    from ganstudio.eval import run

    ds, _, _ = mnist
    images = np.concatenate([np.roll(ds.images, shift, axis=3) for shift in range(5)])
    labels = np.concatenate([ds.labels] * 5)
    monkeypatch.setattr(run, "_dataset", lambda name, data_dir, size: datasets.Dataset("mnist", images, labels))
    train_idx, _ = split.split("mnist", len(images))
    assert len(train_idx) == 15_000
    r = evaluate(Returns(images[train_idx]), "mnist", N)
    assert r.sizes["memorisation_search"] == r.copying.training_images == 15_000
    assert r.copying.near_copies == 1.0 and "all 15,000 training images searched" in r.memorisation["verdict"]


def test_class_boundaries_draw_each_latent_once(mnist, monkeypatch):
    from ganstudio.eval import boundaries
    from ganstudio.explore import latent

    ds, _, held_idx = mnist
    drawn: list[int] = []
    real_z_batch = latent.z_batch

    def counted(first_seed: int, n: int, nz: int) -> np.ndarray:
        drawn.append(n)
        return real_z_batch(first_seed, n, nz)

    monkeypatch.setattr(latent, "z_batch", counted)
    gen = Returns(ds.images[held_idx])
    gen.nz = 16  # room for ten independent class normals
    boundaries.compute(gen, "mnist", "0" * 64, n=500)
    assert sum(drawn) == 500 + boundaries.EFFECT_SEEDS


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("eval") / "tiny-mnist", dataset="mnist")


def test_eval_writes_eval_json_and_a_sheet_and_leaves_the_model_byte_identical(tiny_mnist):
    before = {name: (tiny_mnist / name).read_bytes() for name in (WEIGHTS, GRAPH, CARD)}
    result = CliRunner().invoke(app, ["eval", str(tiny_mnist), "--n", "100"])
    assert result.exit_code == 0, result.output
    assert "real vs real" in result.output and "not Inception-FID" in result.output and "memorisation:" in result.output
    assert re.search(r"took [\d.]+ s generating, .* the real side \(the data's features and baseline\): [\d.]+ s, "
                     r"(computed, and cached for the next eval of this data|read from the cache)", " ".join(result.output.split()))
    assert {name: (tiny_mnist / name).read_bytes() for name in before} == before
    saved = json.loads((tiny_mnist / EVAL_FILE).read_text())
    assert saved["model_sha256"] == images.read_recipe(tiny_mnist / "grid.png")["model_sha256"]
    assert saved["n"] == 100 and saved["space"]["name"] == "mnist" and saved["classes"]["names"][0] == "0"
    assert {"fd", "kid", "kid_se", "precision", "recall", "density", "coverage"} <= set(saved["baseline"])
    assert saved["k"] == {"precision": 3, "recall": 3, "density": 5, "coverage": 5}
    sheet = images.read_recipe(tiny_mnist / SHEET_FILE)
    assert sheet["op"] == "eval-neighbours" and len(sheet["seeds"]) == 8
    lines, path = markdown(ModelDir(tiny_mnist))
    assert lines[0].startswith("| measure") and path == tiny_mnist / SHEET_FILE
    info = CliRunner().invoke(app, ["info", str(tiny_mnist)], terminal_width=200)
    assert "eval FD" in info.output and "real vs real" in info.output and "STALE" not in info.output
    assert "eval precision (k=3)" in info.output and "eval coverage (k=5)" in info.output and "KID ± s.e." in info.output


def test_an_eval_of_other_weights_is_reported_stale(tiny_mnist, tmp_path):
    model = shutil.copytree(tiny_mnist, tmp_path / "m")
    if not (model / EVAL_FILE).is_file():
        assert CliRunner().invoke(app, ["eval", str(model), "--n", "100"]).exit_code == 0
    saved = json.loads((model / EVAL_FILE).read_text())
    (model / EVAL_FILE).write_text(json.dumps({**saved, "model_sha256": "0" * 64}))
    result, current = read(ModelDir(model))
    assert result is not None and not current
    lines, sheet = markdown(ModelDir(model))
    assert any("STALE" in line for line in lines) and sheet is None
    assert "STALE" in CliRunner().invoke(app, ["info", str(model)], terminal_width=200).output


def test_an_eval_json_of_an_older_format_reads_as_no_eval(tiny_mnist, tmp_path):
    """Format 2 measured C_T against the whole training set, KID on raw features and coverage with k = 3:
    its figures are not shown as if they were today's."""
    model = shutil.copytree(tiny_mnist, tmp_path / "m")
    if not (model / EVAL_FILE).is_file():
        assert CliRunner().invoke(app, ["eval", str(model), "--n", "100"]).exit_code == 0
    saved = json.loads((model / EVAL_FILE).read_text())
    assert saved["format"] == 3 and read(ModelDir(model))[0] is not None
    (model / EVAL_FILE).write_text(json.dumps({**saved, "format": 2}))
    assert read(ModelDir(model)) == (None, False)
    assert markdown(ModelDir(model))[1] is None


@pytest.mark.slow
def test_unlabelled_data_uses_the_random_net_and_says_so(tmp_path):
    model = make_tiny_model(tmp_path / "tiny-emoji", image_size=64, channels=3, dataset="emoji")
    result = CliRunner().invoke(app, ["eval", str(model), "--n", "60"], terminal_width=200)
    assert result.exit_code == 0, result.output
    saved = json.loads((model / EVAL_FILE).read_text())
    assert saved["space"]["name"] == "random-rgb64" and saved["classes"] is None
    assert "randomly initialised" in result.output and "not Inception-FID" in result.output


def test_a_users_feature_net_is_checked_for_shape(tiny_mnist, tmp_path):
    from ganstudio.eval.nets import NETS_DIR

    model = shutil.copytree(tiny_mnist, tmp_path / "m")
    ok = CliRunner().invoke(app, ["eval", str(model), "--n", "60", "--features", str(NETS_DIR / "mnist.onnx"), "--replace"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((model / EVAL_FILE).read_text())["space"]["kind"] == "user"
    bad = CliRunner().invoke(app, ["eval", str(model), "--n", "60", "--features", str(model / GRAPH), "--replace"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "(batch, C, H, W)" in bad.output
    missing = CliRunner().invoke(app, ["eval", str(model), "--features", str(tmp_path / "none.onnx")])
    assert missing.exit_code == 2 and "expected an existing .onnx file" in missing.output


def test_eval_refuses_bad_input_in_one_line(tiny_mnist):
    for args in (["--n", "5"], ["--n", "20000"]):
        result = CliRunner().invoke(app, ["eval", str(tiny_mnist), *args])
        assert result.exit_code == 2 and "out of range" in result.output
    assert "coverage" not in CliRunner().invoke(app, ["--help"]).output


def test_eval_runs_without_torch(tiny_mnist, tmp_path):
    model = shutil.copytree(tiny_mnist, tmp_path / "m")
    code = f"""
from ganstudio.cli import app
import sys
app(["eval", {str(model)!r}, "--n", "60"], standalone_mode=False)
assert "torch" not in sys.modules
print("ok")
"""
    p = run_blocked(code, tmp_path)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr
    assert (model / EVAL_FILE).is_file()


def test_hold_out_trains_on_the_training_part_only(mnist, tmp_path, monkeypatch):
    from ganstudio.train import loop, recipe, state

    ds, train_idx, held_idx = mnist
    assert not set(train_idx) & set(held_idx) and len(train_idx) + len(held_idx) == len(ds.images)
    part = split.training_part(ds)
    assert (part.images == ds.images[train_idx]).all() and (part.labels == ds.labels[train_idx]).all()
    monkeypatch.setattr(loop, "export_run", lambda run_dir: None)
    tiny = dict(nz=8, ngf=8, ndf=8, batch_size=50, steps=1, eval_every=0)
    for hold_out, per_epoch in ((False, 100), (True, 50)):
        run = tmp_path / str(hold_out)
        loop.train(recipe.make(dataset="mnist", hold_out=hold_out, **tiny), run, tensorboard=False)
        assert state.read(state.latest(run))[0]["steps_per_epoch"] == per_epoch


def _result_with(metrics: dict, baseline: dict) -> Result:
    """The shipped mnist-dcgan's eval with the given figures in place of its own."""
    shipped = json.loads((Path(__file__).resolve().parents[1] / "checkpoints" / "mnist-dcgan" / EVAL_FILE).read_text())
    return Result.from_dict({**shipped, "metrics": metrics, "baseline": baseline})


@pytest.mark.parametrize("key,mine,base,words", [
    ("fd", 5.0, 4.0, "like real data (1.2x real data's)"),
    ("fd", 12.5, 3.59, "near real data (3.5x real data's)"),
    ("fd", 89.8, 0.753, "far from real data (119.3x real data's)"),
    ("precision", 0.87, 0.91, "like real data (96% of real data's)"),
    ("recall", 0.70, 0.91, "well below real data (77% of real data's)"),
    ("coverage", 0.19, 0.97, "far below real data (20% of real data's)"),
])
def test_the_cards_verdict_words_follow_the_measures_direction(key, mine, base, words):
    from ganstudio.eval.report import in_words

    assert in_words(_result_with({key: mine}, {key: base}), key) == words


def test_kid_in_words_counts_standard_errors_above_real_data():
    from ganstudio.eval.report import in_words

    def kid(mine, se, base, base_se):
        return in_words(_result_with({"kid": mine, "kid_se": se}, {"kid": base, "kid_se": base_se}), "kid")

    assert kid(0.0154, 0.0048, 0.0021, 0.0030) == "2 standard errors above real data"
    assert kid(0.004, 0.003, 0.002, 0.003) == "not told apart from real data at this n"
    assert kid(0.389, 0.0114, -0.00017, 0.00148) == "34 standard errors above real data"
