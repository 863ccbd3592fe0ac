"""Atomic writes under faults: a full disk, a failed rename, a kill mid-write, a read-only run directory.

Each gives one line (a UserError) and keeps the last good file; nothing half-written or temporary stays behind.
The real full disk is a small tmpfs, mounted when this process may (root); otherwise those tests are skipped.
"""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from ganstudio.artifact import atomic
from ganstudio.cli import app
from ganstudio.errors import UserError
from ganstudio.train import state

REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "nz=12", "--set", "ngf=8", "--set", "ndf=8", "--set", "batch_size=16", "--set", "log_every=5",
        "--set", "sample_every=1000"]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".*.tmp"))


def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def full(fd):  # where a filesystem with delayed allocation reports it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(UserError, match="cannot write .*x.bin: No space left on device") as e:
        atomic.write_bytes(target, b"new" * 100_000)
    monkeypatch.undo()
    assert "\n" not in str(e.value)
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_a_failed_rename_is_one_line_and_leaves_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    def refused(*_):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(UserError, match="cannot write"):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_the_file_and_its_directory_are_synced_before_an_older_checkpoint_is_deleted(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_unlink = os.fsync, os.unlink

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def unlink(path, *args, **kwargs):
        events.append(("unlink", str(path)))
        real_unlink(path, *args, **kwargs)

    lin = torch.nn.Linear(2, 2)
    modules, optimizers = {"G": lin}, {"opt_G": torch.optim.Adam(lin.parameters())}
    rngs = {"noise": torch.Generator().manual_seed(0)}
    first = state.save(tmp_path, 1, {}, modules, optimizers, rngs, keep=1)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "unlink", unlink)
    second = state.save(tmp_path, 2, {}, modules, optimizers, rngs, keep=1)
    assert not first.exists() and second.exists()
    deleted = events.index(("unlink", str(first)))
    synced = [path for kind, path in events[:deleted] if kind == "fsync"]
    assert str(second.parent) in synced  # the directory entry of the new checkpoint is durable ...
    assert any(Path(p).name.startswith(f".{second.name}.") for p in synced)  # ... and so are its bytes


def test_temp_files_of_dead_writers_are_cleaned_and_ignored_by_git(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".step_0000020.safetensors.{dead_pid}.abc123_x.tmp"
    live = tmp_path / f".grid.png.{os.getpid()}.k2j4l5m6.tmp"
    other = tmp_path / ".hidden.tmp"  # not one of ours: no writer's pid in its name
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    atomic.clean(tmp_path)
    assert not stale.exists() and live.exists() and other.exists()
    atomic.clean(tmp_path / "missing")  # nothing to clean: no error
    # what atomic names a temp file, git ignores
    name = Path(atomic.temp_prefix(Path("runs/x/state/step_0000020.safetensors")) + "abcd1234.tmp").name
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", f"checkpoints/x/{name}"], cwd=REPO)
    assert ignored.returncode == 0, name


def test_the_decode_cache_writes_through_the_atomic_module(tmp_path, monkeypatch):
    import io

    import numpy as np
    from rich.console import Console

    from ganstudio.data import cache

    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    files = [tmp_path / "a.png"]
    files[0].write_bytes(b"x")
    images = np.zeros((2, 1, 4, 4), np.uint8)
    out = io.StringIO()
    got = cache.cached("folder", 4, tmp_path, files, lambda: images, Console(file=out))
    assert got is images and any(Path(p).name.startswith(".folder-4px-") for p in synced)
    # a full cache disk: a warning, the decoded images, and no temp file
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    files[0].write_bytes(b"changed")
    os.utime(files[0], ns=(1, 1))
    got = cache.cached("folder", 4, tmp_path, files, lambda: images, Console(file=out))
    assert got is images and "cannot cache" in out.getvalue() and leftovers(tmp_path) == []


def test_export_writes_the_weights_before_the_graph(tmp_path, monkeypatch):
    """The weights are the identity; a kill between the two leaves weights whose card names the graph to rebuild."""
    from ganstudio.artifact.checkpoint import Card
    from ganstudio.train import export
    from ganstudio.train.models import DCGANGenerator

    order: list[str] = []
    real = atomic.write_bytes
    monkeypatch.setattr(atomic, "write_bytes", lambda path, data: (order.append(Path(path).name), real(path, data))[1])
    arch = {"name": "dcgan", "nz": 8, "ngf": 8, "image_size": 28, "channels": 1}
    export.export_generator(DCGANGenerator(8, 8, 28, 1), Card(architecture=arch, output_range=(-1.0, 1.0), dataset="x"), tmp_path)
    assert order.index("generator.safetensors") < order.index("generator.onnx")


def test_an_unwritable_run_directory_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = CliRunner().invoke(app, ["train", "mnist", "--steps", "5", "--out", str(blocker / "run"), *TINY])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1 and "Traceback" not in r.output


# ---- a real small disk ------------------------------------------------------------------------------------


@pytest.fixture()
def small_disk(tmp_path):
    """A 2 MB tmpfs at tmp_path/disk (skipped where this process may not mount one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk; returns the filler to delete."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def test_a_write_larger_than_the_disk_is_one_line_and_leaves_nothing(small_disk):
    target = small_disk / "big.bin"
    target.write_bytes(b"old")
    with pytest.raises(UserError, match="No space left on device"):
        atomic.write_bytes(target, b"\1" * 4_000_000)
    assert target.read_bytes() == b"old" and leftovers(small_disk) == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "ganstudio", *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_a_run_whose_disk_fills_up_stops_with_one_line_and_keeps_its_last_checkpoint(small_disk):
    run = small_disk / "run"
    args = ["train", "mnist", "--out", str(run), *TINY, "--set", "checkpoint_every=5", "--set", "keep_checkpoints=1"]
    r = CliRunner().invoke(app, [*args, "--steps", "10"])
    assert r.exit_code == 0, r.output
    good = state.latest(run)
    filler = fill(small_disk)
    p = run_cli("train", "--resume", str(run), "--steps", "20")
    assert p.returncode == 2, p.stderr
    assert "No space left on device" in p.stderr and "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert state.latest(run) == good and leftovers(small_disk) == []
    state.read(good)  # the last good checkpoint is whole
    filler.unlink()  # room again: the run resumes from it and finishes
    r = CliRunner().invoke(app, ["train", "--resume", str(run), "--steps", "20"])
    assert r.exit_code == 0, r.output
    assert state.step_of(state.latest(run)) == 20


@pytest.mark.slow
def test_a_run_on_a_read_only_disk_stops_with_one_line(small_disk):
    run = small_disk / "run"
    r = CliRunner().invoke(app, ["train", "mnist", "--out", str(run), *TINY, "--steps", "5"])
    assert r.exit_code == 0, r.output
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    p = run_cli("train", "--resume", str(run), "--steps", "10")
    assert p.returncode == 2, p.stderr
    assert "Read-only file system" in p.stderr and "Traceback" not in p.stderr
    assert len([line for line in p.stderr.splitlines() if line.startswith("error: ")]) == 1
    p = run_cli("train", "mnist", "--steps", "5", "--out", str(small_disk / "fresh"), *TINY)
    assert p.returncode == 2 and "Read-only file system" in p.stderr and "Traceback" not in p.stderr
