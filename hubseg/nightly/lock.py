"""One nightly at a time per working warehouse: an advisory `flock` on a lock file.

The kernel drops a `flock` when its holder dies, however it dies (SIGKILL, OOM, reboot), so a
lock left by a killed run is never "stale" in a way that needs guessing: the next run simply
gets it. The file's content (run id, pid, start time, host) is only there to tell a refused
user which run holds the lock; a leftover file from a dead run is overwritten.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class LockHeld(RuntimeError):
    """Another nightly is running on the same working warehouse."""


@contextmanager
def nightly_lock(path: Path, run_id: str) -> Iterator[None]:
    """Hold the lock for the block; raise LockHeld at once (never wait) if it is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(_refusal(path)) from None
        _write_owner(fd, run_id)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released cleanly: leave no owner behind
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _write_owner(fd: int, run_id: str) -> None:
    owner = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
             "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode(), 0)
    os.fsync(fd)


def read_owner(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _refusal(path: Path) -> str:
    owner = read_owner(path)
    who = (f"run {owner.get('run_id')} (pid {owner.get('pid')} on {owner.get('host')}, "
           f"started {owner.get('started_at')})" if owner else "another process")
    return (f"another hubseg nightly is already running on this warehouse: {who}. "
            f"Wait for it to finish; the lock ({path}) is released automatically when that "
            "process exits, even if it is killed.")
