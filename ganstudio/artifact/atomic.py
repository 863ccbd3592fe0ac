"""Atomic file writes: a reader (or a killed run) sees the old file or the new one, never half of one.

A write goes to `.NAME.<pid>.<random>.tmp` beside NAME, is fsynced, renamed over NAME, and the directory is
fsynced, so the new name survives a power loss before anything older is deleted. A SIGKILL mid-write leaves the
temp file: `clean` removes those whose writer is gone. Any OSError (a full disk, a read-only or missing
directory) is one line, a UserError, and the old file stays as it was.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ganstudio.errors import UserError

_TEMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")  # .NAME.<pid>.<random>.tmp


def temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def write_with(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Stream `write(file)` into a temp file beside `path`, fsync it, rename it over `path`, fsync the directory."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary readable files
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_with(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # filesystems that cannot sync a directory
            raise
    finally:
        os.close(fd)


def clean(directory: Path) -> None:
    """Remove the temp files of writers that are gone (killed mid-write); a live process's are left alone."""
    try:
        names = [p for p in directory.iterdir() if _TEMP.match(p.name)]
    except OSError:
        return
    for p in names:
        if not _alive(int(_TEMP.match(p.name).group(1))):
            try:
                p.unlink()
            except OSError:
                pass  # a read-only directory: the next write there reports it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number no process has: leave the file rather than guess)
    return True
