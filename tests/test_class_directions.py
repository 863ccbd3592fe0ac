"""Class directions: the boundary fit on planted data, the directions' effect on the shipped MNIST generator
(measured here with the shipped classifier), the strict file beside a model, `ganstudio directions` and
`sample --direction`, the /v1 route, and the studio's callbacks around them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from ganstudio.artifact import catalog
from ganstudio.artifact.catalog import ModelDir
from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.cli import app
from ganstudio.errors import UserError
from ganstudio.eval import boundaries, classes, features
from ganstudio.explore import class_directions, images, latent, runtime
from ganstudio.explore.class_directions import CLASS, CONDITIONAL, FILE, ClassDirections
from ganstudio.studio import recipes, routes, views
from ganstudio.studio.service import Studio

from conftest import SHIPPED

def shipped_labelled() -> list[str]:
    """The shipped checkpoints of a dataset ganstudio has a classifier for: each ships its class directions."""
    from ganstudio.artifact.checkpoint import read_card

    root = catalog.REPO_ROOT / "checkpoints"
    return sorted(p.parent.name for p in root.glob("*/generator.safetensors") if read_card(p).dataset in features.SHIPPED)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# -- the fit, on planted boundaries ---------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [0.3, -1.5])  # balanced, and a class 1 in 15 samples fall in
def test_the_fit_recovers_a_planted_linear_boundary(bias):
    rng = np.random.default_rng(4)
    truth = unit(rng.standard_normal(20))
    z = rng.standard_normal((4000, 20))
    y = z @ truth + bias + 0.3 * rng.standard_normal(4000) > 0  # a noisy boundary
    w, b = boundaries.fit(z, y)
    assert float(unit(w) @ truth) > 0.97  # the normal, pointing into the class
    fresh = rng.standard_normal((4000, 20))
    y_fresh = fresh @ truth + bias > 0
    assert boundaries.balanced_accuracy(fresh, y_fresh, w, b) > 0.9


def test_the_fit_refuses_labels_on_one_side():
    with pytest.raises(UserError, match="both sides"):
        boundaries.fit(np.zeros((10, 3)), np.zeros(10, bool))


def test_the_conditional_directions_are_orthogonal_to_every_other_class():
    rng = np.random.default_rng(5)
    normals = unit(rng.standard_normal((4, 12))).astype(np.float32)
    cond = ClassDirections(("a", "b", "c", "d"), normals).conditional
    np.testing.assert_allclose(np.linalg.norm(cond, axis=1), 1, atol=1e-6)
    gram = cond @ normals.T
    assert np.all(np.abs(gram[~np.eye(4, dtype=bool)]) < 1e-5)
    assert np.all(np.diag(gram) > 0)  # still toward its own class


def test_names_are_found_as_a_person_types_them():
    cd = ClassDirections(("T-shirt", "sandal", "ankle boot"), np.eye(3, 4, dtype=np.float32))
    assert [cd.index(n) for n in ("sandal", "→ sandal", "->Sandal", "Ankle-Boot", "ankle_boot", "t shirt")] == [1, 1, 1, 2, 2, 0]
    with pytest.raises(UserError, match="'boot' is not a class direction of this model: use one of T-shirt, sandal, ankle boot"):
        cd.index("boot")


# -- the shipped MNIST generator ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, ClassDirections]:
    """A copy of the shipped MNIST model with class directions made by `ganstudio directions`' own code."""
    model = Path(shutil.copytree(SHIPPED, tmp_path_factory.mktemp("fitted") / "mnist-dcgan"))
    (model / FILE).unlink(missing_ok=True)
    cd, path = boundaries.for_model(str(model))
    assert path == model / FILE
    return model, cd


def success_rates(model: Path, cd: ClassDirections, method: str, seeds: range, amount: float) -> list[float]:
    """Per class: the share of seeds whose P(class), by the shipped classifier, rises when z moves along it."""
    gen, net = runtime.load(model), features.shipped("mnist")
    z = latent.z_batch(seeds.start, len(seeds), gen.nz)

    def probs(zs: np.ndarray) -> np.ndarray:
        return classes.softmax(net.run(gen.images(zs.astype(np.float32)).transpose(0, 3, 1, 2))[1].astype(np.float64))

    before = probs(z)
    column = {name: i for i, name in enumerate(classes.CLASS_NAMES["mnist"])}
    return [float((probs(z + amount * d)[:, column[name]] > before[:, column[name]]).mean())
            for name, d in zip(cd.names, cd.bases()[method])]


