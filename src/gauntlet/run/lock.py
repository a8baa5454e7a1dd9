"""One process at a time in a run directory.

The lock is an ``flock`` on ``RUN_DIR/.lock``, which also holds the holder's pid and host. The
kernel releases it when the holder exits, however it exits (SIGKILL too), so a stale lock file
never blocks a later resume.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from gauntlet.errors import GauntletError

LOCK_FILE = ".lock"


class RunLock:
    """``busy`` is the refusal, with ``{where}`` (the directory) and ``{holder}`` (``pid N on
    HOST``) filled in; the default is a run's."""

    def __init__(self, run_dir: str | Path, *, name: str = LOCK_FILE, busy: str = "") -> None:
        self.path = Path(run_dir) / name
        self.busy = busy or (
            "run directory {where} is in use by {holder}: two processes cannot train one run "
            "at once; wait for it to end, or stop it first"
        )
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise GauntletError(self.busy.format(where=self.path.parent, holder=holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
