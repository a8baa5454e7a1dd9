"""Recording a run on the leaderboard; a row that cannot be written yet is kept pending."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def record(manifest: Mapping[str, Any], cfg: Any, *, quiet: bool = False) -> bool:
    """Upsert the run's row in the leaderboard ``cfg`` names; returns whether it was recorded.

    ``cfg`` is the run's config (a DictConfig or a mapping): ``leaderboard.url`` (null: the
    environment, else the SQLite file in ``paths.log_dir``) and ``leaderboard.enabled``.
    When the store cannot be reached the row is kept in the run directory as pending (see
    :mod:`gauntlet.run.pending`); the next command that reaches the store writes it.
    ``quiet`` logs the failure at debug level only (heartbeats).
    """
    settings = cfg.get("leaderboard") or {}
    if not settings.get("enabled", True):
        return False
    from gauntlet.leaderboard.store import Leaderboard, redact_url, resolve_url
    from gauntlet.redaction import redact_text
    from gauntlet.run import pending

    paths = cfg.get("paths") or {}
    url = str(settings.get("url") or "the default store")
    try:
        url = resolve_url(settings.get("url"), paths.get("log_dir") or "logs")
        with Leaderboard.open(url, settle=not quiet) as board:
            board.upsert(manifest)
    except Exception as err:
        if quiet:
            log.debug("heartbeat of run %s not recorded: %s", manifest.get("run_id"), err)
            return False
        reason = redact_text(str(err))
        run_dir = manifest.get("run_dir") or "RUN_DIR"
        try:
            path = pending.keep_pending(manifest, url, reason)
            where = f"kept as {path}; the next gauntlet command that reaches the store writes it"
        except OSError as keep_err:
            where = (
                f"not kept ({keep_err}); `gauntlet leaderboard import {run_dir}` records it later"
            )
        log.error(
            "could not record run %s on %s: %s; its row is %s",
            manifest.get("run_id"),
            redact_url(url),
            reason,
            where,
        )
        return False
    if not quiet:
        pending.discard(manifest, url)
    return True
