"""Exclusive locks between processes: one engine per workspace, one build per site folder.

A second process that finds the lock held says so in one line and waits; the operating system
frees the lock when its holder exits, so a killed build never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def acquire(lock_path: Path, waiting: str) -> IO[str]:
    """Hold `lock_path` (created if needed); print `waiting` first if another process has it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a")  # noqa: SIM115 -- held across calls, closed by release()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"dlnotes: {waiting}", file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def release(handle: IO[str]) -> None:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


@contextlib.contextmanager
def exclusive(lock_path: Path, waiting: str) -> Iterator[None]:
    handle = acquire(lock_path, waiting)
    try:
        yield
    finally:
        release(handle)
