"""The pip requirements a container installs, read from pyproject.toml, with one ONNX Runtime package chosen.

pyproject.toml picks onnxruntime-gpu or onnxruntime by environment markers (the platform), but an image
chooses by what it is for: the CPU serving image wants plain onnxruntime (a fraction of the GPU build's size) on the very
platform where the markers would pick the GPU build. So the Dockerfile runs this file, before the package
itself is copied in (so the dependency layer is cached while only code changes), and installs the result:

    python requirements.py pyproject.toml --ort onnxruntime              # the core dependencies
    python requirements.py pyproject.toml --ort onnxruntime --extra train  # the train extra's lines alone

Standard library only: it runs in a bare build stage.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ORT_PACKAGES = ("onnxruntime", "onnxruntime-gpu")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _name(requirement: str) -> str:
    found = _NAME.match(requirement)
    if not found:
        raise ValueError(f"not a requirement: {requirement!r}")
    return found.group(1).lower().replace("_", "-").replace(".", "-")


def container_requirements(pyproject: dict, ort: str, extra: str | None = None) -> list[str]:
    """The core dependencies (or one extra's), the ONNX Runtime lines replaced by one: `ort` with the first's range.

    The markers that chose between the ONNX Runtime builds are dropped with them; every other line is kept as
    written, markers included, for pip to evaluate.
    """
    if ort not in ORT_PACKAGES:
        raise ValueError(f"--ort {ort!r}: use one of {', '.join(ORT_PACKAGES)}")
    project = pyproject["project"]
    if extra is None:
        lines = project["dependencies"]
    else:
        extras = project.get("optional-dependencies", {})
        if extra not in extras:
            raise ValueError(f"--extra {extra!r}: pyproject.toml has {', '.join(sorted(extras)) or 'no extras'}")
        lines = extras[extra]
    out: list[str] = []
    chosen = False
    for line in lines:
        if _name(line) not in ORT_PACKAGES:
            out.append(line)
        elif not chosen:
            requirement = line.split(";", 1)[0].strip()
            out.append(ort + requirement[len(_name(line)) :])
            chosen = True
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--ort", default="onnxruntime", help="onnxruntime (CPU) or onnxruntime-gpu (CUDA)")
    parser.add_argument("--extra", default=None, help="an optional-dependencies group instead of the core")
    args = parser.parse_args(argv)
    try:
        lines = container_requirements(tomllib.loads(args.pyproject.read_text()), args.ort, args.extra)
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as e:
        print(f"error: {args.pyproject}: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
