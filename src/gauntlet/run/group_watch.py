"""A distributed run that cannot form its process group ends, with its record and exit code.

While ``torch.distributed`` forms the group (rank 0 waits for every peer, "MEMBER: 1/2") the
main thread is blocked inside torch's C++ store: Python's signal handlers cannot run, so
SIGTERM and Ctrl-C would be ignored and a missing peer waited for without end. A watcher
thread reads the signals from a wakeup pipe (:func:`signal.set_wakeup_fd`) and keeps the
clock; on a signal, or when the group has not formed within ``$GAUNTLET_GROUP_TIMEOUT_S``
(default 600 s), it records the run ``failed`` with why, and ends the process with 143, 130 or
1. Once the group has formed it steps aside and signals reach Lightning as usual.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

ENV_TIMEOUT = "GAUNTLET_GROUP_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 600.0
_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "Ctrl-C (SIGINT)"}


def group_timeout_s() -> float:
    from gauntlet.errors import GauntletError

    value = os.environ.get(ENV_TIMEOUT, "").strip()
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise GauntletError(f"{ENV_TIMEOUT}={value!r}: expected a number of seconds > 0")
    return seconds


def _formed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


@contextmanager
def forming_group(trainer: Any, give_up: Callable[[str, int], None]) -> Iterator[None]:
    """Around ``trainer.fit``: ``give_up(reason, exit_code)`` is called (from the watcher
    thread) when a signal arrives or time runs out before the group forms; it must end the
    process."""
    world = int(getattr(trainer, "world_size", 1) or 1)
    if world <= 1 or threading.current_thread() is not threading.main_thread():
        yield
        return
    timeout = group_timeout_s()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and not _formed():
            ready, _, _ = select.select([read_fd], [], [], 0.2)
            if ready:
                for signum in os.read(read_fd, 64):
                    if signum in _NAMES and not _formed():
                        give_up(
                            f"stopped by {_NAMES[signum]} while its {world} processes were "
                            "still forming their group",
                            128 + signum,
                        )
            if time.monotonic() > deadline and not _formed():
                give_up(
                    f"its {world} processes could not form their group within {timeout:.0f} s "
                    f"(a node never joined: check trainer.num_nodes and the cluster's "
                    f"allocation); set ${ENV_TIMEOUT} to wait longer",
                    1,
                )

    watcher = threading.Thread(target=watch, name="gauntlet-group-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous)
        watcher.join(timeout=1)
        os.close(read_fd)
        os.close(write_fd)
