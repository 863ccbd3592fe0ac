"""`ganstudio export MODEL --web DIR`: a static site that explores one model with no Python at all.

DIR gets index.html, the page's modules (explore.js, rng.js, site.js, site.css), the vendored onnxruntime-web
(vendor/ort/, see refresh_vendor.py) and model/: generator.onnx, card.json and model.json (record.py). Any
static server hosts it (`python -m http.server`, GitHub Pages, a Hugging Face static Space); the page fetches
nothing from anywhere else. The folder is built beside DIR and renamed into place, so a failed export leaves
no half-written site; an existing DIR is replaced only when it is an earlier export.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ganstudio.errors import UserError
from ganstudio.explore import runtime
from ganstudio.web import record

STATIC = Path(__file__).parent / "static"
PAGE_FILES = ("explore.js", "rng.js", "site.js", "site.css")
MARK = Path("model") / "model.json"  # what tells an earlier export from a folder of someone's files


def write(model: str, dest: Path) -> Path:
    """Export `model` (a name or path, as --model takes) as a static site in dest; returns dest."""
    gen = runtime.load(model)
    if dest.exists() and not (dest.is_dir() and (not any(dest.iterdir()) or (dest / MARK).is_file())):
        raise UserError(f"{dest}: exists and is not an earlier --web export; give an empty or new folder")
    fx, dirs, classes = record.analyse(gen)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as e:
        raise UserError(f"cannot write {dest}: {e.strerror or e}") from None
    try:
        staging.chmod(0o755)
        shutil.copy(STATIC / "site.html", staging / "index.html")
        for name in PAGE_FILES:
            shutil.copy(STATIC / name, staging / name)
        shutil.copytree(STATIC / "vendor", staging / "vendor")
        (staging / "model").mkdir()
        shutil.copy(gen.model.graph, staging / "model" / "generator.onnx")
        shutil.copy(gen.model.path / "card.json", staging / "model" / "card.json")
        data = record.model_record(gen, fx, dirs, classes)
        (staging / MARK).write_text(json.dumps(data, separators=(",", ":")))
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"cannot write {dest}: {e.strerror or e}") from None
    return dest
