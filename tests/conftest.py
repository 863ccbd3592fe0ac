"""Shared fixtures: a tiny exported generator (fast to build), and the shipped checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints" / "mnist-dcgan"


def make_tiny_model(
    directory: Path, seed: int = 0, nz: int = 8, image_size: int = 28, channels: int = 1, dataset: str = "synthetic"
) -> Path:
    """A randomly initialised DCGAN generator, exported like a trained one (card, ONNX, parity, grid)."""
    import torch

    from ganstudio.artifact.checkpoint import Card
    from ganstudio.train.export import export_generator
    from ganstudio.train.models import DCGANGenerator

    torch.manual_seed(seed)
    g = DCGANGenerator(nz=nz, ngf=8, image_size=image_size, channels=channels)
    arch = {"name": "dcgan", "nz": nz, "ngf": 8, "image_size": image_size, "channels": channels}
    card = Card(architecture=arch, output_range=(-1.0, 1.0), dataset=dataset, training={"steps": 0})
    export_generator(g, card, directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def server():
    """`ganstudio serve`'s app on a free 127.0.0.1 port with the shipped model; yields its URL."""
    import socket

    from ganstudio.studio.app import start

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo, url = start(str(SHIPPED), host="127.0.0.1", port=port, quiet=True)
    yield url
    demo.close()


@pytest.fixture()
def tiny_copy(tiny_model: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model that a test may damage."""
    import shutil

    return Path(shutil.copytree(tiny_model, tmp_path / "tiny"))
