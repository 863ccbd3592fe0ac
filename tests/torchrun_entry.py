"""`python -m ganstudio` for torchrun tests, with two test hooks set by environment variables.

GANSTUDIO_TEST_READONLY=DIR  ranks other than 0 fail at once if they write, create, rename or delete
                             anything under DIR (a Python audit hook sees every file operation the
                             trainer makes: open for writing, mkdir, rename/replace, remove)
GANSTUDIO_TEST_NAN=RANK:CALL D's loss is NaN on that rank's CALL-th discriminator step (counted from 1)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "os.symlink", "os.link", "shutil.rmtree"}


def forbid_writes(root: Path, rank: int) -> None:
    root = root.resolve()

    def inside(path: object) -> bool:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return False  # a file descriptor: its open was checked
        return Path(os.fsdecode(path)).resolve().is_relative_to(root)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE_FLAGS)
            touched = [path] if writes else []
        elif event in CHANGES:
            touched = [a for a in args[:2]]
        else:
            return
        for path in touched:
            if inside(path):
                raise PermissionError(f"rank {rank} must not write under {root}: {event} {path}")

    sys.addaudithook(hook)


def poison(rank_call: str, rank: int) -> None:
    nan_rank, call = map(int, rank_call.split(":"))
    if rank != nan_rank:
        return
    import torch

    from ganstudio.train import loop

    build, count = loop.build_loss, [0]

    def build_with_nan(*args):
        inner = build(*args)

        class Poisoned:
            def discriminator(self, d, real, fake):
                loss, m = inner.discriminator(d, real, fake)
                count[0] += 1
                return (loss * torch.nan if count[0] == call else loss), m

            def generator(self, *a):
                return inner.generator(*a)

        return Poisoned()

    loop.build_loss = build_with_nan


if __name__ == "__main__":
    rank = int(os.environ["RANK"])
    if rank != 0 and "GANSTUDIO_TEST_READONLY" in os.environ:
        forbid_writes(Path(os.environ["GANSTUDIO_TEST_READONLY"]), rank)
    if "GANSTUDIO_TEST_NAN" in os.environ:
        poison(os.environ["GANSTUDIO_TEST_NAN"], rank)
    from ganstudio.cli import main

    sys.argv[0] = "ganstudio"
    main()
