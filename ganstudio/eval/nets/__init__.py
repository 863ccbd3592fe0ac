"""The shipped feature networks: <name>.onnx and its card <name>.json (built by ganstudio.train.features)."""

from pathlib import Path

NETS_DIR = Path(__file__).resolve().parent
