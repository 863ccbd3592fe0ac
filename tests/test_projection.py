"""Bring your own image: the encoder built beside a model, projecting an image onto its latent space (CLI and
studio), and the one-line refusals of files that cannot be projected."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.errors import UserError
from ganstudio.explore import images, latent, limits, projection, runtime

NZ = 16


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def encoded(tmp_path_factory) -> tuple[Path, dict, dict[str, str]]:
    """A tiny generator whose images vary (He-initialised, its last layer x4: the DCGAN init draws near-constant
    grey before training), with an encoder built beside it; (model dir, the build's record, its files before)."""
    import torch
    from torch import nn

    from ganstudio.artifact.checkpoint import Card
    from ganstudio.train import encoder
    from ganstudio.train.export import export_generator
    from ganstudio.train.models import DCGANGenerator

    torch.manual_seed(3)
    g = DCGANGenerator(nz=NZ, ngf=8, image_size=28, channels=1)
    for m in g.modules():
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    g.net[-2].weight.data *= 4
    folder = tmp_path_factory.mktemp("models") / "tiny-he"
    card = Card(architecture={"name": "dcgan", "nz": NZ, "ngf": 8, "image_size": 28, "channels": 1},
                output_range=(-1.0, 1.0), dataset="synthetic", training={"steps": 0})
    export_generator(g, card, folder)
    before = _digest(folder)
    torch_settings = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    record = encoder.build(str(folder), steps=300)
    # a later training in this process (test_train's resume test) must run as it would alone
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == torch_settings
    return folder, record, before


def test_the_encoder_beats_random_samples_and_leaves_the_model_alone(encoded):
    folder, record, before = encoded
    after = _digest(folder)
    assert {k: after[k] for k in before} == before  # generator.safetensors (the identity) and the rest: untouched
    assert set(after) - set(before) == {projection.ENCODER_GRAPH, projection.ENCODER_RECORD}
    saved = json.loads((folder / projection.ENCODER_RECORD).read_text())
    assert saved["generator_sha256"] == hashlib.sha256((folder / "generator.safetensors").read_bytes()).hexdigest()
    assert saved["graph_sha256"] == after[projection.ENCODER_GRAPH]
    assert (saved["nz"], saved["image_size"], saved["channels"]) == (NZ, 28, 1)
    assert saved["parity"]["max_abs_diff"] <= saved["parity"]["tolerance"]
    t = saved["training"]
    assert t["steps"] == 300 and t["encoder_mse"] < t["nearest_random_mse"] / 2
    gen = runtime.load(folder)
    enc, note = projection.encoder_for(gen)
    assert enc is not None and note == ""


def test_projecting_a_sample_recovers_its_image(encoded):
    folder, _, _ = encoded
    gen = runtime.load(folder)
    z_true = latent.z_from_seed(123_456, NZ)
    target = gen.images(z_true[None])[0]
    p = projection.project(gen, target)
    assert p.start == "encoder" and p.note == ""
    assert p.error <= p.start_error and p.rounds == limits.PROJECT_ROUNDS_DEFAULT
    assert np.array_equal(p.image, gen.images(p.z[None])[0])
    assert np.all(np.abs(p.z) <= limits.LATENT.hi)  # every dimension fits its slider
    _, nearest = projection.nearest_sample(gen, target.astype(np.float32) / 255, 4 * p.evaluations, seed=10**6)
    assert p.error < nearest / 2  # clearly closer than the nearest of 4x as many random samples
    again = projection.project(gen, target)
    assert np.array_equal(again.z, p.z)  # seeded


def test_without_an_encoder_the_search_starts_from_random_samples_and_says_so(encoded, tmp_path):
    folder, _, _ = encoded
    bare = Path(shutil.copytree(folder, tmp_path / "bare"))
    (bare / projection.ENCODER_GRAPH).unlink()
    gen = runtime.load(bare)
    target = gen.images(latent.z_from_seed(4321, NZ)[None])[0]  # not one of the seeds 0..511 it starts from
    p = projection.project(gen, target, rounds=10)
    assert p.start == "random" and "has no encoder" in p.note and "ganstudio encoder" in p.note
    _, nearest = projection.nearest_sample(gen, target.astype(np.float32) / 255, limits.PROJECT_SAMPLES)
    assert p.start_error == pytest.approx(nearest) and p.error < nearest


def test_a_stale_or_damaged_encoder_is_not_used(encoded, tmp_path):
    folder, _, _ = encoded
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    record = json.loads((copy / projection.ENCODER_RECORD).read_text())
    (copy / projection.ENCODER_RECORD).write_text(json.dumps({**record, "generator_sha256": "0" * 64}))
    assert "stale" in projection.encoder_for(runtime.load(copy))[1]
    (copy / projection.ENCODER_RECORD).write_text(json.dumps(record))
    (copy / projection.ENCODER_GRAPH).write_bytes(b"not onnx")
    assert "sha256 differs" in projection.encoder_for(runtime.load(copy))[1]
    (copy / projection.ENCODER_RECORD).write_text("{")
    assert "damaged" in projection.encoder_for(runtime.load(copy))[1]


def test_an_image_is_brought_to_the_models_size_and_channels(tmp_path):
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 20:60] = (255, 0, 0)  # the centre square is red, the sides black
    Image.fromarray(wide).save(tmp_path / "wide.png")
    grey = projection.read_image(tmp_path / "wide.png", 28, 1)
    assert grey.shape == (28, 28, 1) and np.all(grey[2:-2, 2:-2] == 76)  # red's luma (Pillow's L): the centre square
    assert projection.read_image(tmp_path / "wide.png", 32, 3).shape == (32, 32, 3)
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert projection.read_image(tmp_path / "clear.png", 32, 3).min() == 255  # transparency on white


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("hello"), "not an image Pillow can read"),
    (lambda p: None, "cannot read it"),
    (lambda p: Image.new("L", (6400, 6400)).save(p), "images up to 40,000,000 pixels"),
])
def test_files_that_cannot_be_projected_are_one_line(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(UserError, match=message) as e:
        projection.read_image(path, 28, 1)
    assert "\n" not in str(e.value)


def test_a_huge_file_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1100, 1000), dtype=np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setattr(limits, "PROJECT_BYTES", 2**20)
    with pytest.raises(UserError, match=r"a.png is 1\.\d MiB: images up to 1 MiB can be read"):
        projection.read_image(tmp_path / "a.png", 28, 1)


