import os

import numpy as np
import pytest

from ganstudio.artifact import catalog
from ganstudio.explore import latent, runtime
from ganstudio.train import torch_backend
from ganstudio.artifact.checkpoint import GRAPH, WEIGHTS
from ganstudio.errors import UserError

from conftest import SHIPPED


@pytest.mark.parametrize("model", ["tiny", "shipped"])
def test_backends_agree_within_one_level(model, tiny_model):
    path = tiny_model if model == "tiny" else SHIPPED
    a = runtime.load(path)
    b = torch_backend.load(path)
    z = latent.z_batch(11, 70, a.nz)  # 70 > CHUNK: exercises batching
    ia, ib = a.images(z), b.images(z)
    assert ia.shape == (70, a.card.image_size, a.card.image_size, a.card.channels)
    assert np.abs(ia.astype(int) - ib.astype(int)).max() <= 1
    assert a.sha256 == b.sha256


def test_same_seed_same_image(tiny_model):
    g = runtime.load(tiny_model)
    z = latent.z_from_seed(5, g.nz)[None]
    assert np.array_equal(g.images(z), g.images(z))
    assert not np.array_equal(g.images(z), g.images(latent.z_from_seed(6, g.nz)[None]))


def test_one_session_per_graph_is_reused(tiny_model):
    runtime.load(tiny_model)
    before = runtime._ort_session.cache_info().hits
    runtime.load(tiny_model)
    assert runtime._ort_session.cache_info().hits == before + 1


def test_a_serving_session_is_single_threaded_and_draws_the_same_images():
    default, serving = runtime.load(SHIPPED), runtime.load(SHIPPED, threads=1)
    graph = str(serving.model.graph)
    mtime = serving.model.graph.stat().st_mtime
    opts = runtime._ort_session(graph, mtime, "auto", 1).get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert runtime._ort_session(graph, mtime, "auto", None) is not runtime._ort_session(graph, mtime, "auto", 1)
    z = latent.z_batch(3, 64, serving.nz)
    assert np.array_equal(default.images(z), serving.images(z))


def test_cpu_only_without_a_cuda_driver(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_driver_present", lambda: False)
    assert runtime.ort_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(UserError, match="no usable CUDA"):
        runtime.ort_providers("cuda")


def test_graph_that_does_not_match_the_card_is_refused(tiny_copy):
    data = bytearray((tiny_copy / GRAPH).read_bytes())
    data[-1] ^= 1
    (tiny_copy / GRAPH).write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256 differs"):
        runtime.load(tiny_copy)


def test_missing_graph_says_how_to_make_it(tiny_copy):
    (tiny_copy / GRAPH).unlink()
    with pytest.raises(UserError, match="ganstudio export"):
        runtime.load(tiny_copy)
    assert torch_backend.load(tiny_copy).nz == 8  # torch needs only the weights


def test_resolve_names_paths_and_files(tiny_model, monkeypatch, tmp_path):
    assert catalog.resolve(tiny_model).path == tiny_model.resolve()
    assert catalog.resolve(tiny_model / WEIGHTS).path == tiny_model.resolve()
    assert catalog.resolve(None).path == SHIPPED.resolve()  # the default model ships
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_model.parent))
    assert catalog.resolve("tiny").path == tiny_model.resolve()
    with pytest.raises(UserError, match="unknown model 'nope'.*mnist-dcgan"):
        catalog.resolve("nope")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(UserError, match="not a ganstudio model file"):
        catalog.resolve(tmp_path / "weights.bin")
    with pytest.raises(UserError, match="no generator.safetensors"):
        catalog.resolve(tmp_path)
    with pytest.raises(UserError, match="no such file"):
        catalog.resolve(os.path.join(str(tmp_path), "missing"))


def test_pickers_open_the_newest_run_else_the_default_checkpoint(tiny_model, monkeypatch, tmp_path):
    import shutil

    monkeypatch.chdir(tmp_path)  # no ./runs, no ./checkpoints here
    monkeypatch.delenv("GANSTUDIO_RUNS", raising=False)
    monkeypatch.delenv("GANSTUDIO_MODEL", raising=False)
    assert catalog.default_model().path == SHIPPED.resolve()
    runs = tmp_path / "runs"
    shutil.copytree(tiny_model, runs / "just-trained")
    assert catalog.default_model().path == (runs / "just-trained").resolve()


def test_every_onnx_runtime_session_is_built_by_runtime_session():
    """The settings (log level, optimisation, providers, threads, the one-line refusal) live in one function."""
    import ast
    from pathlib import Path

    package = Path(runtime.__file__).resolve().parents[1]
    builders = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                      for node in ast.walk(ast.parse(p.read_text()))
                      if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "InferenceSession")
    assert builders == ["explore/runtime.py"]


def test_the_encoders_session_runs_on_one_thread_without_spinning(tmp_path):
    from ganstudio.explore import projection

    graph = tmp_path / "encoder.onnx"
    graph.write_bytes(SHIPPED.joinpath(GRAPH).read_bytes())  # any graph: the settings are what is checked
    opts = projection._session(str(graph), graph.stat().st_mtime).get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.parametrize("where", ["path", "bytes"])
def test_a_graph_onnx_runtime_cannot_load_is_one_line_naming_it(tmp_path, where):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(UserError) as e:
        runtime.session(bad if where == "path" else bad.read_bytes())
    name = str(bad) if where == "path" else "the graph"
    assert str(e.value).startswith(f"{name}: ONNX Runtime cannot load this graph (") and "\n" not in str(e.value)