@pytest.mark.slow
@pytest.mark.parametrize("method", [CLASS, CONDITIONAL])
def test_moving_along_a_class_direction_raises_that_class_on_most_seeds(fitted, method):
    model, cd = fitted
    assert len(cd.names) >= 8  # the shipped generator draws (nearly) every digit
    rates = success_rates(model, cd, method, range(50_000, 50_100), boundaries.EFFECT_AMOUNT)  # seeds the fit never saw
    print(f"{method}: P(class) raised on " + ", ".join(f"{n} {r:.0%}" for n, r in zip(cd.names, rates)))
    assert all(r > 0.5 for r in rates), dict(zip(cd.names, rates))


def test_the_file_keeps_what_it_was_made_from_and_the_model_is_untouched(fitted):
    model, cd = fitted
    info = cd.info
    assert info["model_sha256"] == sha256_file(model / "generator.safetensors") == sha256_file(SHIPPED / "generator.safetensors")
    assert (info["dataset"], info["samples"], info["seed"]) == ("mnist", boundaries.DEFAULT_SAMPLES, 0)
    assert info["classifier"]["sha256"] == features.shipped("mnist").card["sha256"]
    assert [b["class"] for b in info["boundaries"]] == list(cd.names)
    assert all(0.5 < b["held_out_accuracy"] <= 1 for b in info["boundaries"])
    for name in ("generator.safetensors", "generator.onnx", "card.json"):
        assert (model / name).read_bytes() == (SHIPPED / name).read_bytes()
    again = class_directions.of(ModelDir(model), 100, info["model_sha256"])
    assert again.names == cd.names and np.array_equal(again.normals, cd.normals) and again.info == cd.info


@pytest.mark.parametrize("name", shipped_labelled())
def test_the_shipped_models_class_directions_are_current(name):
    model = catalog.REPO_ROOT / "checkpoints" / name
    gen = runtime.load(model)
    found = class_directions.of(gen.model, gen.nz, gen.sha256, name)  # stale after retraining: re-run the command it names
    assert found is not None, f"re-make it: {class_directions.command(name)}"
    assert found.info["dataset"] == gen.card.dataset and len(found.names) >= 2


# -- the file's strict reader ---------------------------------------------------------------------------------


def refused(tmp_path: Path, data: bytes, nz: int = 8, sha: str = "a" * 64) -> str:
    (tmp_path / FILE).write_bytes(data)
    with pytest.raises(UserError) as e:
        class_directions.of(ModelDir(tmp_path), nz, sha, "m")
    message = str(e.value)
    assert "\n" not in message and "ganstudio directions m" in message
    return message


def test_a_stale_foreign_or_damaged_file_is_refused_in_one_line(tmp_path):
    from safetensors.numpy import save

    good = ClassDirections(("0", "1", "2"), unit(np.random.default_rng(0).standard_normal((3, 8))).astype(np.float32),
                           {"model_sha256": "a" * 64})
    data = class_directions.to_bytes(good)
    assert "other weights" in refused(tmp_path, data, sha="b" * 64)
    assert "expected (3, 16)" in refused(tmp_path, data, nz=16)
    assert "not a readable safetensors file" in refused(tmp_path, b"\x80\x04\x95" + b"pickle" * 20)
    assert "not a readable safetensors file" in refused(tmp_path, data[: len(data) // 2])
    assert "not a ganstudio class-directions file" in refused(tmp_path, (SHIPPED / "generator.safetensors").read_bytes())
    assert "not a ganstudio class-directions file" in refused(tmp_path, save({"normals": np.eye(3, 8)}, metadata=None))
    record = json.dumps({"format": class_directions.FORMAT, "version": 1, "classes": ["0", "1", "2"], "model_sha256": "a" * 64})
    assert "not finite unit vectors" in refused(tmp_path, save({"normals": 2 * good.normals}, metadata={class_directions.META: record}))
    twice = json.dumps({**json.loads(record), "classes": ["0", "0", "2"]})
    assert "distinct classes" in refused(tmp_path, save({"normals": good.normals}, metadata={class_directions.META: twice}))
    future = json.dumps({**json.loads(record), "version": 2})
    assert "format version 2" in refused(tmp_path, save({"normals": good.normals}, metadata={class_directions.META: future}))
    (tmp_path / FILE).write_bytes(data)
    assert class_directions.of(ModelDir(tmp_path), 8, "a" * 64).names == ("0", "1", "2")


# -- the command line ---------------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=400, env={"COLUMNS": "400"})  # rich's tables: no wrapping
    return result.exit_code, result.output


@pytest.mark.slow
def test_directions_writes_the_file_and_leaves_the_model_byte_identical(tmp_path):
    model = Path(shutil.copytree(SHIPPED, tmp_path / "m"))
    (model / FILE).unlink(missing_ok=True)
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    code, out = run("directions", str(model), "--n", "500", "--seed", "3")
    assert code == 0, out
    assert "→ 7" in out and f"wrote {model / FILE}" in out
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file() and p.name != FILE} == before
    assert class_directions.of(ModelDir(model), 100, sha256_file(model / "generator.safetensors")).info["seed"] == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["directions", "--n", "10"], "--n 10 is out of range: use 500..20000"),
        (["sample", "--conditional"], "--conditional goes with --direction NAME"),
        (["sample", "--direction", "7", "--dim", "3"], "--dim and --direction: sweep one or the other"),
        (["sample", "--direction", "7", "--range", "-11", "3"], "--range -11.0 is out of range: use -10..10"),
        (["sample", "--direction", "7", "--range", "3", "1"], "--range 3 1: the first value must be below the second"),
    ],
)
def test_mistakes_are_one_line(args, message):
    code, out = run(*args)
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1


