"""Recorded runs as ``reproduce`` and ``diff`` read them: found by directory or run_id, and
their metrics told apart from their timings (which differ between any two runs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.run.manifest import MANIFEST, read_manifest

log = logging.getLogger(__name__)

TIMING_PREFIXES = ("perf/",)
TIMING_SUFFIXES = ("_s", "_ms", "_seconds")


def is_timing(name: str) -> bool:
    return name.startswith(TIMING_PREFIXES) or name.endswith(TIMING_SUFFIXES)


def find_run(run: str, log_dir: str, url: str | None) -> dict[str, Any]:
    """The manifest of RUN: a run directory, or a run_id looked up on the leaderboard."""
    path = Path(run).expanduser()
    if path.is_dir() or path.name == MANIFEST:
        return read_manifest(path)
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    board_url = resolve_url(url, log_dir, create=False)
    try:
        with Leaderboard.open(board_url, create=False) as board:
            stored = board.get(run)
            where = board.url
    except GauntletError as err:
        raise GauntletError(
            f"{run!r} is neither a run directory nor readable as a run_id: {err}"
        ) from err
    if stored is None:
        raise GauntletError(
            f"{run!r}: no such run directory, and no run with that run_id on {where}; "
            "give a run directory or a run_id from `gauntlet leaderboard`"
        )
    run_dir = Path(str(stored.get("run_dir") or ""))
    if stored.get("run_dir") and (run_dir / MANIFEST).is_file():
        return read_manifest(run_dir)
    log.info("run directory %s is not here; using the leaderboard's record", run_dir)
    return stored
