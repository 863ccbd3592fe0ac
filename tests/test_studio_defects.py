"""Issue 12's studio defects: a tab's state under concurrent events, a broken run at start-up, and bad values
sent to the Gradio endpoints (through gradio_client and raw HTTP: one line to the client, one in the log)."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ganstudio.explore import limits
from ganstudio.studio import analysis, views

LOGGER = "ganstudio.studio"
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def test_a_first_analysis_stalls_neither_other_tabs_nor_the_same_tabs_sliders(two_models, monkeypatch):
    studio, big, small = two_models
    other_tab, tab = studio.new_session(big, seed=1), studio.new_session(big, seed=2)
    entered, release = threading.Event(), threading.Event()
    original = analysis._analysis

    def slow(path: str, mtime: float) -> analysis.Analysis:
        if Path(path).name == small:
            entered.set()
            assert release.wait(60)
        return original(path, mtime)

    monkeypatch.setattr(analysis, "_analysis", slow)
    with ThreadPoolExecutor(3) as pool:
        switching = pool.submit(studio.switch_model, tab, small)
        assert entered.wait(60)  # the tab's switch is inside the small model's first analysis, holding its lock
        # Meanwhile another tab's slider and the switching tab's own (still on the big model) go through.
        assert pool.submit(lambda: (views.set_dim(studio, other_tab, 0, 1.5, big), studio.current(other_tab))).result(timeout=30)
        moved = pool.submit(views.set_dim, studio, tab, 3, 2.0, big).result(timeout=30)
        assert moved == tab.view[3] and tab.model == big
        release.set()
        switching.result(timeout=60)
    # The switch replaced model, edits, amounts and view at once: nothing of the big model's is left.
    assert (tab.model, tab.edits) == (small, {}) and all(d < 8 for d in tab.view)
    assert all(len(a) == min(limits.N_DIRECTIONS, 8) and not any(a) for a in tab.amounts.values())
    # A slider event of the big model arriving late is dropped, not written into the small model's edits.
    assert views.set_dim(studio, tab, 5, 3.0, big) is None and views.set_amount(studio, tab, "sefa", 7, 1.0, big) is False
    assert tab.edits == {}
    studio.current(tab)  # no IndexError
    assert views.set_dim(studio, tab, 5, 3.0, small) == tab.view[5] < 8
    assert studio.current(tab)[1].startswith("**seed 2**")


def test_slider_events_racing_switches_never_break_the_tab(two_models):
    """Eight threads drag sliders (with the model they last saw, as the browser sends it) while the tab
    switches back and forth between generators of 100 and 8 dimensions."""
    studio, big, small = two_models
    tab = studio.new_session(big, seed=4)
    studio.analysis(small)
    stop = threading.Event()
    errors: list[BaseException] = []

    def drag(slot: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                views.set_dim(studio, tab, slot, i % 7 - 3, tab.model)
                studio.current(tab)
            except BaseException as e:  # noqa: BLE001 - any failure is the finding
                errors.append(e)
                return
            i += 1

    threads = [threading.Thread(target=drag, args=(slot,)) for slot in range(8)]
    for t in threads:
        t.start()
    for k in range(12):
        studio.switch_model(tab, small if k % 2 == 0 else big)
        st = tab.state()
        nz = studio.generator(st.model).nz
        assert all(d < nz for d in st.edits), st.edits
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[0]


# -- a real server ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call_raw(url: str, api: str, body: bytes) -> str:
    """Gradio's HTTP API by hand: post the inputs, read the answer's event stream."""
    posted = httpx.post(f"{url}gradio_api/call/{api}", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert posted.status_code == 200, posted.text
    return httpx.get(f"{url}gradio_api/call/{api}/{posted.json()['event_id']}", timeout=60).text


def error_of(stream: str) -> str | None:
    event, data = stream.strip().split("\n")[:2]
    return json.loads(data.removeprefix("data: "))["error"] if event == "event: error" else None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seed=0, n=100_000, psi=1.0, api_name="/sample"), "n 100000 is out of range: use 1..256"),
        (dict(seed="abc", n=4, psi=1.0, api_name="/sample"), f"seed 'abc' must be a whole number in {limits.SEED}"),
        (dict(model="x" * 10_000, seed=0, n=4, psi=1.0, api_name="/sample"), "unknown model 'xxxxxxxx"),
        (dict(seed=0, dim=3, steps=8, lo=-9.0, hi=2.0, psi=1.0, fps=5.0, api_name="/sweep"), "lo -9.0 is out of range: use -4..4"),
        (dict(seed=0, dim=100, steps=8, lo=-2.0, hi=2.0, psi=1.0, fps=5.0, api_name="/sweep"), "dim 100 is out of range"),
        (dict(seed_from=0, seed_to=1, steps=4, method="cubic", psi=1.0, fps=10.0, from_current=False, api_name="/interpolate"), "method 'cubic'"),
        (dict(seed=0, steps=8, step_size=5.0, psi=1.0, fps=15.0, api_name="/walk"), "step_size 5.0 is out of range"),
    ],
)
def test_gradio_endpoints_answer_one_line_naming_the_parameter_and_log_one_line(server, caplog, capfd, kwargs, message):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False, httpx_kwargs={"timeout": 60})
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(AppError) as e:
        client.predict(**kwargs)
    assert str(e.value).startswith(message) and "\n" not in str(e.value) and len(str(e.value)) < 300
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [f"ganstudio studio: {kwargs['api_name'][1:]} rejected: {e.value}"]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("body, message", [
    (b'{"data": ["mnist-dcgan", NaN, 4, 1.0]}', "seed nan must be a whole number"),
    (b'{"data": ["mnist-dcgan", 0, NaN, 1.0]}', "n nan must be a whole number in 1..256"),
    (b'{"data": ["mnist-dcgan", 0, 4, "1; import os"]}', f"psi '1; import os' must be a number in {limits.PSI}"),
])
def test_raw_http_nan_and_words_get_a_message_not_null(server, body, message):
    assert error_of(call_raw(server, "sample", body)).startswith(message)


def test_a_broken_run_does_not_stop_the_studio_and_rescanned_models_are_served(tmp_path, tiny_model, monkeypatch, capfd):
    from gradio_client import Client

    from ganstudio.studio.app import start

    broken = tmp_path / "runs" / "broken"
    broken.mkdir(parents=True)
    (broken / "generator.safetensors").write_bytes(b"not safetensors")  # the newest run, so the default one
    monkeypatch.setenv("GANSTUDIO_RUNS", str(tmp_path / "runs"))
    demo, url = start(None, port=free_port(), quiet=True)
    try:
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 60})
        choices = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/sample"]["parameters"][0]
        assert choices["parameter_default"] != "broken"
        assert Path(client.predict(seed=0, n=1, psi=1.0, api_name="/sample")).is_file()
        shutil.copytree(tiny_model, tmp_path / "runs" / "tiny")
        assert httpx.get(f"{url}v1/sample?model=tiny&n=1", timeout=60).status_code == 404
        rescan = next(f.fn for f in demo.fns.values() if f.name == "on_rescan")
        rescan()  # the Rescan button
        assert Path(client.predict(model="tiny", seed=0, n=2, psi=1.0, api_name="/sample")).is_file()
        assert httpx.get(f"{url}v1/sample?model=tiny&n=2", timeout=60).status_code == 200
        assert httpx.get(f"{url}v1/sample?model=broken&n=1", timeout=60).json()["error"].startswith(str(tmp_path))
    finally:
        demo.close()


GRADIO_ENDPOINTS = {  # name -> (parameter names in order, valid values)
    "sample": (["model", "seed", "n", "psi"], ["mnist-dcgan", 0, 2, 1.0]),
    "sweep": (["model", "seed", "dim", "steps", "lo", "hi", "psi", "fps"], ["mnist-dcgan", 0, 1, 3, -2.0, 2.0, 1.0, 5.0]),
    "interpolate": (["model", "seed_from", "seed_to", "steps", "method", "psi", "fps", "from_current"],
                    ["mnist-dcgan", 0, 1, 3, "lerp", 1.0, 10.0, False]),
    "walk": (["model", "seed", "steps", "step_size", "psi", "fps"], ["mnist-dcgan", 0, 3, 0.08, 1.0, 15.0]),
}
JUNK = ["x" * 10_000, "../../../../etc/passwd", [1, 2], {"a": 1}, -1e300, 1e300, None]
GRADIO_CASES = [(api, i, bad) for api, (names, _) in GRADIO_ENDPOINTS.items() for i in range(len(names)) for bad in JUNK]


@pytest.mark.slow
def test_gradio_endpoints_fuzz_one_line_each_and_the_server_stays_up(server, caplog, capfd):
    """Every parameter of every named endpoint, with values of every wrong kind, over raw HTTP."""
    capfd.readouterr()
    for api, i, bad in GRADIO_CASES:
        names, good = GRADIO_ENDPOINTS[api]
        data = [*good[:i], bad, *good[i + 1:]]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            message = error_of(call_raw(server, api, json.dumps({"data": data}).encode()))
        assert isinstance(message, str) and "\n" not in message and len(message) < 400, (api, names[i], message)
        assert message.startswith((names[i], "unknown model", "'from the current image'")), (api, names[i], message)
        assert len([r for r in caplog.records if r.name == LOGGER]) == 1, (api, names[i])
    assert "Traceback" not in capfd.readouterr().err
    assert error_of(call_raw(server, "sample", json.dumps({"data": GRADIO_ENDPOINTS["sample"][1]}).encode())) is None
