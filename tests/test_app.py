"""The browser studio without a browser: the studio's operations and limits, and the named API through
gradio_client against a server started here on 127.0.0.1 with the shipped checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ganstudio.artifact import catalog
from ganstudio import cli
from ganstudio.explore import images, latent, runtime
from ganstudio.errors import UserError
from ganstudio.studio import views
from ganstudio.studio.outputs import Outputs
from ganstudio.studio.picker import Models
from ganstudio.explore import limits
from ganstudio.studio.service import Studio
from ganstudio.studio.session import parse_dims

LATENT_LIMIT, MAX_N, MAX_STEPS = limits.LATENT.hi, limits.SERVE_N.hi, limits.SERVE_STEPS.hi

SHIPPED = catalog.REPO_ROOT / "checkpoints" / "mnist-dcgan"
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # pandas deprecations inside gradio


@pytest.fixture(scope="module")
def studio(tmp_path_factory) -> Studio:
    return Studio(str(SHIPPED), out_dir=tmp_path_factory.mktemp("studio-out"))


@pytest.fixture(scope="module")
def key(studio) -> str:
    return studio.models.default


@pytest.fixture(scope="module")
def client(server):
    return connect(server)


def connect(url: str):
    """A gradio_client with generous timeouts (httpx's default 5 s is short for a loaded, shared CI machine)."""
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": 60})


def cli_files(tmp_path: Path, *args: str) -> Path:
    """Run a `ganstudio` command in-process with --model SHIPPED; returns the folder it wrote into."""
    out = tmp_path / "cli"
    out.mkdir(exist_ok=True)
    result = CliRunner().invoke(cli.app, [*args, "--model", str(SHIPPED)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


# -- the studio's operations -------------------------------------------------------------------------------


def test_sample_writes_the_cli_png_byte_for_byte(studio, key, tmp_path):
    cli_files(tmp_path, "sample", "--seed", "5", "--n", "9", "--psi", "0.7", "--out", str(tmp_path / "cli" / "grid.png"))
    app_png = Path(studio.sample(key, 5, 9, 0.7))
    assert app_png.read_bytes() == (tmp_path / "cli" / "grid.png").read_bytes()
    recipe = images.read_recipe(app_png)
    assert recipe["op"] == "sample" and recipe["seed"] == 5 and recipe["n"] == 9 and recipe["psi"] == 0.7


def test_numbers_from_clients_are_normalised_before_they_reach_a_recipe(studio, key):
    """A client may send psi=1 (int) or n=9.0: the recipe, hence the PNG, must not depend on that."""
    assert Path(studio.sample(key, 5.0, 9.0, 1)).read_bytes() == Path(studio.sample(key, 5, 9, 1.0)).read_bytes()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s, k: s.sample(k, 0, MAX_N + 1, 1.0), "n 257 is out of range"),
        (lambda s, k: s.sample(k, 0, 0, 1.0), "n 0 is out of range"),
        (lambda s, k: s.sample(k, -1, 4, 1.0), "seed -1 is out of range"),
        (lambda s, k: s.sample(k, 1.5, 4, 1.0), "must be a whole number"),
        (lambda s, k: s.sample(k, 0, 4, 2.5), "psi 2.5 is out of range"),
        (lambda s, k: s.sample(k, 0, 4, float("nan")), "must be a number"),
        (lambda s, k: s.sample("no-such-model", 0, 4, 1.0), "unknown model 'no-such-model'"),
        (lambda s, k: s.sweep(k, 0, 100, 8, -3, 3, 1.0, 5), "dim 100 is out of range: this generator has dimensions 0..99"),
        (lambda s, k: s.sweep(k, 0, 1, MAX_STEPS + 1, -3, 3, 1.0, 5), "steps 129 is out of range"),
        (lambda s, k: s.sweep(k, 0, 1, 8, -9, 3, 1.0, 5), "lo -9.0 is out of range"),
        (lambda s, k: s.sweep(k, 0, 1, 8, 3, -3, 1.0, 5), "lo 3 must be below hi -3"),
        (lambda s, k: s.sweep(k, 0, 1, 8, -3, 3, 1.0, 500), "fps 500.0 is out of range"),
        (lambda s, k: s.interpolate(k, 0, 1, 1, "lerp", 1.0, 10), "steps 1 is out of range"),
        (lambda s, k: s.interpolate(k, 0, 1, 8, "cubic", 1.0, 10), "method 'cubic' must be lerp or slerp"),
        (lambda s, k: s.interpolate(k, 0, 1, 8, "lerp", 1.0, 10, True, None), "needs the browser's current image"),
        (lambda s, k: s.walk(k, 0, 8, 5.0, 1.0, 15), "step_size 5.0 is out of range"),
    ],
)
def test_every_input_is_bounded_with_a_one_line_message(studio, key, call, message):
    with pytest.raises(UserError, match=message) as e:
        call(studio, key)
    assert "\n" not in str(e.value)


