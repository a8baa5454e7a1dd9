"""Recording a run on the leaderboard; a row that cannot be written yet is kept pending.

:class:`LeaderboardSink` is where a run's rows go (the :class:`~gauntlet.run.record.RowSink` a
run record writes to): the one place that turns a config's ``leaderboard`` settings into the
database's URL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.location import ENV_URL, refuse_in_memory, resolve_url
from gauntlet.run import pending

log = logging.getLogger(__name__)


class LeaderboardSink:
    """The leaderboard a config names: ``leaderboard.url`` (null: ``$GAUNTLET_LEADERBOARD_URL``,
    else the SQLite file in ``paths.log_dir``). The URL is resolved when first needed (the
    default one makes the log directory), and once."""

    def __init__(self, url: str | None, log_dir: str | Path) -> None:
        self._setting, self._log_dir = url, log_dir
        self._url: str | None = None

    @classmethod
    def from_config(cls, cfg: Any) -> LeaderboardSink | None:
        """The sink of a config's ``leaderboard`` and ``paths.log_dir``; None with
        ``leaderboard.enabled=false``."""
        settings = cfg.get("leaderboard") or {}
        if not settings.get("enabled", True):
            return None
        paths = cfg.get("paths") or {}
        return cls(settings.get("url"), paths.get("log_dir") or "logs")

    @classmethod
    def for_run(cls, cfg: Any) -> LeaderboardSink | None:
        """:meth:`from_config`, refusing a database that cannot keep the run's row (one in
        memory) before anything trains."""
        sink = cls.from_config(cfg)
        url = sink and (sink._setting or os.environ.get(ENV_URL, "").strip())
        if url:
            try:
                refuse_in_memory(str(url))
            except GauntletError as err:
                raise GauntletError(f"leaderboard.url: {err}") from None
        return sink

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = resolve_url(self._setting, self._log_dir)
        return self._url

    def keep_pending(self, row: Mapping[str, Any], reason: str) -> None:
        pending.keep_pending(row, self.url, reason)

    def upsert(self, row: Mapping[str, Any], *, quiet: bool = False) -> bool:
        """Upsert the run's row; returns whether it was recorded. When the store cannot be
        reached the row is kept in the run directory as pending (see
        :mod:`gauntlet.run.pending`); the next command that reaches the store writes it.
        ``quiet`` logs the failure at debug level only (heartbeats)."""
        return _upsert(row, self, quiet)


def record(manifest: Mapping[str, Any], cfg: Any, *, quiet: bool = False) -> bool:
    """Upsert the run's row in the leaderboard ``cfg`` names (a DictConfig or a mapping: see
    :class:`LeaderboardSink`); returns whether it was recorded."""
    sink = LeaderboardSink.from_config(cfg)
    return sink is not None and sink.upsert(manifest, quiet=quiet)


def _upsert(manifest: Mapping[str, Any], sink: LeaderboardSink, quiet: bool) -> bool:
    from gauntlet.leaderboard.store import Leaderboard, redact_url
    from gauntlet.redaction import redact_text

    url = str(sink._setting or "the default store")
    try:
        url = sink.url
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
