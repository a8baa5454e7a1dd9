"""The end of a multirun: which jobs completed, which failed and why; non-zero exit on failure.

A Hydra callback (``hydra.callbacks.sweep_summary`` in ``conf/hydra/default.yaml``). Jobs may
run in other processes (joblib, submitit, ray), so the summary reads what every job leaves in
the sweep directory: its ``manifest.json``. A job directory without one stopped before its run
began, and a manifest still ``running`` at the end belongs to a job whose process died; both
count as failed (``lost`` when its process is known to be gone). The summary is also written to ``<sweep dir>/sweep_summary.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gauntlet.errors import GauntletError
from gauntlet.run.manifest import MANIFEST, read_manifest

log = logging.getLogger(__name__)

SUMMARY_FILE = "sweep_summary.json"
FAILED_EXIT_CODE = 1
# the statuses that make the sweep exit non-zero
UNFINISHED = ("failed", "lost")


@dataclass
class JobOutcome:
    job: str
    status: str
    run_id: str | None
    overrides: list[str]
    error: str | None

    def describe(self) -> str:
        what = " ".join(self.overrides) or "no overrides"
        return f"job {self.job} ({what}): {self.error or self.status}"


def collect(sweep_dir: Path, since: dt.datetime | None = None) -> list[JobOutcome]:
    """The outcome of every job under ``sweep_dir`` that started at or after ``since``."""
    outcomes: list[JobOutcome] = []
    if not sweep_dir.is_dir():
        return outcomes
    job_dirs = sorted(
        {p.parent for p in sweep_dir.rglob(MANIFEST)}
        | {p.parent for p in sweep_dir.rglob(".hydra") if p.is_dir()},
        key=_job_order,
    )
    for job_dir in job_dirs:
        name = str(job_dir.relative_to(sweep_dir))
        if not (job_dir / MANIFEST).is_file():
            if since is None or _mtime(job_dir) >= since:
                error = "no manifest: the job stopped before its run began (see its log)"
                outcomes.append(JobOutcome(name, "failed", None, [], error))
            continue
        try:
            manifest = read_manifest(job_dir)
        except GauntletError as err:
            outcomes.append(JobOutcome(name, "failed", None, [], str(err)))
            continue
        if since is not None and _started(manifest, job_dir) < since:
            continue  # an earlier sweep into the same directory
        status = str(manifest.get("status") or "unknown")
        error = manifest.get("error")
        if status == "running":
            status, error = _ended_running(manifest)
        outcomes.append(
            JobOutcome(
                name,
                status,
                manifest.get("run_id"),
                [str(o) for o in manifest.get("overrides") or []],
                error,
            )
        )
    return outcomes


def summarize(outcomes: list[JobOutcome]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {
        "jobs": len(outcomes),
        "counts": counts,
        "failed": [asdict(o) for o in outcomes if o.status == "failed"],
        "lost": [asdict(o) for o in outcomes if o.status == "lost"],
        "outcomes": [asdict(o) for o in outcomes],
    }


class SweepSummary(Callback):
    """Logs the sweep's completed/failed/pruned counts and each failed job with its error;
    with ``fail_on_error`` (the default) the command then exits with status 1."""

    def __init__(self, fail_on_error: bool = True) -> None:
        self.fail_on_error = fail_on_error
        self._sweep_dir: Path | None = None
        self._since: dt.datetime | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._sweep_dir = Path(str(config.hydra.sweep.dir))
        # manifests record whole seconds
        self._since = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = self._sweep_dir or Path(str(config.hydra.sweep.dir))
        outcomes = collect(sweep_dir, self._since)
        summary = summarize(outcomes)
        try:
            (sweep_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        except OSError as err:
            log.warning("could not write %s: %s", sweep_dir / SUMMARY_FILE, err)
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
        log.info("sweep %s: %d jobs: %s", sweep_dir, len(outcomes), counts or "none recorded")
        failed = [o for o in outcomes if o.status in UNFINISHED]
        for outcome in failed:
            log.error("%s %s", outcome.status, outcome.describe())
        if failed and self.fail_on_error:
            log.error(
                "%d of %d jobs failed or were lost; each is recorded (manifest and leaderboard) "
                "with its error",
                len(failed),
                len(outcomes),
            )
            # Hydra turns a callback's exceptions into warnings; an exit status must be raised
            raise SystemExit(FAILED_EXIT_CODE)


def _ended_running(manifest: dict[str, Any]) -> tuple[str, str]:
    """A job still ``running`` when the sweep ends: ``lost`` when its process is known to be
    gone, else ``failed`` (its process died, or it is still running elsewhere)."""
    from gauntlet.run.liveness import lost_reason

    reason = lost_reason(manifest)
    if reason:
        return "lost", reason
    return "failed", "still 'running' at the end of the sweep: its process died"


def _job_order(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (1 << 30, str(path))


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(path.stat().st_mtime), dt.timezone.utc)


def _started(manifest: dict[str, Any], job_dir: Path) -> dt.datetime:
    """When the job last started: its run's start, or its latest resume."""
    resumes = manifest.get("resumes") or [{}]
    stamp = resumes[-1].get("at") or manifest.get("started")
    try:
        started = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return _mtime(job_dir)
    return started if started.tzinfo else started.replace(tzinfo=dt.timezone.utc)