def test_the_cli_writes_the_reconstruction_with_its_exact_vector(encoded, tmp_path):
    folder, _, _ = encoded
    gen = runtime.load(folder)
    target = tmp_path / "target.png"
    Image.fromarray(gen.images(latent.z_from_seed(5, NZ)[None])[0][..., 0]).save(target)
    out = tmp_path / "o.png"
    cmd = [sys.executable, "-m", "ganstudio", "project", str(target), "--model", str(folder), "--out", str(out), "--steps", "5"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "target.png: error (pixel MSE) 0." in done.stdout and " s\n" in done.stdout and "5 search rounds" in done.stdout
    recipe = images.read_recipe(out)
    assert recipe["op"] == "project" and recipe["model_sha256"] == gen.sha256 and recipe["source"] == "target.png"
    z = np.asarray(recipe["vector"]["z"], np.float32)
    with Image.open(out) as im:
        pixels = np.asarray(im)
    assert np.array_equal(pixels[2:-2, 2:-2], gen.images(z[None])[0][..., 0])  # the vector re-makes the image

    from ganstudio.studio import views
    from ganstudio.studio.service import Studio

    studio = Studio(str(folder), out_dir=tmp_path / "studio")
    s = studio.new_session(studio.models.default, seed=3)
    assert "Restored o.png" in views.restore_png(studio, s, str(out))
    assert np.array_equal(studio.vector(s).z, z)  # dropping the PNG brings back exactly that vector

    bad = subprocess.run([*cmd[:-1], "501"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr == "error: --steps 501 is out of range: use 0..500\n"
    written = out.read_bytes()
    missing = subprocess.run([*cmd[:4], str(tmp_path / "nope.png"), *cmd[5:]], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("error: nope.png: cannot read it")
    assert missing.stderr.count("\n") == 1 and out.read_bytes() == written  # one line, and --out left alone


def test_dropping_a_foreign_image_in_the_studio_makes_its_projection_current(encoded, tmp_path):
    from ganstudio.studio import views
    from ganstudio.studio.service import Studio

    folder, _, _ = encoded
    studio = Studio(str(folder), out_dir=tmp_path / "studio")
    s = studio.new_session(studio.models.default, seed=3)
    gen = studio.generator(s.model)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(gen.images(latent.z_from_seed(77, NZ)[None])[0][..., 0]).resize((90, 90)).save(photo, comment=b"taken by a camera")
    line = views.restore_png(studio, s, str(photo))
    assert line.startswith("Projected photo.jpg onto tiny-he: error (pixel MSE) 0.") and " s" in line and "\n" not in line
    z = studio.vector(s).z
    assert np.array_equal(z, projection.project(gen, projection.read_image(photo, 28, 1)).z)
    assert images.read_recipe(studio.current(s)[0])["vector"]["z"] == [float(x) for x in z]
    views.set_dim(studio, s, 0, 2.5)  # editable like any other vector
    assert studio.vector(s).z[s.view[0]] == pytest.approx(2.5)
    assert s.undo() and np.array_equal(studio.vector(s).z, z)
    assert s.undo() and s.state().edits == {} and s.seed == 3  # the drop itself is one undoable step

    before = s.state()
    (tmp_path / "torn.png").write_bytes(images.png_bytes(Image.new("L", (8, 8)), {})[:30])
    with pytest.raises(UserError, match="torn.png: not an image ganstudio can read") as e:
        views.restore_png(studio, s, str(tmp_path / "torn.png"))
    assert "\n" not in str(e.value) and str(tmp_path) not in str(e.value)  # one line, without the server's path
    assert s.state() == before


def test_a_projection_far_from_anything_the_model_draws_is_called_poor():
    """Issue 22 defect 6: a random-noise image was projected to a clean digit without a word."""
    gen = runtime.load("mnist-dcgan")
    digit = gen.images(latent.z_from_seed(77, gen.nz)[None])[0]  # an image the model can draw
    noise = np.random.default_rng(0).integers(0, 256, digit.shape, dtype=np.uint8)
    good, bad = projection.project(gen, digit), projection.project(gen, noise)
    assert good.apart == bad.apart == pytest.approx(projection.apart(gen)) and good.apart > 0
    assert not good.poor and "POOR MATCH" not in good.summary()
    assert bad.poor and bad.summary().startswith("POOR MATCH") and bad.recipe()["poor"] is True
    assert bad.error > projection.POOR * bad.apart > good.error
