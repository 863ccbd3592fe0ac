"""The wall: the serving path (CLI sampling, projecting, info, runtime) must work with torch impossible to import."""

import subprocess
import sys

BLOCK = """
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch.") or name.startswith("torchvision"):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, NoTorch())
"""


def run_blocked(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=tmp_path)


def test_cli_samples_without_torch(tmp_path):
    code = """
from ganstudio.cli import app
import sys
try:
    app(["sample", "--n", "16", "--out", "grid.png"])
except SystemExit as e:
    assert e.code in (0, None), e.code
try:
    app(["sample", "--dim", "3", "--steps", "4", "--out", "sweep", "--gif"])
except SystemExit as e:
    assert e.code in (0, None), e.code
try:
    app(["project", "grid.png", "--steps", "2", "--out", "projected.png"])
except SystemExit as e:
    assert e.code in (0, None), e.code
try:
    app(["info"])
except SystemExit as e:
    assert e.code in (0, None), e.code
assert "torch" not in sys.modules
print("ok")
"""
    p = run_blocked(code, tmp_path)
    assert p.returncode == 0, p.stderr
    assert "ok" in p.stdout
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "sweep" / "strip.gif").is_file()
    assert (tmp_path / "projected.png").is_file()


def test_importing_the_serving_modules_pulls_in_nothing_heavy(tmp_path):
    code = """
import sys
import ganstudio.cli, ganstudio.explore.runtime, ganstudio.explore.operations, ganstudio.explore.latent, ganstudio.explore.images, ganstudio.explore.projection, ganstudio.artifact.catalog
heavy = [m for m in ("torch", "gradio", "onnx", "onnxruntime", "matplotlib", "pandas") if m in sys.modules]
print(heavy)
"""
    p = run_blocked(code, tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
