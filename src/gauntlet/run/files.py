"""Writing a file so that a reader, a crash or a full disk never leaves half of it behind.

Every file a run writes (checkpoints, the manifest, ``metrics.csv``, every picture through
:func:`atomic_save_figure`, a pending leaderboard row, the outputs of ``eval``, ``explain`` and
``attack``) goes through :func:`atomic_path`: the bytes go to a temporary file in the
*same directory*, are flushed to the disk, and only then renamed over the target. A rename
within one directory is atomic on every POSIX filesystem, so the target is either the old
complete file or the new complete one, also when the directory is on another filesystem than
the temporary directory or the process is killed with SIGKILL half way. When the write fails
(a full disk), the temporary file is removed and the error names the target.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_PREFIX = ".tmp-"


def no_space(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def describe_os_error(err: OSError) -> str:
    """``no space left on device: PATH`` and the like: the reason first, then the file."""
    reason = "no space left on device" if no_space(err) else (err.strerror or str(err)).lower()
    return f"{reason}: {err.filename}" if err.filename else reason


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; write it, and on leaving it replaces ``path``.

    On an error the temporary file is removed, ``path`` is untouched, and an ``OSError``
    carries ``path`` as its filename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename != str(path):
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporary files a killed writer left in ``directory``; returns them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if p.name.startswith(TMP_PREFIX) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _fsync_dir(directory: Path) -> None:
    # the rename itself reaches the disk only once the directory entry is flushed
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save_figure(fig: Any, path: str | Path, **savefig: Any) -> Path:
    """A matplotlib figure written like every other file: complete or not at all (a full disk
    leaves no 0-byte picture). The format comes from ``path``'s suffix."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format=fmt, **savefig)
    return path


DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


@contextmanager
def disk_faults(what: str) -> Iterator[None]:
    """A command's outputs: a full or read-only disk (or a permission refused) ends it with one
    line, ``gauntlet: error: WHAT: could not write ...: no space left on device: PATH``, and
    exit code 1, never a traceback."""
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_ERRORS:
            raise
        from gauntlet.errors import RunFailed, exit_with

        exit_with(RunFailed(f"{what}: could not write its output: {describe_os_error(err)}"), 1)
