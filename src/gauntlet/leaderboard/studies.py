"""A study's plan and results in the leaderboard store, so that a teammate sees its cells,
claims and verdicts (with their statistics) without the machine that ran it.

The study command calls :func:`record_study_results` once its report is written; the record is
keyed by the study's name and the hash of its plan (the overrides of every planned run), so a
changed grid is another record and the same grid reported again replaces its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


# where and how the runs were placed: the same plan on another machine or launcher
_PLACEMENT = ("paths.", "launcher", "hydra", "trainer.enable_progress_bar")


def plan_of(planned: Sequence[Sequence[str]]) -> list[list[str]]:
    """Each planned run's overrides without where and how it was placed."""
    return [
        [str(item) for item in run if not str(item).lstrip("+~").startswith(_PLACEMENT)]
        for run in planned
    ]


def plan_hash(planned: Sequence[Sequence[str]]) -> str:
    """The hash of a plan: the overrides of each planned run, in order, placement left out."""
    text = json.dumps(plan_of(planned), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_study_results(
    name: str, planned: Sequence[Sequence[str]], results_json: Path, url: str
) -> bool:
    """Store the study's plan and its ``results.json`` (cells, claims, verdicts, statistics
    settings) in the leaderboard at ``url``. Returns whether it was stored; a store that
    cannot be reached is logged, and the report on disk stands."""
    from gauntlet.leaderboard.store import Leaderboard

    try:
        results: Mapping[str, Any] = json.loads(Path(results_json).read_text(encoding="utf-8"))
        plan = {
            "runs": plan_of(planned),
            "axes": results.get("axes"),
            "metrics": results.get("metrics"),
            "file": results.get("file"),
            "quick": results.get("quick"),
        }
        with Leaderboard.open(url) as board:
            board.record_study(
                name,
                plan_hash(planned),
                plan=plan,
                settings=results.get("statistics") or {},
                results=results,
                host=socket.gethostname(),
            )
    except Exception as err:  # the report on disk is the study's result; the store is a copy
        from gauntlet.redaction import redact_text

        log.warning(
            "study %s: results not stored in the leaderboard: %s", name, redact_text(str(err))
        )
        return False
    log.info("study %s: plan and results stored in the leaderboard", name)
    return True
