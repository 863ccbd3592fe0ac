import json

import numpy as np
import onnx
import pytest
import torch

from ganstudio.artifact import checkpoint
from ganstudio.train import export
from ganstudio.explore import images
from ganstudio.artifact.checkpoint import CARD, GRAPH, GRID, WEIGHTS, Card
from ganstudio.train.models import DCGANGenerator, MLPGenerator

from conftest import make_tiny_model


def test_export_writes_the_full_set_with_parity(tiny_model):
    for name in (WEIGHTS, GRAPH, CARD, GRID):
        assert (tiny_model / name).is_file()
    card = checkpoint.read_card(tiny_model / WEIGHTS)
    assert card.parity["max_abs_diff"] <= export.PARITY_TOLERANCE
    assert set(card.parity["per_batch"]) == {"1", "7", "64"}
    assert card.files[GRAPH] == checkpoint.sha256_file(tiny_model / GRAPH)
    on_disk = json.loads((tiny_model / CARD).read_text())
    assert on_disk["files"][WEIGHTS] == checkpoint.sha256_file(tiny_model / WEIGHTS)
    assert images.read_recipe(tiny_model / GRID)["op"] == "sample"


def test_onnx_graph_has_a_dynamic_batch(tiny_model):
    import onnxruntime as ort

    model = onnx.load(str(tiny_model / GRAPH))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not fixed
    session = ort.InferenceSession(str(tiny_model / GRAPH), providers=["CPUExecutionProvider"])
    for b in (1, 3, 130):
        assert session.run(None, {"z": np.zeros((b, 8), np.float32)})[0].shape == (b, 1, 28, 28)


@pytest.mark.parametrize(
    "g,arch,out_range",
    [
        (DCGANGenerator(16, 8, 64, 3), {"name": "dcgan", "nz": 16, "ngf": 8, "image_size": 64, "channels": 3}, (-1.0, 1.0)),
        (MLPGenerator(16, 32, 28, 1), {"name": "mlp", "nz": 16, "hidden": 32, "image_size": 28, "channels": 1}, (0.0, 1.0)),
    ],
)
def test_parity_for_other_architectures(tmp_path, g, arch, out_range):
    card = export.export_generator(g, Card(architecture=arch, output_range=out_range, dataset="x"), tmp_path)
    assert card.parity["max_abs_diff"] < 1e-5


def test_inference_form_folds_the_stem_into_one_gemm_and_stays_exact():
    """The exported stem is a Gemm with BatchNorm folded in (ORT's ConvTranspose on 1x1 input is slow)."""
    g = DCGANGenerator(16, 8, 32, 3)
    bn = g.net[1]
    bn.running_mean.normal_(), bn.running_var.uniform_(0.5, 2.0), bn.bias.data.normal_()  # stats that matter
    g.eval()
    graph = onnx.load_from_string(export.onnx_bytes(g, 16))
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("ConvTranspose") == 3 and ops.count("Gemm") == 1  # 4 -> 8 -> 16 -> 32 upsampling; the stem
    assert "BatchNormalization" not in ops
    assert max(export.parity(g, graph.SerializeToString(), 16).values()) < 1e-5
    z = torch.randn(5, 16)
    with torch.inference_mode():
        assert torch.allclose(export.inference_form(g)(z), g(z), atol=1e-6)


def test_export_refuses_a_graph_that_disagrees_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "parity", lambda *a: {"1": 0.5, "7": 0.0, "64": 0.0})
    with pytest.raises(RuntimeError, match="disagrees"):
        make_tiny_model(tmp_path / "bad")
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_reexport_rebuilds_the_graph_from_the_weights(tiny_copy):
    (tiny_copy / GRAPH).unlink()
    export.export_run(tiny_copy)
    assert (tiny_copy / GRAPH).is_file()
    assert checkpoint.read_card(tiny_copy / WEIGHTS).files[GRAPH] == checkpoint.sha256_file(tiny_copy / GRAPH)


def test_exported_module_is_plain_and_eval(tiny_model):
    """The grid in the checkpoint comes from eval-mode BatchNorm: re-rendering it through torch matches."""
    card, tensors = checkpoint.load_weights(tiny_model / WEIGHTS)
    g = DCGANGenerator(8, 8, 28, 1)
    g.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=False)
    from ganstudio.explore import latent

    z = latent.z_batch(0, 64, 8)
    with torch.inference_mode():
        pixels = images.to_uint8(g.eval()(torch.from_numpy(z)).numpy(), card.output_range)
    from PIL import Image

    assert np.array_equal(np.asarray(images.tile(pixels)), np.asarray(Image.open(tiny_model / GRID)))
