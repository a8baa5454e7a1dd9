"""``gauntlet study FILE --until-decided``: the grid, then rounds of seeds until the claims are
decided, at looks planned before the first run.

Look 1 runs every cell of the grid with the first seeds of the plan. After each look the claims
are judged with the group-sequential boundaries of :mod:`gauntlet.study.sequential`; the next
round adds seeds only to the cells that the still-undecided claims read, up to the next look's
number of seeds. It stops when every claim is decided, after the last look, or when
``--max-runs`` or ``--max-hours`` would be passed (the claims left are INCONCLUSIVE; a budget
never adds or moves a look).

The plan and every look's decisions are written to ``sequential.json`` in the report directory
after each look (atomically). Runs live in the leaderboard as for any study, so a study killed
between or during rounds loses nothing: the same command reads the recorded looks, reuses the
completed runs, runs what the interrupted round still lacks and goes on from the next look.
A command whose looks differ from the recorded plan is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.study import claims as claim_checks
from gauntlet.study import statistics
from gauntlet.study.claims import ClaimResult
from gauntlet.study.runner import (
    Job,
    StudyRun,
    cover,
    find_runs,
    launch,
    multirun_overrides,
    plan,
    run_post_steps,
    study_lock,
    wait_for,
)
from gauntlet.study.sequential import ClaimLook, Plan, Tracker, derive_looks
from gauntlet.study.spec import Study

log = logging.getLogger(__name__)

STATE = "sequential.json"


@dataclass(frozen=True)
class Budget:
    max_seeds: int | None = None  # per cell
    max_runs: int | None = None  # completed runs of the study, all rounds together
    max_hours: float | None = None  # wall time of this command; checked before each round


@dataclass
class Outcome:
    """What the rounds did: the runs, the looks' decisions and why they stopped."""

    result: StudyRun
    tracker: Tracker
    stopped: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    claims: list[ClaimResult] = field(default_factory=list)

    @property
    def runs_used(self) -> int:
        return len(self.result.completed)

    @property
    def fixed_runs(self) -> int:
        """The runs of a fixed design: every cell at the last look's seeds."""
        return len(self.result.study.cells()) * self.tracker.plan.max_seeds

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.tracker.as_dict(),
            "stopped": self.stopped,
            "runs_used": self.runs_used,
            "fixed_design_runs": self.fixed_runs,
            "rounds": self.rounds,
        }


def make_plan(study: Study, max_seeds: int | None) -> Plan:
    """The study file's looks (those up to ``max_seeds``), or looks derived from the study's
    seeds up to ``max_seeds``."""
    spec = study.sequential
    if spec.looks:
        looks = tuple(n for n in spec.looks if max_seeds is None or n <= max_seeds)
        if not looks:
            raise GauntletError(
                f"--max-seeds {max_seeds}: below the first look of {study.path}'s "
                f"sequential.looks {list(spec.looks)}"
            )
    elif max_seeds is not None:
        looks = derive_looks(len(study.seeds), max_seeds)
    else:
        raise GauntletError(
            f"--until-decided: {study.path} has no sequential.looks; give --max-seeds N "
            "(the looks are then derived from its seeds up to N) or add "
            "sequential: {looks: [3, 5, 8, 12]} to the study file"
        )
    return Plan(looks, spec.spending, study.statistics.level)


def seed_sequence(study: Study, count: int) -> list[int]:
    """The study's seeds, then the next whole numbers it does not list, ``count`` in all."""
    seeds = list(study.seeds[:count])
    candidate = max(study.seeds) + 1
    while len(seeds) < count:
        if candidate not in seeds:
            seeds.append(candidate)
        candidate += 1
    return seeds


