"""Issue 21's studio defects: what a tab or a hand-made request can do to the server's state and memory."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.artifact.catalog import ModelDir
from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.errors import UserError
from ganstudio.explore import class_directions, images, limits
from ganstudio.explore.class_directions import CLASS, CONDITIONAL, ClassDirections
from ganstudio.studio import recipes, views
from ganstudio.studio.service import Studio

from test_images import declared_png


@pytest.fixture()
def tiny_studio(tiny_copy: Path, tmp_path: Path) -> tuple[Studio, str, Path]:
    return Studio(str(tiny_copy), out_dir=tmp_path / "out"), tiny_copy.name, tiny_copy


def made_for(model: Path, k: int) -> ClassDirections:
    """k class directions of a tiny model (nz 8), as `ganstudio directions` would leave them."""
    return ClassDirections(tuple(str(c) for c in range(k)), np.eye(k, 8, dtype=np.float32),
                           {"model_sha256": sha256_file(model / "generator.safetensors")})


def test_a_tab_follows_directions_remade_with_another_class_count(tiny_studio):
    studio, key, model = tiny_studio
    class_directions.save(ModelDir(model), made_for(model, 3))
    s = studio.new_session(key, seed=5)
    assert views.set_class_amount(studio, s, False, 2, 1.5) and views.set_amount(studio, s, "sefa", 0, 1.0)
    for k in (5, 2):  # `ganstudio directions` re-run on a dataset with more classes, then fewer
        class_directions.save(ModelDir(model), made_for(model, k))
        studio.current(s)  # was a matmul shape error
        views.downloads(studio, s)
        views.slots(studio, s, 4)
        assert len(s.amounts[CLASS]) == len(s.amounts[CONDITIONAL]) == k and s.amounts["sefa"][0] == 1.0
        assert views.set_class_amount(studio, s, True, k - 1, 2.0)  # the last class's slider: was an IndexError
        strip = views.direction_sweep(studio, s, CONDITIONAL, k - 1, 3, -1.0, 1.0)
        assert len(views.strip(studio, s, "classdir", strip)) == 3
    assert s.amounts[CLASS] == [0.0, 0.0] and s.amounts[CONDITIONAL] == [0.0, 2.0]


def test_the_pages_slider_does_not_hold_the_tabs_lock_while_a_model_is_analysed(tiny_studio, monkeypatch):
    """views.set_dim is what the page calls: while it waits for an analysis (a second of CPU the first time,
    e.g. after `ganstudio directions` re-made the model's class directions) the tab's other events go on."""
    studio, key, _ = tiny_studio
    s = studio.new_session(key, seed=2)
    entered, release = threading.Event(), threading.Event()
    analyse = studio.analysis

    def slow(k: str):
        entered.set()
        assert release.wait(60)
        return analyse(k)

    monkeypatch.setattr(studio, "analysis", slow)
    with ThreadPoolExecutor(2) as pool:
        moving = pool.submit(views.set_dim, studio, s, 0, 1.5, key)
        assert entered.wait(30)
        try:
            assert pool.submit(s.state).result(timeout=10).model == key  # the tab's lock is free
        finally:
            release.set()
        assert moving.result(timeout=60) == s.view[0] and s.edits[s.view[0]] == 1.5


def test_a_pages_slider_of_a_model_the_tab_left_while_it_was_analysed_is_dropped(two_models):
    studio, big, small = two_models
    s = studio.new_session(big, seed=2)
    analyse, calls = studio.analysis, []

    def switch_meanwhile(k: str):  # the tab switches model between the slider's lookup and its write
        calls.append(k)
        if len(calls) == 1:
            studio.switch_model(s, small)
        return analyse(k)

    studio.analysis = switch_meanwhile
    assert views.set_dim(studio, s, 3, 2.0, big) is None
    assert s.model == small and s.edits == {}


@pytest.mark.parametrize("recipe, message", [
    ({"op": "sweep", "steps": 512, "dims": list(range(16)), "range": [-3, 3]}, "its steps 512 is out of range: use 2..128"),
    ({"op": "sweep", "steps": 10, "dims": list(range(8)) * 2, "range": [-3, 3]}, "it holds 16 x 10 frames: the studio shows strips of up to 128"),
    ({"op": "sweep", "steps": 5, "dims": [1], "range": [-1e300, 1e300]}, "its range -1e\\+300 is out of range"),
    ({"op": "sweep", "steps": 5, "dims": [1], "range": [1, 2, 3]}, "its recipe \\(sweep\\) is damaged"),
    ({"op": "sweep", "steps": 5, "dims": [1]}, "its recipe \\(sweep\\) is damaged"),
    ({"op": "sweep_direction", "steps": 5, "method": "sefa", "index": 0, "range": [-50, 50]}, "its range -50.0 is out of range: use -10..10"),
    ({"op": "interpolate", "steps": 5, "seed_to": 1, "psi": 1e9}, "psi 1000000000.0 is out of range"),
    ({"op": "interpolate", "steps": 5, "seed_to": 1, "psi": 1.0, "method": "cubic"}, "its method 'cubic' must be lerp or slerp"),
    ({"op": "interpolate", "steps": 5, "seed_to": -1, "psi": 1.0}, "its seed_to -1 is out of range"),
    ({"op": "walk", "steps": 5, "step_size": 1e9}, "its step_size 1000000000.0 is out of range: use 0.001..1"),
    ({"op": "walk", "steps": 5, "step_size": "nan"}, "its step_size 'nan' must be a number"),
])
def test_strip_frames_from_a_recipe_are_held_to_the_servers_limits(tiny_studio, tmp_path, recipe, message):
    studio, key, _ = tiny_studio
    s = studio.new_session(key, seed=1)
    gen = studio.generator(key)
    png = tmp_path / "strip.png"
    images.save_png(Image.new("L", (8, 8)), png, {**recipe, "seed": 1, "seed_from": 1, "model_sha256": gen.sha256})
    with pytest.raises(UserError, match=message) as e:
        views.strip(studio, s, "sweep", str(png))
    assert "\n" not in str(e.value)
    st, bases = studio.state(s)
    ok = {"op": "sweep", "steps": 8, "dims": list(range(8)), "range": [-3, 3]}  # 64 frames: inside the limit
    assert len(recipes.frames(ok, st, bases, gen.nz)) == 64


@pytest.mark.parametrize("width, height", [(9000, 9000), (20000, 20000)])
def test_a_dropped_file_declaring_too_many_pixels_is_refused_saying_so(tiny_studio, tmp_path, width, height):
    studio, key, _ = tiny_studio
    s = studio.new_session(key, seed=1)
    before = s.state()
    path = tmp_path / "huge.png"
    path.write_bytes(declared_png(width, height, {"op": "sample", "seed": 1}))
    with pytest.raises(UserError, match=f"huge.png .*images up to {limits.PROJECT_PIXELS:,} pixels can be read") as e:
        views.restore_png(studio, s, str(path))
    assert "\n" not in str(e.value) and str(tmp_path) not in str(e.value)
    assert s.state() == before


def test_an_upload_over_the_limit_is_refused_and_the_server_keeps_serving(server):
    import httpx

    big = httpx.post(server + "gradio_api/upload", files={"files": ("big.png", bytes(limits.PROJECT_BYTES + 1))}, timeout=120)
    assert big.status_code == 413 and f"maximum allowed size of {limits.PROJECT_BYTES} bytes" in big.text
    small = httpx.post(server + "gradio_api/upload", files={"files": ("small.png", images.png_bytes(Image.new("L", (4, 4)), {}))}, timeout=60)
    assert small.status_code == 200 and len(small.json()) == 1
    assert httpx.get(server, timeout=60).status_code == 200
