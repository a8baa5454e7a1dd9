"""A run whose process is gone without recording an end (SIGKILL, the OOM killer, a lost node).

While a run trains, its record refreshes ``heartbeat`` in the manifest and the leaderboard row
every :data:`HEARTBEAT_S` seconds, beside the ``pid`` and ``host`` of its process. A
``running`` record is *lost* when

- its host is this machine and its run directory's lock is free (or, without the directory,
  its pid no longer runs), or
- its heartbeat is older than :data:`STALE_AFTER_S` (a run on another machine).

The next ``gauntlet leaderboard``, ``resume=`` or study that meets it records it as ``lost``.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gauntlet.run.lock import LOCK_FILE

HEARTBEAT_ENV = "GAUNTLET_HEARTBEAT_S"
HEARTBEAT_S = 30.0
# several missed heartbeats: a busy or suspended machine is not taken for a dead one
STALE_AFTER_S = 10 * HEARTBEAT_S


def heartbeat_seconds() -> float:
    try:
        return max(0.05, float(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_S)))
    except ValueError:
        return HEARTBEAT_S


def lost_reason(record: Mapping[str, Any], now: dt.datetime | None = None) -> str | None:
    """Why a ``running`` record's process is gone, or None while it may still run."""
    if record.get("status") != "running":
        return None
    pid, host = record.get("pid"), record.get("host")
    where = f"pid {pid} on {host}" if pid else f"its process on {host}"
    ending = "ended without recording how (killed by SIGKILL or the out-of-memory killer?)"
    if host == socket.gethostname():
        run_dir = Path(str(record.get("run_dir") or ""))
        if record.get("run_dir") and (run_dir / LOCK_FILE).is_file():
            if not _locked(run_dir / LOCK_FILE):
                return f"{where} {ending}"
            return None
        if isinstance(pid, int) and not _alive(pid):
            return f"{where} {ending}"
    beat = _time(record.get("heartbeat"))
    if beat is None:
        return None  # written before heartbeats existed: nothing to judge by
    now = now or dt.datetime.now(dt.timezone.utc)
    silent = (now - beat).total_seconds()
    if silent > STALE_AFTER_S:
        return f"{where} sent no heartbeat for {silent:.0f} s; {ending}"
    return None


def _locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as err:
        return err.errno == errno.EPERM
    return True


def _time(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
