"""`ganstudio export MODEL --hf DIR`: the Hugging Face Hub folder, read back as the Hub reads it, and loaded back by ganstudio."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.artifact import catalog
from ganstudio.artifact.checkpoint import sha256_file
from ganstudio.cli import app
from ganstudio.explore import images

huggingface_hub = pytest.importorskip("huggingface_hub")  # gradio's own dependency: there with the core install
SHIPPED = catalog.REPO_ROOT / "checkpoints" / "mnist-dcgan"


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(r, message: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    assert message in r.output, r.output


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub") / "mnist-dcgan"
    r = run("export", "mnist-dcgan", "--hf", folder)
    assert r.exit_code == 0, r.output
    return folder


def test_the_folder_holds_what_the_hub_expects(hub):
    assert sorted(p.relative_to(hub).as_posix() for p in hub.rglob("*") if p.is_file()) == [
        "README.md", "config.json", "generator.safetensors", "grid.png", "onnx/generator.onnx"]
    assert sha256_file(hub / "generator.safetensors") == sha256_file(SHIPPED / "generator.safetensors")
    assert sha256_file(hub / "onnx" / "generator.onnx") == sha256_file(SHIPPED / "generator.onnx")
    config = json.loads((hub / "config.json").read_text())
    shipped = json.loads((SHIPPED / "card.json").read_text())
    assert config == shipped  # the card, and the sha256 of both files
    assert config["files"]["generator.safetensors"] == sha256_file(hub / "generator.safetensors")
    assert not list(hub.parent.glob(".*tmp-*"))


def test_the_model_card_reads_as_the_hub_reads_it(hub):
    card = huggingface_hub.ModelCard.load(hub / "README.md")
    data = card.data
    assert data.pipeline_tag == "unconditional-image-generation" and data.library_name == "ganstudio"
    assert data.license == "mit" and data.datasets == ["ylecun/mnist"]
    assert {"ganstudio", "gan", "dcgan", "onnx", "safetensors", "mnist"} <= set(data.tags)
    assert data.model_name == "mnist-dcgan"
    evaluated = json.loads((SHIPPED / "eval.json").read_text())
    results = {r.metric_type: r for r in data.eval_results}
    assert set(results) == {f"ganstudio-{k}" for k in ("fd", "kid", "precision", "recall", "density", "coverage")}
    for key in ("fd", "kid", "precision", "recall", "density", "coverage"):
        r = results[f"ganstudio-{key}"]
        assert r.metric_value == evaluated["metrics"][key]
        assert r.metric_args == {"n": evaluated["n"], "seed": evaluated["seed"], "real_vs_real": evaluated["baseline"][key]}
        assert r.task_type == "unconditional-image-generation" and "not Inception" in r.metric_name
        assert "FID" not in r.metric_type
    assert "grid.png" in card.text and 'InferenceSession("onnx/generator.onnx")' in card.text


def test_the_usage_snippet_draws_the_seed_ganstudio_draws(hub, monkeypatch):
    """The README's ONNX snippet, run as written in the folder, gives seed 7's image."""
    from ganstudio.explore import latent, runtime

    code = huggingface_hub.ModelCard.load(hub / "README.md").text.split("```python\n")[1].split("```")[0]
    scope: dict = {}
    monkeypatch.chdir(hub)
    exec(code, scope)

    gen = runtime.load(SHIPPED)
    assert np.array_equal(scope["images"], gen.raw(latent.z_from_seed(7, gen.nz)[None]))


def test_model_dir_loads_the_folder_back_with_the_same_identity(hub, tmp_path):
    assert run("sample", "--model", hub, "--seed", 7, "--n", 16, "--out", tmp_path / "hub.png").exit_code == 0
    assert run("sample", "--model", "mnist-dcgan", "--seed", 7, "--n", 16, "--out", tmp_path / "shipped.png").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "hub.png")), np.asarray(Image.open(tmp_path / "shipped.png")))
    a, b = images.read_recipe(tmp_path / "hub.png"), images.read_recipe(tmp_path / "shipped.png")
    assert a["model_sha256"] == b["model_sha256"] == sha256_file(SHIPPED / "generator.safetensors")
    assert catalog.resolve(hub).graph == hub / "onnx" / "generator.onnx"
    info = run("info", hub)
    assert info.exit_code == 0, info.output


def test_a_model_without_a_current_eval_has_no_results(tiny_copy, tmp_path):
    r = run("export", tiny_copy, "--hf", tmp_path / "hub")
    assert r.exit_code == 0, r.output
    card = huggingface_hub.ModelCard.load(tmp_path / "hub" / "README.md")
    assert card.data.eval_results is None and card.data.datasets is None
    assert "Not evaluated for these weights" in card.text


def test_refusals_are_one_line_and_write_nothing(tiny_copy, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    one_line_error(run("export", tiny_copy, "--hf", tmp_path / "full"), "not an empty folder")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]
    one_line_error(run("export", tiny_copy, "--hf", tmp_path / "a", "--triton", tmp_path / "b"), "--hf DIR writes the Hub folder on its own")
    one_line_error(run("export", "no-such-model", "--hf", tmp_path / "c"), "unknown model 'no-such-model'")
    shutil.copyfile(SHIPPED / "generator.onnx", tiny_copy / "generator.onnx")  # another model's graph
    one_line_error(run("export", tiny_copy, "--hf", tmp_path / "d"), "not the graph of these weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "tiny"]


def test_an_inception_eval_is_named_as_fid_not_as_ganstudios_own_space(tmp_path):
    model = shutil.copytree(SHIPPED, tmp_path / "m")
    evaluated = json.loads((model / "eval.json").read_text())
    evaluated["space"] = {**evaluated["space"], "kind": "inception", "name": "inception", "what": "the TF Inception graph"}
    (model / "eval.json").write_text(json.dumps(evaluated))
    assert run("export", model, "--hf", tmp_path / "hub").exit_code == 0
    card = huggingface_hub.ModelCard.load(tmp_path / "hub" / "README.md")
    names = [r.metric_name for r in card.data.eval_results]
    assert names and all("Inception features as FID (n=2,500" in n and "not Inception" not in n for n in names)
    assert "FD here is FID" in card.text and "not Inception FID numbers" not in card.text
