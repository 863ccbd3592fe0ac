"""Refresh the vendored onnxruntime-web runtime (static/vendor/ort/) from its npm tarball.

    python -m ganstudio.web.refresh_vendor 1.31.1            # runs `npm pack onnxruntime-web@1.31.1`
    python -m ganstudio.web.refresh_vendor --tarball FILE.tgz   # an already downloaded tarball

The page loads the WebAssembly build with SIMD and nothing else: the ES-module loader `ort.wasm.min.mjs`, the
Emscripten glue `ort-wasm-simd-threaded.mjs` and its `.wasm`. The WebGPU/JSEP/asyncify builds are 2x larger
and not used. Despite its name the "threaded" build runs on one thread, with no worker and no
SharedArrayBuffer, when `env.wasm.numThreads` is 1; onnxruntime-web itself drops to 1 on a page that is not
cross-origin isolated (which `python -m http.server` and GitHub Pages are not), so explore.js asks for 1.

VERSION records the npm version and the sha256 of every file, so a test can tell a partial or hand-edited
copy from a refresh. Nothing is fetched at run time: the page loads these files from beside itself.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor" / "ort"
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# What an exported site may carry of runtime: 1.31.1's three files are 14.9 MB, almost all of it the .wasm.
SIZE_BUDGET = 16 * 2**20
PACKAGE = "onnxruntime-web"


class RefreshError(Exception):
    """A tarball that cannot be vendored: one line saying why."""


def manifest(folder: Path) -> dict[str, object]:
    """VERSION's content as the folder holds it now (without the version)."""
    return {"files": {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}}


def extract(tarball: bytes, dest: Path) -> str:
    """Copy FILES out of an npm tarball of onnxruntime-web into dest and write dest/VERSION; returns the version.

    dest is replaced only when every file is there and the total fits SIZE_BUDGET."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            meta = json.loads(tar.extractfile("package/package.json").read())  # type: ignore[union-attr]
            blobs = {name: tar.extractfile(f"package/dist/{name}").read() for name in FILES}  # type: ignore[union-attr]
    except (tarfile.TarError, KeyError, OSError, json.JSONDecodeError, AttributeError) as e:
        raise RefreshError(f"not an npm tarball of {PACKAGE} with dist/{', dist/'.join(FILES)} ({e})") from None
    if meta.get("name") != PACKAGE:
        raise RefreshError(f"the tarball holds {meta.get('name')!r}, not {PACKAGE}")
    total = sum(len(b) for b in blobs.values())
    if total > SIZE_BUDGET:
        raise RefreshError(f"{PACKAGE} {meta.get('version')}: the runtime is {total / 2**20:.1f} MiB, over the {SIZE_BUDGET / 2**20:.0f} MiB budget")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ort.", dir=dest.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would keep a web server (or another user) out
    for name, blob in blobs.items():
        (staging / name).write_bytes(blob)
    record = {"package": PACKAGE, "version": meta["version"], "license": meta.get("license"), **manifest(staging)}
    (staging / "VERSION").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return str(meta["version"])


def npm_pack(version: str) -> bytes:
    """The registry's tarball of onnxruntime-web@version, through npm itself."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--silent"], cwd=tmp, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise RefreshError("npm is not installed") from None
        if done.returncode:
            raise RefreshError(f"npm pack {PACKAGE}@{version} failed: {done.stderr.strip().splitlines()[-1:]}")
        return (Path(tmp) / done.stdout.strip().splitlines()[-1]).read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help=f"the {PACKAGE} version to vendor (npm pack)")
    parser.add_argument("--tarball", type=Path, help="vendor from this .tgz instead of running npm")
    args = parser.parse_args(argv)
    if (args.version is None) == (args.tarball is None):
        parser.error("give a version or --tarball, one of them")
    try:
        blob = args.tarball.read_bytes() if args.tarball else npm_pack(args.version)
        version = extract(blob, VENDOR)
    except (RefreshError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"vendored {PACKAGE} {version} into {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