def load_state(path: Path, fresh: Plan) -> tuple[Tracker, list[dict[str, Any]], dict]:
    """The tracker, rounds and what each claim reads, as recorded; new ones for a new plan."""
    if not path.is_file():
        return Tracker(fresh), [], {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tracker = Tracker.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GauntletError(f"{path}: not a readable sequential record ({err})") from None
    if tracker.plan != fresh:
        raise GauntletError(
            f"{path}: this study's looks were fixed at {tracker.plan.as_dict()} before its "
            f"first run; this command plans {fresh.as_dict()}. Run it with the options it "
            "started with, or remove that file to plan a new study (the runs are kept)"
        )
    return tracker, list(data.get("rounds") or []), dict(data.get("reads") or {})


def run_until_decided(
    study: Study,
    *,
    log_dir: Path,
    out_dir: Path,
    budget: Budget,
    launcher: str | None = None,
    post_jobs: int = 1,
    command: str = "",
) -> Outcome:
    """Run the study's looks (see the module docstring); returns what was run and decided.
    ``command`` is the line that continues the study, for a study stopped by a signal."""
    from gauntlet.leaderboard.store import Leaderboard, resolve_url
    from gauntlet.run.files import atomic_write_text

    started = time.perf_counter()
    fresh = make_plan(study, budget.max_seeds)
    state_path = out_dir / STATE
    tracker, rounds, reads = load_state(state_path, fresh)
    sequence = seed_sequence(study, fresh.max_seeds)
    every = plan(
        dataclasses.replace(study, seeds=tuple(sequence)), log_dir=log_dir, launcher=launcher
    )
    by_key = {(job.cell.describe(), job.seed): job for job in every}
    cells = [cell.describe() for cell in study.cells()]
    # the seeds each cell was given by the recorded rounds
    given = {cell: 0 for cell in cells}
    for record in rounds:
        for cell in record["cells"]:
            given[cell] = max(given.get(cell, 0), record["seeds"])
    stopped = "every claim decided"
    with study_lock(out_dir, study), Leaderboard.open(resolve_url(None, log_dir)) as board:
        before = {row.get("run_id") for row in find_runs(board, study, every)[0].values()}
        for number, seeds in enumerate(fresh.looks, start=1):
            if number <= tracker.looks_done:
                continue
            undecided = tracker.undecided() if number > 1 else None
            if undecided is not None and not undecided:
                break
            wanted = cells if undecided is None else _cells_read(undecided, reads, cells)
            jobs = _scheduled(by_key, {**given, **{c: max(given[c], seeds) for c in wanted}})
            wait_for(board, study, jobs)  # runs of a killed study that still train elsewhere
            completed, _ = find_runs(board, study, jobs)
            todo = [job for i, job in enumerate(jobs) if i not in completed]
            reason = _over_budget(budget, len(completed) + len(todo), started)
            if reason:
                stopped = reason
                log.info("%s: look %d not started: %s", study.name, number, reason)
                break
            for cell in wanted:
                given[cell] = max(given[cell], seeds)
            log.info(
                "%s: look %d of %d: %d seeds in %d cells, %d runs to run",
                study.name,
                number,
                len(fresh.looks),
                seeds,
                len(wanted),
                len(todo),
            )
            result = _study_run(study, jobs, board, log_dir)
            for index, product in enumerate(cover(todo), start=1):
                overrides = multirun_overrides(todo[0].common, product)
                result.multiruns.append(overrides)
                stamp = time.strftime("%Y%m%d-%H%M%S")
                log_file = out_dir / "logs" / f"look{number}-{stamp}-{index}.log"
                status = _launch_or_stop(overrides, log_file, command)
                if status != 0:
                    log.warning("look %d: multirun %d exited with status %d", number, index, status)
            result.completed, result.failed = find_runs(board, study, jobs)
            if study.post:
                run_post_steps(board, result, out_dir / "logs", max_workers=post_jobs)
                result.completed, result.failed = find_runs(board, study, jobs)
            drafts = claim_checks.check(
                study, _rows_at(result, sequence[:seeds]), study.statistics, interval=False
            )
            for draft in drafts:
                reads[draft.name] = sorted(set(reads.get(draft.name, [])) | draft.cells)
            tracker.look(number, [_seen(draft) for draft in drafts])
            rounds.append({"look": number, "seeds": seeds, "cells": sorted(wanted)})
            payload = {**tracker.as_dict(), "rounds": rounds, "reads": reads}
            atomic_write_text(state_path, json.dumps(payload, indent=1) + "\n")
        else:
            if tracker.undecided():
                stopped = f"the last look ({fresh.max_seeds} seeds per cell) reached"
        if stopped == "every claim decided" and tracker.undecided():
            stopped = f"the last look ({fresh.max_seeds} seeds per cell) reached"
        tracker.finish()
        final = _scheduled(by_key, given)
        result = _study_run(study, final, board, log_dir)
        result.reused = sum(row.get("run_id") in before for row in result.completed.values())
        result.launched = len(result.completed) - result.reused
    result.wall_s = time.perf_counter() - started
    outcome = Outcome(result, tracker, stopped, rounds)
    outcome.claims = final_claims(study, result, tracker, sequence)
    return outcome


def _launch_or_stop(overrides: list[str], log_file: Path, command: str) -> int:
    """:func:`launch`; stopped by a signal, the study ends saying how to continue it."""
    from gauntlet.run.record import RunStopped

    try:
        return launch(overrides, log_file)
    except RunStopped as stop:
        log.warning("stopped by a signal; the looks so far are recorded, and the runs too")
        raise RunStopped(int(stop.code or 1), f"continue it with: {command}") from None


def _cells_read(names: Sequence[str], reads: dict[str, list[str]], cells: list[str]) -> list[str]:
    read = {cell for name in names for cell in reads.get(name, [])}
    return [cell for cell in cells if cell in read]


def _scheduled(by_key: dict[tuple[str, int], Job], given: dict[str, int]) -> list[Job]:
    """The jobs of each cell's first ``given[cell]`` seeds, in grid order."""
    counts: dict[str, int] = {}
    jobs = []
    for (cell, _), job in by_key.items():
        counts[cell] = counts.get(cell, 0) + 1
        if counts[cell] <= given.get(cell, 0):
            jobs.append(job)
    return jobs


def _study_run(study: Study, jobs: list[Job], board: Any, log_dir: Path) -> StudyRun:
    result = StudyRun(study=study, quick=False, jobs=jobs, log_dir=log_dir)
    result.completed, result.failed = find_runs(board, study, jobs)
    return result


def _over_budget(budget: Budget, runs: int, started: float) -> str:
    if budget.max_runs is not None and runs > budget.max_runs:
        return f"--max-runs {budget.max_runs} reached (the next look needs {runs} runs)"
    hours = (time.perf_counter() - started) / 3600
    if budget.max_hours is not None and hours >= budget.max_hours:
        return f"--max-hours {budget.max_hours:g} reached"
    return ""


def _rows_at(result: StudyRun, seeds: Sequence[int]) -> list[dict[str, Any]]:
    wanted = set(seeds)
    return [row for row in result.labelled_rows() if row.get("seed") in wanted]


def _seen(draft: Any) -> ClaimLook:
    n = min(draft.main.n.values()) if draft.main is not None else 0
    return ClaimLook(draft.name, n, draft.p_claim, draft.p_against)


def final_claims(
    study: Study, result: StudyRun, tracker: Tracker, sequence: Sequence[int]
) -> list[ClaimResult]:
    """Each claim's result: the verdict of its looks, with its numbers (interval included) at
    the look that decided it, or at its last look."""
    settings = study.statistics
    at_look: dict[int, list[Any]] = {}
    results = []
    names = [d.name for d in claim_checks.check(study, [], settings, interval=False)]
    for index, name in enumerate(names):
        track = tracker.claims.get(name)
        look = track.records[-1].look if track and track.records else tracker.looks_done
        if look not in at_look:
            seeds = tracker.plan.looks[look - 1] if look else 0
            rows = _rows_at(result, sequence[:seeds])
            at_look[look] = claim_checks.check(study, rows, settings)
        draft = at_look[look][index]
        verdict = track.verdict if track else statistics.NO_DATA
        details: dict[str, Any] = {"sequential": track.as_dict() if track else None}
        numbers = ""
        if draft.main is not None and track is not None and track.records:
            record = track.records[-1]
            details.update(
                statistics.details(draft.main, draft.p_claim, draft.p_against, settings.level)
            )
            details["p_value"] = record.p_claim
            numbers = _numbers(draft.main, record, track, settings.level)
        results.append(claim_checks.judge_draft(draft, verdict, numbers, details))
    return results


def _numbers(main: statistics.Comparison, record: Any, track: Any, level: float) -> str:
    parts = [f"difference {main.difference:+.4f}"]
    if main.ci is not None:
        low, high = main.ci
        parts.append(f"{100 * (1 - level):g}% CI [{low:+.4f}, {high:+.4f}]")
    if record.p_claim is not None:
        bound = record.bound_claim
        held = f" against {_p(bound)}" if bound is not None else ""
        parts.append(f"p={_p(record.p_claim)} ({main.test}){held}")
    if main.effect is not None:
        parts.append(f"d={main.effect:+.2f}")
    when = (
        f"decided at look {track.decided_at} with {record.seeds} seeds"
        if track.decided
        else f"undecided after look {record.look} with {record.seeds} seeds"
    )
    return ", ".join(parts) + f"; {when}"


def _p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"