def test_a_model_of_unlabelled_data_or_without_directions_says_so(tiny_model, fitted):
    code, out = run("directions", str(tiny_model))
    assert code == 2 and "need a labelled dataset with a shipped classifier (fashion-mnist, mnist)" in out and "'synthetic'" in out
    code, out = run("sample", "--model", str(tiny_model), "--direction", "7")
    assert code == 2 and "has no class directions yet" in out and f"ganstudio directions {tiny_model}" in out
    code, out = run("sample", "--model", str(fitted[0]), "--direction", "seven")
    assert code == 2 and "'seven' is not a class direction of this model: use one of 0, 1, 2" in out


@pytest.fixture(scope="module")
def studio(fitted, tmp_path_factory) -> Studio:
    return Studio(str(fitted[0]), out_dir=tmp_path_factory.mktemp("class-out"))


def test_sample_direction_frames_restore_in_the_studio(fitted, studio, tmp_path):
    model, _ = fitted
    code, out = run("sample", "--model", str(model), "--seed", "5", "--direction", "→ 7", "--steps", "5", "--out", str(tmp_path / "d"))
    assert code == 0, out
    frames = sorted((tmp_path / "d").glob("7_*.png"))
    assert len(frames) == 5
    s = studio.new_session(studio.models.default)
    for i, frame in enumerate(frames):
        recipe = images.read_recipe(frame)
        assert (recipe["op"], recipe["method"], recipe["direction"], recipe["index"], recipe["seed"]) == ("sweep_direction", CLASS, "→ 7", 7, 5)
        views.restore_png(studio, s, str(frame))
        assert s.seed == 5 and s.amounts[CLASS][7] == pytest.approx(-3 + 1.5 * i) and not s.edits
        shown = np.asarray(Image.open(studio.current(s)[0]))  # the image alone, no grid border
        assert np.array_equal(shown, np.asarray(Image.open(frame)))  # the restored image is the frame, pixel for pixel
    views.restore_png(studio, s, str(tmp_path / "d" / "strip.png"))  # the strip: where it started
    assert s.seed == 5 and not any(s.amounts[CLASS])

    code, out = run("sample", "--model", str(model), "--direction", "3", "--conditional", "--steps", "3", "--out", str(tmp_path / "c"))
    assert code == 0, out
    views.restore_png(studio, s, str(tmp_path / "c" / "3-cond_002.png"))
    assert s.amounts[CONDITIONAL][3] == 3.0 and not any(s.amounts[CLASS])
    assert "→ 3 +3.0 (others held)" in studio.current(s)[1]


def test_a_frame_made_with_other_directions_restores_its_exact_vector(fitted, studio, tmp_path):
    model, _ = fitted
    code, out = run("sample", "--model", str(model), "--direction", "2", "--steps", "3", "--out", str(tmp_path / "d"))
    assert code == 0, out
    frame = tmp_path / "d" / "2_002.png"
    recipe = images.read_recipe(frame)
    recipe["frame"]["direction"] = 3  # as if the directions had been re-made since: the frame's own z wins
    images.save_png(Image.open(frame), frame, recipe)
    s = studio.new_session(studio.models.default)
    views.restore_png(studio, s, str(frame))
    np.testing.assert_array_equal(studio.vector(s).z, np.asarray(recipe["frame"]["z"], np.float32))