def test_a_session_picks_edits_and_resets(studio, key):
    s = studio.new_session(key, seed=40, psi=1.0)
    studio.tiles(s, key, 40, 8, 1.0)
    studio.pick(s, 3)
    assert s.seed == 43 and not s.edits
    path, info = studio.current(s)
    assert images.read_recipe(path) == images.read_recipe(studio.sample(key, 43, 1, 1.0))  # unedited: `sample --n 1`
    assert "unedited" in info

    dim = views.set_dim(studio, s, 0, 99.0)  # slot 0 shows the strongest dimension; the value is clamped
    assert dim == s.view[0] == int(studio.analysis(key).effects.order[0])
    assert s.edits == {dim: LATENT_LIMIT}
    views.set_amount(studio, s, "sefa", 0, -50.0)
    assert s.amounts["sefa"][0] == -10.0
    path, info = studio.current(s)
    recipe = images.read_recipe(path)
    assert recipe["op"] == "edit" and recipe["vector"]["edits"] == {str(dim): LATENT_LIMIT}
    final = studio.vector(s).z[dim]  # the caption shows a dimension as its slider does: directions included
    assert f"dims {dim}={final:+.2f}" in info and "SeFa 1:-10.0" in info
    # The recipe alone re-makes the image: its vector round-trips exactly.
    gen = studio.generator(key)
    remade = images.single(gen.images(np.asarray(recipe["vector"]["z"], dtype=np.float32)[None])[0])  # no grid border
    with images.Image.open(path) as im:
        assert np.array_equal(np.asarray(im), np.asarray(remade))

    with pytest.raises(UserError, match="tile 8 is out of range"):
        studio.pick(s, 8)
    s.clear_edits()
    assert images.read_recipe(studio.current(s)[0])["op"] == "sample"


def test_a_sessions_concurrent_slider_events_do_not_trip_over_each_other(studio, key):
    """Gradio may run one tab's slider events at the same time (the page's own handlers: views.set_dim and
    set_amount); each must see a consistent vector."""
    s = studio.new_session(key, seed=3)

    def drag(slot: int) -> None:
        for i in range(15):
            views.set_dim(studio, s, slot, i / 10)
            views.set_amount(studio, s, "ganspace", slot % 8, i / 5)
            studio.current(s)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(drag, range(8)))
    assert set(s.edits) == {s.view[slot] for slot in range(8)} and s.amounts["ganspace"] == [2.8] * 8
    recipe = images.read_recipe(studio.current(s)[0])["vector"]
    assert recipe["edits"] == {str(d): x for d, x in sorted(s.edits.items())} and recipe["directions"]["ganspace"] == [2.8] * 8


