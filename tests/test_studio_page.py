"""The studio page's own callbacks without a browser: undo/redo, restoring a PNG or a link, clickable strip
frames, dimension sliders that agree with the directions, the enlarged downloads and the timeline's steps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from urllib.parse import parse_qsl

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from ganstudio.artifact import catalog, rundir
from ganstudio.errors import UserError
from ganstudio.explore import images, latent, limits, projection
from ganstudio.studio import curves, recipes, views
from ganstudio.studio.service import Studio
from ganstudio.studio.session import HISTORY, Session

SHIPPED = catalog.REPO_ROOT / "checkpoints" / "mnist-dcgan"


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return Studio(str(SHIPPED), out_dir=tmp_path_factory.mktemp("page-out"))


@pytest.fixture()
def s(studio) -> Session:
    return studio.new_session(studio.models.default, seed=11, psi=0.9)


def z(studio: Studio, s: Session) -> np.ndarray:
    return studio.vector(s).z


def test_undo_and_redo_step_through_changes_and_one_drag_is_one_step(studio, s):
    start = s.state()
    for x in (0.5, 1.0, 1.5):  # one slider dragged: one step
        views.set_dim(studio, s, 0, x)
    views.set_amount(studio, s, "sefa", 1, 4.0)
    views.undoable(studio.set_seed)(s, 99)
    assert s.undo() and (s.seed, s.amounts["sefa"][1]) == (11, 4.0)
    assert s.undo() and s.amounts["sefa"][1] == 0.0 and s.edits
    assert s.undo() and s.state() == start
    assert not s.undo()
    assert s.redo() and s.redo() and s.redo() and s.seed == 99
    assert not s.redo()
    s.undo()
    views.set_amount(studio, s, "ganspace", 0, 1.0)  # a new change forgets what was undone
    assert not s.redo()
    for i in range(HISTORY + 10):
        views.undoable(studio.set_seed)(s, i)
    assert len(s.history) == HISTORY


def test_dimension_sliders_show_and_set_the_final_vector_with_directions(studio, s):
    """Defect 11: a dimension slider showed the value before direction amounts were added."""
    views.set_amount(studio, s, "sefa", 0, 8.0)
    slot = views.slots(studio, s, 1)[0]
    final = z(studio, s)
    assert slot.value == round(float(np.clip(final[slot.dim], -4, 4)), 2)
    views.set_dim(studio, s, 0, 1.25)
    assert z(studio, s)[slot.dim] == pytest.approx(1.25, abs=1e-5)
    assert views.slots(studio, s, 1)[0].value == 1.25
    assert views.set_dim(studio, s, 0, 2.0, model="another") is None  # an old model's slider: dropped


def test_a_png_restores_its_vector_and_a_broken_one_changes_nothing(studio, s, tmp_path):
    views.set_dim(studio, s, 2, -2.0)
    views.set_amount(studio, s, "ganspace", 3, -5.5)
    path, _ = studio.current(s)
    fresh = studio.new_session(studio.models.default, seed=0)
    line = views.restore_png(studio, fresh, path)
    assert "seed 11" in line and "edits" in line
    assert np.array_equal(z(studio, fresh), z(studio, s)) and fresh.amounts == s.amounts
    assert fresh.undo() and fresh.seed == 0  # restoring is one undoable step

    grid = studio.sample(studio.models.default, 70, 4, 0.6)  # a grid: its first seed
    views.restore_png(studio, fresh, grid)
    assert (fresh.seed, fresh.psi, fresh.edits) == (70, 0.6, {})

    before = fresh.state()
    damaged = PngImagePlugin.PngInfo()  # a PNG whose ganstudio recipe is damaged (an image without one is projected)
    damaged.add_text(images.RECIPE_KEY, "[1, 2]")
    Image.new("L", (4, 4)).save(tmp_path / "damaged.png", pnginfo=damaged)
    with pytest.raises(UserError, match="not an image ganstudio can read"):
        views.restore_png(studio, fresh, str(tmp_path / "damaged.png"))
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(UserError, match="not an image ganstudio can read"):
        views.restore_png(studio, fresh, str(tmp_path / "text.png"))
    recipe = images.read_recipe(grid)
    other = images.save_png(Image.new("L", (4, 4)), tmp_path / "other.png", {**recipe, "model_sha256": "0" * 64})
    with pytest.raises(UserError, match="which this studio does not offer"):
        views.restore_png(studio, fresh, str(other))
    assert fresh.state() == before


def test_a_cli_sweep_frame_restores_its_value(studio, s, tmp_path):
    out = tmp_path / "frames"
    subprocess.run([sys.executable, "-m", "ganstudio", "sample", "--model", str(SHIPPED), "--seed", "5", "--dim", "7",
                    "--steps", "5", "--out", str(out)], check=True, capture_output=True)
    views.restore_png(studio, s, str(out / "dim007_004.png"))  # the last frame: dimension 7 at +3
    expected = latent.z_from_seed(5, 100)
    expected[7] = 3.0
    assert s.seed == 5 and np.allclose(z(studio, s), expected)


def test_every_strip_frame_can_become_current(studio, s):
    key = studio.models.default
    views.set_amount(studio, s, "sefa", 2, 3.0)
    strip, _ = studio.sweep(key, s.seed, 4, 5, -2.0, 2.0, s.psi, 5.0, s)
    shown = views.strip(studio, s, "sweep", strip)
    assert [c for _, c in shown] == ["-2.00", "-1.00", "+0.00", "+1.00", "+2.00"]
    views.pick_frame(s, "sweep", 4)
    assert z(studio, s)[4] == pytest.approx(2.0, abs=1e-5) and s.amounts["sefa"][2] == 3.0
    with pytest.raises(UserError, match="frame 5 is out of range"):
        views.pick_frame(s, "sweep", 5)

    strip, _ = studio.interpolate(key, 0, 31, 4, "lerp", 0.9, 5.0, False, s)
    shown = views.strip(studio, s, "interpolate", strip)
    assert [c for _, c in shown] == ["t 0.00", "t 0.33", "t 0.67", "t 1.00"]
    views.pick_frame(s, "interpolate", 3)  # the end of the path: seed 31's vector
    assert np.allclose(z(studio, s), latent.truncate(latent.z_from_seed(31, 100), 0.9), atol=1e-6)
    with Image.open(studio.current(s)[0]) as im:  # and its image is that frame's
        assert np.array_equal(np.asarray(im), np.asarray(shown[3][0]))

    strip, _ = studio.walk(key, s.seed, 6, 0.1, s.psi, 5.0, s)
    start = z(studio, s)
    assert len(views.strip(studio, s, "walk", strip)) == 6
    views.pick_frame(s, "walk", 0)
    assert np.allclose(z(studio, s), start, atol=1e-6)


def test_a_direction_sweep_moves_one_amount(studio, s):
    png = views.direction_sweep(studio, s, "ganspace", 1, 3, -4.0, 4.0)
    assert images.read_recipe(png)["op"] == recipes.DIRECTION_SWEEP
    shown = views.strip(studio, s, "direction", png)
    assert [c for _, c in shown] == ["-4.0", "+0.0", "+4.0"]
    views.pick_frame(s, "direction", 0)
    assert s.amounts["ganspace"][1] == -4.0
    with pytest.raises(UserError, match="no direction sefa 9"):
        views.direction_sweep(studio, s, "sefa", 8, 3, -1.0, 1.0)


def test_a_link_opens_the_same_view(studio, s):
    views.set_dim(studio, s, 0, 1.5)
    views.set_amount(studio, s, "sefa", 1, -2.5)
    query = views.link(s)
    assert query.startswith("model=mnist-dcgan&seed=11&psi=0.9&dims=") and "sefa=0,-2.5" in query and "ganspace" not in query
    fresh = studio.new_session(studio.models.default)
    assert "seed 11" in views.open_link(studio, fresh, dict(parse_qsl(query)))
    assert np.allclose(z(studio, fresh), z(studio, s), atol=1e-4)
    assert views.open_link(studio, fresh, {}) == ""  # a plain address opens the defaults
    with pytest.raises(UserError, match="unknown model 'nope'"):
        views.open_link(studio, fresh, {"model": "nope"})
    with pytest.raises(UserError, match="psi 7.0 is out of range"):
        views.open_link(studio, fresh, {"psi": "7"})
    with pytest.raises(UserError, match="garbled"):
        views.open_link(studio, fresh, {"dims": "3=1"})


def test_downloads_are_enlarged_without_a_border_and_keep_the_recipe(studio, s):
    views.set_dim(studio, s, 0, 3.0)
    small = images.single(studio.generator(s.model).images(z(studio, s)[None])[0])
    for path, px in zip(views.downloads(studio, s), views.DOWNLOAD_SIZES):
        with Image.open(path) as im:
            assert im.size == (px, px)
            assert np.array_equal(np.asarray(im.resize(small.size, Image.Resampling.NEAREST)), np.asarray(small))
        recipe = images.read_recipe(path)
        assert recipe["enlarged_to"] == px and recipe["vector"]["seed"] == 11


def test_a_strip_animates_as_webp(studio, s, tmp_path):
    strip, _ = studio.sweep(studio.models.default, s.seed, 4, 4, -2.0, 2.0, s.psi, 5.0, s)
    shown = views.strip(studio, s, "sweep", strip)
    with Image.open(views.animation(studio, strip, 8.0, shown)) as im:
        assert im.format == "WEBP" and im.n_frames == 4 and im.is_animated and im.size == (252, 252)


def test_the_timeline_shows_steps_and_the_runs_curves(tmp_path, monkeypatch):
    from ganstudio.studio import tabs_paths

    run = tmp_path / "runs" / "run"
    shutil.copytree(SHIPPED, run, ignore=shutil.ignore_patterns("samples"))  # the shipped model's own timeline aside
    (run / "samples").mkdir()
    for step in (250, 500, 750):
        images.save_png(images.single(np.zeros((4, 4, 1), np.uint8)), run / "samples" / f"step_{step:07d}.png", {})
    rows = [{"step": k, "loss_d_real": 0.4, "loss_d_fake": 0.3, "loss_g": 2.0 - k / 1000, "d_x": 0.8, "d_g_z": 0.2} for k in range(25, 776, 25)]
    rows[-1]["eval/fd"] = 12.5
    (run / rundir.METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    studio = Studio(str(run), out_dir=tmp_path / "out")
    timeline = tabs_paths.Timeline(*[None] * 5)
    tab, slider, _, caption, chart = timeline.panels(studio, "run")
    assert tab is True and (slider["minimum"], slider["maximum"], slider["step"], slider["value"]) == (250, 750, 250, 750)
    assert caption.startswith("step 750") and chart.width == curves.WIDTH
    assert [t for t, _, _ in curves.series(rows)] == ["Losses", "D(x), D(G(z))", "Eval: fd"]
    assert curves.chart([], 0, 0, 1) is None
    bare = shutil.copytree(SHIPPED, tmp_path / "bare", ignore=shutil.ignore_patterns("samples"))
    tab, *_ = timeline.panels(Studio(str(bare), out_dir=tmp_path / "o2"), "bare")
    assert tab is False  # no snapshots: no tab


def test_recipes_refuse_what_names_no_vector():
    with pytest.raises(UserError, match="names no latent vector"):
        recipes.start({"op": "report"}, "m", 8)
    with pytest.raises(UserError, match="damaged"):
        recipes.start({"op": "sample"}, "m", 8)
    with pytest.raises(UserError, match="edited dimension 9 is out of range"):
        recipes.start({"vector": {"seed": 1, "psi": 1.0, "edits": {"9": 1.0}}}, "m", 8)
    assert limits.SEED.hi == recipes.start({"op": "walk", "seed": limits.SEED.hi}, "m", 8)[0].seed


def test_search_errors_and_the_card_say_the_right_thing(studio, monkeypatch, tmp_path):
    from ganstudio.studio.session import parse_dims

    with pytest.raises(UserError, match="a range goes from low to high, like 3-9"):
        parse_dims("9-3", 100)
    monkeypatch.chdir(tmp_path)  # a server started elsewhere still shows the path inside the project
    card = studio.card_markdown(studio.models.default)
    assert "`checkpoints/mnist-dcgan`" in card and str(catalog.REPO_ROOT) not in card


def test_before_shows_the_seeds_own_image_and_undo_skips_another_models_steps(studio, s):
    views.set_dim(studio, s, 0, 3.0)
    path, line = views.before(studio, s)
    assert images.read_recipe(path) == images.read_recipe(studio.sample(s.model, 11, 1, 0.9))  # `sample --seed 11 --n 1`
    assert "unedited" in line and s.edits  # looking does not change the vector
    s.remember()
    s.switch("elsewhere", {"sefa": 8, "ganspace": 8}, [])
    assert not s.undo()  # the only steps were made on the other model


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def test_a_clicked_interpolation_or_walk_frame_is_named_and_reset_returns_to_it(studio, s):
    """Issue 22 defect 5: such frames read 'seed N · 100 dims set', Before showed the seed, Reset threw the frame away."""
    key = studio.models.default
    strip, _ = studio.interpolate(key, 11, 31, 6, "slerp", 0.9, 5.0, False, s)
    views.strip(studio, s, "interpolate", strip)
    views.pick_frame(s, "interpolate", 2)
    frame_png, line = studio.current(s)
    assert line == "**seed 11 → 31 (slerp), t 0.40**" and "dims set" not in line
    before_png, before_line = views.before(studio, s)
    assert before_line == "**before**: seed 11 → 31 (slerp), t 0.40, unedited"
    assert np.array_equal(_pixels(before_png), _pixels(frame_png))
    views.set_dim(studio, s, 0, 2.5)  # an edit on top of the frame: the line names only it
    edited_png, line = studio.current(s)
    assert line == f"**seed 11 → 31 (slerp), t 0.40** · dims {s.view[0]}=+2.50"
    assert not np.array_equal(_pixels(edited_png), _pixels(frame_png))
    views.undoable(Session.clear_edits)(s)  # "Reset edits", as the page calls it: back to the frame, not to seed 11
    assert np.array_equal(_pixels(studio.current(s)[0]), _pixels(frame_png))
    assert s.undo() and "dims" in studio.current(s)[1]  # undo brings the edit back, origin and all
    views.undoable(studio.set_seed)(s, 5)  # a new seed leaves the frame behind
    assert studio.current(s)[1].startswith("**seed 5**") and s.origin is None

    strip, _ = studio.walk(key, 3, 5, 0.2, 1.0, 5.0, None)
    views.strip(studio, s, "walk", strip)
    views.pick_frame(s, "walk", 4)
    assert studio.current(s)[1] == "**walk from seed 3, frame 4**"


def test_a_projection_is_named_before_shows_it_and_reset_keeps_it(studio, s, tmp_path):
    foreign = tmp_path / "digit.png"  # an image with no recipe: it is projected
    with Image.open(studio.current(studio.new_session(studio.models.default, seed=123))[0]) as im:
        im.convert("L").save(foreign)
    views.restore_png(studio, s, str(foreign))
    projected_png, line = studio.current(s)
    assert line == "**projected digit.png**"
    # Before shows the dropped image beside its projection (issue 22 defect 6: no visual check)
    pair, line = views.before(studio, s)
    assert line == "**before**: your image (left) beside its projection (right), unedited"
    shown = _pixels(pair)
    mine = projection.read_image(foreign, 28, 1)[..., 0]  # the dropped file at the model's size
    side = mine.shape[0]
    assert shown.shape[:2] == (side + 4, 2 * side + 6)  # two tiles with the grid's 2 px borders
    assert np.array_equal(shown[2:-2, 2:2 + side], mine)
    assert np.array_equal(shown[2:-2, side + 4:-2], _pixels(projected_png))
    assert images.read_recipe(pair)["op"] == "projection-pair"
    views.set_amount(studio, s, "sefa", 0, 3.0)
    assert studio.current(s)[1].startswith("**projected digit.png** · SeFa 1:+3.0")
    s.clear_edits()
    assert np.array_equal(_pixels(studio.current(s)[0]), _pixels(projected_png))


def test_a_grid_drawn_by_another_model_cannot_be_picked_from(studio):
    s = studio.new_session(studio.models.default, seed=1)
    studio.tiles(s, s.model, 40, 4, 1.0)
    views.undoable(studio.pick)(s, 2)
    assert s.seed == 42
    studio.switch_model(s, "fashion-mnist-dcgan")  # as a dropped PNG of that model does, under the grid on screen
    with pytest.raises(UserError, match="the grid shows another model's images"):
        studio.pick(s, 1)
    studio.tiles(s, s.model, 40, 4, 1.0)  # the page redraws the same seeds with the new model
    studio.pick(s, 1)
    assert s.seed == 41


def test_the_current_image_is_the_image_alone_without_the_grids_frame(studio):
    """Issue 22 defect 7: the 2 px black grid border, enlarged to the page's 420 px, framed emoji thickly."""
    s = studio.new_session("emoji-dcgan", seed=4)
    grid = _pixels(studio.sample("emoji-dcgan", 4, 1, 1.0))  # what `ganstudio sample --seed 4 --n 1` writes
    current = _pixels(studio.current(s)[0])
    assert current.shape[:2] == (32, 32) and grid.shape[:2] == (32 + 2 * images.PAD, 32 + 2 * images.PAD)
    assert np.array_equal(current, grid[images.PAD:-images.PAD, images.PAD:-images.PAD])
    assert images.read_recipe(studio.current(s)[0]) == images.read_recipe(studio.sample("emoji-dcgan", 4, 1, 1.0))
