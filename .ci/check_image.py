"""Checks .ci/container runs on the built serving image (its config, its files, its output). Exit 1 on a failure.

    check_image.py config INSPECT_JSON          CMD serves on 0.0.0.0:7860, a non-root user, a HEALTHCHECK
    check_image.py workdir INSPECT_JSON         prints the image's working directory
    check_image.py contents ROOTFS HOST_CA      no torch, no copy of the host's CA bundle, no runs/ or .git
    check_image.py same-pixels A.png B.png      the two PNGs hold the same pixels and the same recipe
    check_image.py size ROOTFS LIMIT_MB         prints the unpacked size; fails above the limit
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def fail(message: str) -> None:
    print(f"check_image: {message}", file=sys.stderr)
    sys.exit(1)


def _config(inspect_json: str) -> dict:
    return json.loads(inspect_json)["Docker"]["config"]


def config(inspect_json: str) -> None:
    c = _config(inspect_json)
    command = (c.get("Entrypoint") or []) + (c.get("Cmd") or [])
    if command != ["ganstudio", "serve", "--host", "0.0.0.0", "--port", "7860"]:
        fail(f"the image runs {command}, not `ganstudio serve --host 0.0.0.0 --port 7860`")
    if c.get("User", "") in ("", "0", "root") or c["User"].split(":")[0] in ("0", "root"):
        fail(f"the image runs as {c.get('User') or 'root'}")
    health = c.get("Healthcheck") or {}
    if health.get("Test") != ["CMD", "python", "-m", "ganstudio.deploy.health"]:  # what serve_check.py runs
        fail(f"the image's HEALTHCHECK is {health.get('Test')} (built with --format docker?)")
    if "7860/tcp" not in (c.get("ExposedPorts") or {}):
        fail(f"port 7860 is not exposed: {c.get('ExposedPorts')}")
    print(f"config ok: {' '.join(command)} as user {c['User']}, HEALTHCHECK {' '.join(health['Test'])}")


def contents(root: str, host_ca: str) -> None:
    rootfs = Path(root)
    host_bundle = Path(host_ca).read_bytes() if Path(host_ca).is_file() else None
    for dirpath, dirnames, filenames in os.walk(rootfs):
        here = Path(dirpath)
        for d in dirnames:
            if d in ("torch", "torchvision") and here.name == "site-packages":
                fail(f"torch is installed: {here / d}")
            if d == ".git" or (d == "runs" and here.relative_to(rootfs).parts[:1] in (("opt",), ("home",))):
                fail(f"{here / d} is in the image (.dockerignore?)")
        for f in filenames:
            p = here / f
            if host_bundle is not None and not p.is_symlink() and p.is_file() and p.stat().st_size == len(host_bundle):
                if p.read_bytes() == host_bundle:
                    fail(f"{p.relative_to(rootfs)} is this machine's CA bundle")
    print("contents ok: no torch, no host CA bundle, no .git or runs/")


def workdir(inspect_json: str) -> None:
    print(_config(inspect_json).get("WorkingDir") or "/")


def same_pixels(a: str, b: str) -> None:
    import numpy as np
    from PIL import Image

    from ganstudio.explore.images import read_recipe

    pa, pb = np.asarray(Image.open(a)), np.asarray(Image.open(b))
    if pa.shape != pb.shape:
        fail(f"{a} is {pa.shape}, {b} is {pb.shape}")
    diff = int(np.abs(pa.astype(int) - pb.astype(int)).max())
    ra, rb = read_recipe(a), read_recipe(b)
    if diff > 1 or ra != rb:  # the image may have another ONNX Runtime release than this checkout: 1/255 allowed
        fail(f"the image's grid differs from this checkout's: max pixel difference {diff}, recipes equal: {ra == rb}")
    print(f"pixels ok: {pa.shape}, max difference {diff}/255, the same recipe (model {ra['model_sha256'][:12]})")


def size(root: str, limit_mb: str) -> None:
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                total += os.lstat(p).st_size
    mb = total / 2**20
    print(f"serving image unpacked: {mb:.0f} MiB (limit {limit_mb} MiB)")
    if mb > float(limit_mb):
        fail(f"the serving image is {mb:.0f} MiB, over {limit_mb} MiB")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"config": config, "workdir": workdir, "contents": contents, "same-pixels": same_pixels, "size": size}[command](*args)
