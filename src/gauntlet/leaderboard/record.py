"""Recording a run on the leaderboard from the training entry point."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def record(manifest: Mapping[str, Any], cfg: Any) -> bool:
    """Upsert the run's row in the leaderboard ``cfg`` names; returns whether it was recorded.

    ``cfg`` is the run's config (a DictConfig or a mapping): ``leaderboard.url`` (null: the
    environment, else the SQLite file in ``paths.log_dir``) and ``leaderboard.enabled``.
    A store that cannot be reached is logged, never fatal: the manifest in the run directory
    stays the source of truth, and ``gauntlet leaderboard import`` backfills the row later.
    """
    settings = cfg.get("leaderboard") or {}
    if not settings.get("enabled", True):
        return False
    from gauntlet.leaderboard.store import Leaderboard, redact_url, resolve_url
    from gauntlet.redaction import redact_text

    paths = cfg.get("paths") or {}
    url = str(settings.get("url") or "the default store")
    try:
        url = resolve_url(settings.get("url"), paths.get("log_dir") or "logs")
        with Leaderboard.open(url) as board:
            board.upsert(manifest)
    except Exception as err:
        log.error(
            "could not record run %s on %s: %s; `gauntlet leaderboard import %s` records it later",
            manifest.get("run_id"),
            redact_url(url),
            redact_text(str(err)),
            manifest.get("run_dir") or "RUN_DIR",
        )
        return False
    return True
