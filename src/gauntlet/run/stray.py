"""A command refused before its run started leaves no directory behind.

Hydra makes the job's directory (``.hydra/`` and the command's log) before gauntlet can check
anything; when the command then stops on a user error, that directory holds nothing of a run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# what Hydra writes into a job's directory before the task runs
_HYDRA_MADE = {".hydra"}


def discard_if_stray(run_dir: Path, log_name: str) -> bool:
    """Remove ``run_dir`` when it holds only what Hydra made (``.hydra/``, ``LOG_NAME.log``):
    no manifest, checkpoint or metric. Returns whether it did."""
    if not run_dir.is_dir():
        return False
    names = {p.name for p in run_dir.iterdir()}
    if not names <= _HYDRA_MADE | {f"{log_name}.log"}:
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True
