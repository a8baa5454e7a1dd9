"""A multirun job whose process died (SIGKILL, the out-of-memory killer): recorded ``lost``.

The launcher that saw the process die calls :func:`record_lost` at once, so the manifest and
the leaderboard row say ``lost`` before the sweep ends, rather than ``running`` until the next
command that settles the leaderboard.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.run.manifest import MANIFEST, now_iso, read_manifest, write_manifest

log = logging.getLogger(__name__)


def record_lost(job_dir: Path, reason: str, cfg: Any) -> bool:
    """Mark the run in ``job_dir`` lost, with ``reason``, if it is still ``running``; ``cfg``
    is the job's config (it names the leaderboard). Returns whether it was marked.

    Another command can find the run gone first (a sibling job's start settles the
    leaderboard) and record it lost with a guess at why; the launcher saw how the process
    ended, so its reason replaces the guess."""
    from gauntlet.leaderboard.record import record

    if not (Path(job_dir) / MANIFEST).is_file():
        return False  # the job died before its run began: the sweep summary names it
    try:
        manifest = read_manifest(job_dir)
    except GauntletError as err:
        log.warning("%s", err)
        return False
    if manifest.get("status") not in ("running", "lost"):
        return False
    manifest.update(status="lost", error=reason, finished=manifest.get("finished") or now_iso())
    write_manifest(Path(job_dir), manifest)
    record(manifest, cfg)
    log.info("run %s in %s is lost: %s", manifest.get("run_id"), job_dir, reason)
    return True