def test_operations_start_from_the_edited_vector_and_say_so(studio, key, tmp_path):
    s = studio.new_session(key, seed=7)
    views.set_dim(studio, s, 1, 2.5)
    edited = studio.vector(s)
    strip, _ = studio.sweep(key, 7, 12, 6, -3.0, 3.0, 1.0, 5.0, s)
    r = images.read_recipe(strip)
    assert r["op"] == "sweep" and r["vector"]["z"] == [float(x) for x in edited.z] and r["dims"] == [12]
    walk_png, _ = studio.walk(key, 7, 6, 0.08, 1.0, 15.0, s)
    assert images.read_recipe(walk_png)["vector"]["seed"] == 7
    interp, _ = studio.interpolate(key, 0, 9, 6, "slerp", 1.0, 10.0, True, s)
    assert images.read_recipe(interp)["vector"]["edits"] == {str(s.view[1]): 2.5}
    # Without edits the same buttons give the CLI's files.
    s.clear_edits()
    interp, _ = studio.interpolate(key, 0, 9, 6, "slerp", 1.0, 10.0, True, s)
    cli_files(tmp_path, "interpolate", "--from", "7", "--to", "9", "--steps", "6", "--slerp", "--out", str(tmp_path / "cli" / "i.png"))
    assert Path(interp).read_bytes() == (tmp_path / "cli" / "i.png").read_bytes()


def test_switching_model_keeps_the_seed(tmp_path, monkeypatch):
    other = tmp_path / "runs" / "other"
    shutil.copytree(SHIPPED, other, ignore=shutil.ignore_patterns("samples"))
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    studio = Studio(str(SHIPPED), out_dir=tmp_path / "out")
    keys = [k for _, k in studio.models.choices()]
    assert "other" in keys and studio.models.default in keys
    s = studio.new_session(studio.models.default, seed=123, psi=0.8)
    views.set_dim(studio, s, 0, 1.0)
    studio.switch_model(s, "other")
    assert (s.model, s.seed, s.psi, s.edits) == ("other", 123, 0.8, {})
    assert images.read_recipe(studio.current(s)[0])["model"] == "other"
    assert studio.snapshots("other") == []
    with pytest.raises(UserError, match="other kept no training snapshots"):
        studio.snapshot("other", 0)


def test_a_name_means_what_it_means_to_the_cli_when_a_run_shares_it(tmp_path, monkeypatch):
    """`ganstudio train mnist --out runs/mnist-dcgan` next to the shipped checkpoints/mnist-dcgan."""
    run = tmp_path / "runs" / SHIPPED.name
    shutil.copytree(SHIPPED, run)
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    models = Models()
    assert models.get(SHIPPED.name).path == catalog.resolve(SHIPPED.name).path == SHIPPED.resolve()
    assert models.get(str(run.resolve())).path == run.resolve()


def test_models_refuse_what_is_not_offered(tmp_path):
    with pytest.raises(UserError, match="no such file or directory"):
        Models(str(tmp_path / "nothing-here"))
    with pytest.raises(UserError, match="unknown model '/etc'"):
        Models(str(SHIPPED)).get("/etc")


def test_search_filters_and_orders_the_sliders(studio, key):
    s = studio.new_session(key)
    studio.search(s, "10-12, 3", by_effect=False)
    assert s.view == [3, 10, 11, 12]
    studio.search(s, "10-12, 3", by_effect=True)
    order = list(studio.analysis(key).effects.order)
    assert s.view == sorted([3, 10, 11, 12], key=order.index)
    slots = views.slots(studio, s, 2)
    z = latent.z_from_seed(s.seed, 100)
    assert [x.dim for x in slots] == s.view[:2]
    assert slots[0].value == round(float(np.clip(z[slots[0].dim], -LATENT_LIMIT, LATENT_LIMIT)), 2)
    assert parse_dims("", 100) is None
    with pytest.raises(UserError, match="use numbers and ranges"):
        parse_dims("1; drop table", 100)
    with pytest.raises(UserError, match="dimensions 0..99"):
        parse_dims("90-100", 100)


