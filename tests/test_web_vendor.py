"""The vendored onnxruntime-web runtime: what is checked in is what a refresh writes, within the size budget."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ganstudio.web import refresh_vendor as rv


def _tarball(files: dict[str, bytes], name: str = "onnxruntime-web", version: str = "9.9.9") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in {"package/package.json": json.dumps({"name": name, "version": version, "license": "MIT"}).encode(),
                           **{f"package/dist/{k}": v for k, v in files.items()}}.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_checked_in_runtime_matches_its_version_record():
    record = json.loads((rv.VENDOR / "VERSION").read_text())
    assert record["package"] == "onnxruntime-web" and record["license"] == "MIT"
    assert record["files"] == rv.manifest(rv.VENDOR)["files"]  # every file as the refresh wrote it
    assert sorted(p.name for p in rv.VENDOR.iterdir()) == sorted([*rv.FILES, "VERSION"])  # nothing else ships
    assert sum((rv.VENDOR / f).stat().st_size for f in rv.FILES) <= rv.SIZE_BUDGET


def test_runtime_names_no_outside_url_it_would_load():
    """The loader finds its .mjs/.wasm beside itself; the one URL in it is a warning's link to a guide."""
    import re

    for name in ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs"):
        urls = set(re.findall(rb"https?://[^\"' )]+", (rv.VENDOR / name).read_bytes()))
        assert urls <= {b"https://web.dev/cross-origin-isolation-guide/"}, (name, urls)


def test_extract_writes_files_and_record(tmp_path: Path):
    files = {n: n.encode() * 3 for n in rv.FILES}
    dest = tmp_path / "vendor" / "ort"
    dest.mkdir(parents=True)
    (dest / "stale.wasm").write_bytes(b"old")  # a refresh replaces the folder, leaving nothing of the old one
    assert rv.extract(_tarball(files), dest) == "9.9.9"
    assert sorted(p.name for p in dest.iterdir()) == sorted([*rv.FILES, "VERSION"])
    record = json.loads((dest / "VERSION").read_text())
    assert record["version"] == "9.9.9" and record["files"] == rv.manifest(dest)["files"]
    assert (dest / rv.FILES[0]).read_bytes() == files[rv.FILES[0]]
    assert dest.stat().st_mode & 0o755 == 0o755


@pytest.mark.parametrize("case, message", [
    ("missing", "not an npm tarball"),
    ("other", "not onnxruntime-web"),
    ("big", "over the"),
    ("garbage", "not an npm tarball"),
])
def test_extract_refuses_and_leaves_the_old_copy(tmp_path: Path, monkeypatch, case: str, message: str):
    dest = tmp_path / "ort"
    dest.mkdir()
    (dest / "VERSION").write_text("old")
    files = {n: b"x" for n in rv.FILES}
    blob = {
        "missing": lambda: _tarball({n: b"x" for n in rv.FILES[:2]}),
        "other": lambda: _tarball(files, name="left-pad"),
        "big": lambda: _tarball(files),
        "garbage": lambda: b"not a tarball",
    }[case]()
    if case == "big":
        monkeypatch.setattr(rv, "SIZE_BUDGET", 2)
    with pytest.raises(rv.RefreshError, match=message):
        rv.extract(blob, dest)
    assert (dest / "VERSION").read_text() == "old"


def test_main_says_one_line_for_a_bad_tarball(tmp_path: Path, capsys):
    bad = tmp_path / "x.tgz"
    bad.write_bytes(b"nope")
    assert rv.main(["--tarball", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: not an npm tarball") and "\n" not in err
