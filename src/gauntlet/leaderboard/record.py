"""Recording a run on the leaderboard from the training entry point."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)


def record(manifest: dict[str, Any], cfg: DictConfig) -> None:
    """Upsert the run's row. A store that cannot be reached is logged, never fatal:
    the manifest in the run directory stays the source of truth, and
    ``gauntlet leaderboard import`` backfills the row later."""
    settings = cfg.get("leaderboard") or {}
    if not settings.get("enabled", True):
        return
    from gauntlet.leaderboard.store import Leaderboard, redact_url, resolve_url

    url = resolve_url(settings.get("url"), cfg.paths.log_dir)
    try:
        board = Leaderboard.open(url)
        try:
            board.upsert(manifest)
        finally:
            board.close()
    except Exception as err:
        log.error("could not record run %s on %s: %s", manifest["run_id"], redact_url(url), err)