def test_timeline_lists_a_runs_snapshots_by_step(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "run-with-samples"
    shutil.copytree(SHIPPED, run, ignore=shutil.ignore_patterns("samples"))
    (run / "samples").mkdir()
    for step in (1000, 250, 500):
        images.save_png(images.single(np.full((4, 4, 1), step % 255, np.uint8)), run / "samples" / f"step_{step:07d}.png", {"step": step})
    (run / "samples" / "notes.png").write_bytes(b"not a snapshot")
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    studio = Studio(str(run), out_dir=tmp_path / "out")
    assert [step for step, _ in studio.snapshots("run-with-samples")] == [250, 500, 1000]
    path, caption = studio.snapshot("run-with-samples", 1)
    assert Path(path).read_bytes() == (run / "samples" / "step_0000500.png").read_bytes()
    assert caption.startswith("step 500 (snapshot 2 of 3")


def test_outputs_sweep_old_files(tmp_path):
    out = Outputs(tmp_path, keep=0.0)
    old = tmp_path / "old.png"
    old.write_bytes(b"x")
    os.utime(old, (0, 0))
    out._last_sweep = -1e9  # due now
    out._sweep()
    assert not old.exists()


def test_ui_errors_are_one_line_messages_and_bugs_do_not_leak_tracebacks():
    import gradio as gr

    from ganstudio.studio.app import ui

    def mistake() -> None:
        raise UserError("n 300 is out of range: use 1..256")

    def bug() -> None:
        raise KeyError("secret internals")

    with pytest.raises(gr.Error, match="n 300 is out of range"):
        ui(mistake)()
    with pytest.raises(gr.Error) as e:
        ui(bug)()
    assert "secret" not in str(e.value) and "internal error (KeyError)" in str(e.value)


@pytest.mark.slow
def test_serving_never_imports_torch():
    code = textwrap.dedent(f"""
        import sys

        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("the serving process must not import torch")

        sys.meta_path.insert(0, NoTorch())
        import ganstudio.studio.app
        from ganstudio.studio import views
        from ganstudio.studio.service import Studio
        st = Studio({str(SHIPPED)!r})
        s = st.new_session()
        views.set_dim(st, s, 0, 1.0)
        st.current(s)
        st.sample(st.models.default, 0, 4, 1.0)
        ganstudio.studio.app.build(st)
        assert "torch" not in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_serve_command_binds_localhost_without_share_by_default(monkeypatch):
    import ganstudio.studio.app

    seen = {}
    monkeypatch.setattr(ganstudio.studio.app, "launch", lambda **kw: seen.update(kw))
    unused = ("IPython", "matplotlib")  # Gradio's notebook hooks and plot backends: a server needs neither
    saved = {name: sys.modules.pop(name, "absent") for name in unused}
    try:
        result = CliRunner().invoke(cli.app, ["serve"])
        assert all(sys.modules[name] is None for name in unused)
    finally:
        for name, module in saved.items():
            sys.modules.pop(name)
            if module != "absent":
                sys.modules[name] = module
    assert result.exit_code == 0, result.output
    from ganstudio.train.recipe import defaults

    assert seen == {"model": None, "host": "127.0.0.1", "port": 7860, "share": False, "mcp": False, "recipe_defaults": defaults()}


def test_the_card_lists_the_recipe_keys_a_run_changed(tmp_path):
    """Issue 22 defect 8: the card listed all 40-odd keys; told the defaults, it lists only those that differ."""
    from ganstudio.train.recipe import defaults

    told = Studio(str(SHIPPED), out_dir=tmp_path, recipe_defaults=defaults()).card_markdown("mnist-dcgan")
    row = next(line for line in told.splitlines() if line.startswith("- **recipe"))
    assert row.startswith("- **recipe (changed keys)** ") and "class_code=True" in row and "hold_out=True" in row
    assert "seed=0" not in row and "optimizer=adam" not in row  # defaults, left out
    plain = Studio(str(SHIPPED), out_dir=tmp_path).card_markdown("mnist-dcgan")
    assert "seed=0" in next(line for line in plain.splitlines() if line.startswith("- **recipe"))


# -- the named API, through gradio_client --------------------------------------------------------------------


def test_the_api_has_exactly_the_named_endpoints(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(named) == {"/sample", "/sweep", "/interpolate", "/walk"}


def test_api_outputs_equal_the_cli_outputs(client, key, tmp_path):
    grid = client.predict(model=key, seed=11, n=6, psi=0.8, api_name="/sample")
    cli_files(tmp_path, "sample", "--seed", "11", "--n", "6", "--psi", "0.8", "--out", str(tmp_path / "cli" / "grid.png"))
    assert Path(grid).read_bytes() == (tmp_path / "cli" / "grid.png").read_bytes()

    strip, gif = client.predict(model=key, seed=11, dim=4, steps=5, lo=-2.0, hi=2.0, psi=1.0, fps=5.0, api_name="/sweep")
    out = cli_files(tmp_path, "sample", "--seed", "11", "--dim", "4", "--steps", "5", "--range", "-2", "2", "--gif", "--out", str(tmp_path / "cli" / "sweep"))
    assert Path(strip).read_bytes() == (out / "sweep" / "strip.png").read_bytes()
    assert Path(gif).read_bytes() == (out / "sweep" / "strip.gif").read_bytes()

    strip, gif = client.predict(model=key, seed_from=2, seed_to=8, steps=5, method="lerp", psi=1.0, fps=10.0, from_current=False, api_name="/interpolate")
    cli_files(tmp_path, "interpolate", "--from", "2", "--to", "8", "--steps", "5", "--gif", "--out", str(tmp_path / "cli" / "interp.png"))
    assert Path(strip).read_bytes() == (tmp_path / "cli" / "interp.png").read_bytes()
    assert Path(gif).read_bytes() == (tmp_path / "cli" / "interp.gif").read_bytes()

    frames, gif = client.predict(model=key, seed=2, steps=6, step_size=0.1, psi=1.0, fps=15.0, api_name="/walk")
    cli_files(tmp_path, "walk", "--seed", "2", "--steps", "6", "--step-size", "0.1", "--gif", "--out", str(tmp_path / "cli" / "walk.png"))
    assert Path(frames).read_bytes() == (tmp_path / "cli" / "walk.png").read_bytes()
    assert Path(gif).read_bytes() == (tmp_path / "cli" / "walk.gif").read_bytes()
    assert images.read_recipe(gif)["op"] == "walk"


def test_api_bad_values_give_a_message_and_the_server_keeps_serving(client, key):
    from gradio_client.exceptions import AppError

    for kwargs, message in [
        (dict(model=key, seed=0, n=MAX_N + 1, psi=1.0, api_name="/sample"), "n 257 is out of range: use 1..256"),
        (dict(model="no-such-model", seed=0, n=4, psi=1.0, api_name="/sample"), "unknown model 'no-such-model'"),
        (dict(model=key, seed=0, dim=3, steps=8, lo=2.0, hi=-2.0, psi=1.0, fps=5.0, api_name="/sweep"), "lo 2 must be below hi -2"),
        (dict(model=key, seed_from=0, seed_to=1, steps=4, method="lerp", psi=1.0, fps=10.0, from_current=True, api_name="/interpolate"), "current image"),
    ]:
        with pytest.raises(AppError, match=message) as e:
            client.predict(**kwargs)
        assert "Traceback" not in str(e.value)
    assert Path(client.predict(model=key, seed=0, n=1, psi=1.0, api_name="/sample")).is_file()


def test_concurrent_clients_each_get_their_own_correct_image(server, key, studio):
    """Eight clients at once on one shared generator (one ORT session per model, loaded once)."""
    assert studio.generator(key) is studio.generator(key)

    def one(client, seed: int) -> bytes:
        return Path(client.predict(model=key, seed=seed, n=4, psi=1.0, api_name="/sample")).read_bytes()

    clients = [connect(server) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, clients, range(100, 108)))
    assert got == [Path(studio.sample(key, seed, 4, 1.0)).read_bytes() for seed in range(100, 108)]


@pytest.mark.slow
def test_ganstudio_serve_prints_its_url_answers_and_stops_cleanly_on_sigterm(tmp_path):
    """The real command in its own process: it says where it is, answers, and SIGTERM leaves no temporary files."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where the studio's own temporary folder goes
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "ganstudio", "serve", "--model", str(SHIPPED), "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        lines = [proc.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("ganstudio studio:"):  # anything a library prints first
            lines.append(proc.stdout.readline())
        assert lines[-1].startswith(f"ganstudio studio: http://127.0.0.1:{port}/"), "".join(lines) + log.read_text()[-3000:]
        grid = connect(f"http://127.0.0.1:{port}/").predict(seed=0, n=1, psi=1.0, api_name="/sample")
        assert Path(grid).is_file()
        assert list(tmp_path.glob("ganstudio-studio-*"))
        # The container's HEALTHCHECK finds this process's port from its real command line, without $GANSTUDIO_PORT.
        (tmp_path / "proc" / "1").mkdir(parents=True)
        (tmp_path / "proc" / "1" / "cmdline").write_bytes(Path(f"/proc/{proc.pid}/cmdline").read_bytes())
        check = [sys.executable, "-c", f"from pathlib import Path; from ganstudio.deploy import health; "
                 f"health.PROC = Path({str(tmp_path / 'proc')!r}); raise SystemExit(health.main([]))"]
        healthy = subprocess.run(check, capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "GANSTUDIO_PORT"})
        assert healthy.returncode == 0 and f"healthy: http://127.0.0.1:{port}/" in healthy.stdout, healthy.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    assert not list(tmp_path.glob("ganstudio-studio-*"))


def test_a_port_in_use_is_one_line(server):
    from ganstudio.studio.app import start

    port = int(server.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(UserError, match=f"cannot serve on 127.0.0.1:{port} .*pick another --port"):
        start(str(SHIPPED), port=port, quiet=True)


def test_recipes_are_json_in_the_png(studio, key):
    raw = images.Image.open(studio.sample(key, 1, 2, 1.0)).text[images.RECIPE_KEY]
    assert json.loads(raw)["model_sha256"] == runtime.load(SHIPPED).sha256


def test_the_model_card_shows_the_models_eval_and_its_neighbour_sheet(studio, key, tmp_path):
    card = studio.card_markdown(key)
    assert "**Eval**" in card and "| measure | this model | real vs real | in words |" in card
    assert "| precision (k=3) ↑ |" in card and "| FD ↓ |" in card and "of real data's)" in card
    assert "↑ higher is better, ↓ lower is better" in card
    # the training run's own figures are labelled as such beside the eval's (they differed, unexplained)
    assert "**metrics at the end of training**" in card and "**last metrics**" not in card
    # the copying verdict in words, its statistics folded away
    memo = next(line for line in card.splitlines() if line.startswith("- memorisation: "))
    assert memo.startswith("- memorisation: no sign of copying") and "C_T" not in memo
    assert "<details><summary>the copying test's figures</summary>C_T " in card
    sheet = studio.eval_sheet(key)
    assert sheet is not None and Path(sheet).read_bytes() == (SHIPPED / "eval-neighbours.png").read_bytes()
    # served from the studio's own output folder: Gradio refuses files of a model folder outside the cwd
    assert Path(sheet).resolve().is_relative_to(studio.out.root.resolve())
    bare = tmp_path / "bare"  # a model with no eval.json: the card says how to make one, and shows no sheet
    shutil.copytree(SHIPPED, bare, ignore=shutil.ignore_patterns("eval*"))
    other = Studio(str(bare), out_dir=tmp_path / "out")
    assert "No eval yet: `ganstudio eval" in other.card_markdown(other.models.default)
    assert other.eval_sheet(other.models.default) is None


def test_a_class_coded_models_class_dimensions_are_their_own_group(studio):
    """The class code's dimensions lead the sliders labelled as such; the summary and the sweep rank the others."""
    coded = studio.analysis("mnist-dcgan")
    assert coded.effects.classes == 10 and list(coded.effects.order[:10]) == list(range(10))
    text = coded.summary()
    assert text.startswith("Class dimensions **0–9** pick the class") and "Strongest of the other dimensions" in text
    top = text.split("Strongest of the other dimensions")[1]
    assert not any(f"**{d}**" in top for d in range(10)) and f"**{int(coded.effects.free[0])}**" in top
    plain = studio.analysis("fashion-mnist-dcgan")
    assert plain.effects.classes == 0 and plain.summary().startswith("Strongest dimensions")
    s = studio.new_session("mnist-dcgan")
    ranks = [(x.dim, x.rank) for x in views.slots(studio, s, 12)]
    assert ranks[:10] == [(d, 0) for d in range(10)] and ranks[10][1] == 1
