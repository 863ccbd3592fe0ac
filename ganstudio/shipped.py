"""Where what ships with ganstudio lies: its generators (checkpoints/) and training recipes (train/).

A checkout keeps them at the top level, where the design card puts them. A wheel carries the same files as
ganstudio/_shipped/checkpoints and ganstudio/_shipped/train (pyproject.toml maps them there when it is built),
so an ordinary install finds them from any working directory, without the checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# The folder holding checkpoints/ and train/: ganstudio/_shipped in an installed wheel, else the checkout's root.
ROOT = _PACKAGE / "_shipped" if (_PACKAGE / "_shipped").is_dir() else _PACKAGE.parent
CHECKPOINTS = ROOT / "checkpoints"
RECIPES = ROOT / "train"
