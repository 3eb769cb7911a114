"""One trainer per run folder.

Two `facegen train` on the same --out would both write its checkpoints. The first
holds an flock on RUN/train.lock for as long as it runs; the kernel lets go of it
when that process ends in any way (kill -9 included), so a stale lock cannot stay.
The file also says who holds it, for the second trainer's message.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from .data import TrainingError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None

LOCK_NAME = "train.lock"


class RunLock:
    """An exclusive lock on a run folder: `acquire()` or TrainingError naming the holder; `release()`."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise TrainingError(f"{self.run_dir}: {self.holder()} is training in this run folder; "
                                "wait for it to finish (or stop it), or train into another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
        self._fd = fd
        return self

    def holder(self) -> str:
        """Who holds the lock, as the holder wrote it."""
        try:
            info = json.loads(self.path.read_text())
            return f"another facegen train (pid {int(info['pid'])} on {info['host']}, started {info['started']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another facegen train"

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def hold_run_folder(run_dir: str | Path, enabled: bool = True):
    """Hold the run folder's lock inside the block (when `enabled`: the main process of a run)."""
    lock = RunLock(run_dir).acquire() if enabled else None
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()
