"""The `ganstudio` command: one job per command, one module per kind of job.

Sampling commands (sample, interpolate, walk, project, info, eval) import only numpy, Pillow, rich and onnxruntime, so
they start in well under a second; torch is imported inside train and export (and --backend torch) only.
"""

from __future__ import annotations

from ganstudio.cli import explore, train, models, serve  # noqa: F401, I001  (each registers its commands on app, in this order)
from ganstudio.cli.app import app


def main() -> None:
    app(prog_name="ganstudio")