def test_the_api_answers_with_the_clis_bytes(fitted, studio, tmp_path):
    model, _ = fitted
    api = TestClient(routes.api(studio))
    code, out = run("sample", "--model", str(model), "--seed", "4", "--direction", "9", "--steps", "6",
                    "--range", "-2", "5", "--conditional", "--out", str(tmp_path / "d"))
    assert code == 0, out
    got = api.get("/direction", params={"name": "→ 9", "seed": 4, "steps": 6, "lo": -2, "hi": 5, "conditional": "true"})
    assert got.status_code == 200 and got.content == (tmp_path / "d" / "strip.png").read_bytes()
    bad = api.get("/direction", params={"name": "nine"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("name 'nine' is not a class direction of this model: use one of 0")
    assert api.get("/direction", params={"name": "9", "hi": 11}).json()["error"] == "hi 11.0 is out of range: use -10..10"


# -- the studio's callbacks -----------------------------------------------------------------------------------


def test_class_sliders_move_the_vector_and_one_kind_drives_it_at_a_time(fitted, studio):
    _, cd = fitted
    s = studio.new_session(studio.models.default, seed=8)
    z0 = studio.vector(s).z
    assert views.set_class_amount(studio, s, False, 7, 2.0)
    np.testing.assert_allclose(studio.vector(s).z, z0 + 2.0 * cd.normals[7], atol=1e-5)
    assert "→ 7 +2.0" in studio.current(s)[1]
    views.set_class_mode(s, True)  # the conditional box: the amount carries over to the conditional direction
    assert s.amounts[CONDITIONAL][7] == 2.0 and not any(s.amounts[CLASS])
    np.testing.assert_allclose(studio.vector(s).z, z0 + 2.0 * cd.conditional[7], atol=1e-5)
    assert views.set_class_amount(studio, s, False, 1, -1.0)  # a plain slider moved: the conditional amounts come back first
    assert s.amounts[CLASS][7] == 2.0 and s.amounts[CLASS][1] == -1.0 and not any(s.amounts[CONDITIONAL])
    assert not views.set_class_amount(studio, s, False, 1, 3.0, model="another-model")  # an event of a model the tab left
    assert s.undo() and s.amounts[CONDITIONAL][7] == 2.0 and s.undo() and s.amounts[CLASS][7] == 2.0

    query = dict(parse_qsl(recipes.link(s.state())))
    assert query["class"] == "0,0,0,0,0,0,0,2"
    other = studio.new_session(studio.models.default)
    views.open_link(studio, other, query)
    np.testing.assert_allclose(studio.vector(other).z, studio.vector(s).z, atol=1e-5)

    strip = views.direction_sweep(studio, s, CONDITIONAL, 4, 3, -6.0, 6.0)
    shown = views.strip(studio, s, "classdir", strip)
    assert [caption for _, caption in shown] == ["-6.0", "+0.0", "+6.0"]
    views.pick_frame(s, "classdir", 2)
    assert s.amounts[CONDITIONAL][4] == 6.0


def test_a_model_without_class_directions_or_with_a_stale_file_still_serves(tiny_copy, tmp_path):
    studio = Studio(str(tiny_copy), out_dir=tmp_path / "out")
    key = studio.models.default
    an = studio.analysis(key)
    assert an.classes is None and "has no class directions yet" in an.class_note and "ganstudio directions" in an.class_note
    stale = ClassDirections(("0", "1"), np.eye(2, 8, dtype=np.float32), {"model_sha256": "0" * 64})
    class_directions.save(ModelDir(tiny_copy), stale)  # picked up while the studio runs
    an = studio.analysis(key)
    assert an.classes is None and "made for other weights" in an.class_note
    s = studio.new_session(key)
    assert set(s.amounts) == {"sefa", "ganspace"}
    with pytest.raises(UserError, match="no direction class 1"):
        views.set_class_amount(studio, s, False, 0, 1.0)
    fresh = ClassDirections(("0", "1"), np.eye(2, 8, dtype=np.float32), {"model_sha256": sha256_file(tiny_copy / "generator.safetensors")})
    class_directions.save(ModelDir(tiny_copy), fresh)
    assert studio.analysis(key).classes.names == ("0", "1")
    z0 = studio.vector(s).z  # the open tab picks them up
    assert views.set_class_amount(studio, s, True, 1, 1.0) and s.amounts[CONDITIONAL] == [0.0, 1.0]
    assert "→ 1 +1.0 (others held)" in studio.current(s)[1]
    class_directions.save(ModelDir(tiny_copy), stale)  # refused again: the tab drops them and keeps rendering
    np.testing.assert_array_equal(studio.vector(s).z, z0)
    assert set(s.amounts) == {"sefa", "ganspace"}


def test_mutated_files_are_refused_or_read_never_a_crash(tmp_path):
    """Two hundred seeded corruptions of a good file: each one reads as a valid file or is refused in one line."""
    good = ClassDirections(("0", "1", "2"), unit(np.random.default_rng(1).standard_normal((3, 8))).astype(np.float32),
                           {"model_sha256": "a" * 64})
    data = bytearray(class_directions.to_bytes(good))
    rng = np.random.default_rng(6)
    refusals = 0
    for _ in range(200):
        bad = bytearray(data)
        for i in rng.integers(0, len(bad), rng.integers(1, 6)):
            bad[i] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            bad = bad[: int(rng.integers(0, len(bad)))]
        (tmp_path / FILE).write_bytes(bytes(bad))
        try:
            got = class_directions.of(ModelDir(tmp_path), 8, "a" * 64)
        except UserError as e:
            assert "\n" not in str(e)
            refusals += 1
        else:
            assert got.normals.shape == (3, 8) and np.isfinite(got.normals).all()
    assert refusals > 100
