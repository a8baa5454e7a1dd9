"""Plan a study's runs, launch the missing ones as Hydra multiruns, run its post steps.

Every run is ``gauntlet train`` with the study's overrides, its cell's overrides and a seed, plus
``study=NAME`` (the leaderboard's ``study`` column and the wandb group); each run is named as
any run is, ``<data>_<model>`` (docs/naming.md). Before launching, the leaderboard is asked for this study's completed runs: a planned run
whose overrides mean the same keys and values as a completed run's (placement keys such as
``paths.*`` and the launcher left out) is not run again. The runs still missing are launched as
few multiruns as cover them exactly: the whole grid x seeds is one multirun; a grid with holes
becomes one multirun per block of cells that is itself a product.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.redaction import masked_overrides, redact_text
from gauntlet.study.overrides import identity, key_of
from gauntlet.study.spec import QUICK_OVERRIDES, Cell, PostStep, Study, format_label, hydra_value

log = logging.getLogger(__name__)

# the lines of a multirun's output worth showing while it runs: results, failures, the summary
_PROGRESS = re.compile(r"run \S+ completed|job \S+ failed|\[HYDRA\] sweep|Traceback|Error:")
# a job's log line: "[time][logger][LEVEL] message" or "[time][HYDRA] message"; relayed as its
# message, at its level
_JOB_LOG_PREFIX = re.compile(r"^(?:\[[^\]]*\])+ ")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# run fields a study may list, plot and check like metrics
RUN_FIELDS_AS_METRICS = ("duration_s", "num_params")


@dataclass(frozen=True)
class Job:
    """One planned run: a cell of the grid with one seed."""

    cell: Cell
    seed: int
    # (key, value as Hydra reads it) for the cell's overrides and the seed, in order
    settings: tuple[tuple[str, str], ...]
    common: tuple[str, ...]

    @property
    def overrides(self) -> list[str]:
        return [*self.common, *(f"{key}={value}" for key, value in self.settings)]

    @property
    def ident(self) -> frozenset[tuple[str, str]]:
        # a run records its overrides with credentials masked: compare in that form
        return identity(masked_overrides(self.overrides))


@dataclass
class StudyRun:
    """What running a study found and did."""

    study: Study
    quick: bool
    jobs: list[Job]
    completed: dict[int, dict[str, Any]] = field(default_factory=dict)  # job index -> row
    failed: dict[int, dict[str, Any]] = field(default_factory=dict)  # job index -> row
    reused: int = 0
    launched: int = 0
    multiruns: list[list[str]] = field(default_factory=list)
    post_failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    log_dir: Path = Path("logs")

    def missing(self) -> list[Job]:
        return [job for i, job in enumerate(self.jobs) if i not in self.completed]

    def labelled_rows(self) -> list[dict[str, Any]]:
        """Each completed run, with its cell's axis labels as top-level keys (so that they
        group and select by the labels the study file uses) and its ``duration_s`` and
        ``num_params`` among its metrics, in grid order."""
        rows = []
        for index, job in enumerate(self.jobs):
            row = self.completed.get(index)
            if row is not None:
                metrics = dict(row.get("metrics") or {})
                for name in RUN_FIELDS_AS_METRICS:
                    if isinstance(row.get(name), (int, float)):
                        metrics.setdefault(name, row[name])
                labelled = {**row, "metrics": metrics, "cell": job.cell.describe()}
                rows.append({**labelled, **job.cell.labels})
        return rows


def plan(
    study: Study, *, quick: bool = False, log_dir: Path, launcher: str | None = None
) -> list[Job]:
    """Every run the study needs, cell by cell (grid order), seed by seed.

    Later settings win: the base preset, then the study's ``overrides``, then the cell's
    levels, then (``quick``) the quick overrides. A key that some cells set is written out in
    every cell (its fixed value where the cell leaves it), so cells stay one sweep.
    """
    common = [f"study={study.name}"]
    if study.base:
        common.append(f"experiment={study.base}")
    fixed = {key_of(item): item for item in study.overrides}
    last: dict[str, str] = {}
    if quick:
        last = {key_of(item): item for item in QUICK_OVERRIDES}
        last.update({key_of(item): item for item in study.quick.overrides})
    axis_keys = {key_of(item) for cell in study.cells() for item in cell.overrides}
    common += [item for key, item in fixed.items() if key not in axis_keys and key not in last]
    common += [item for key, item in last.items() if key not in axis_keys]
    common += [f"paths.log_dir={log_dir}", "trainer.enable_progress_bar=false"]
    if launcher:
        common.append(f"launcher={launcher}")
    seeds = study.quick.seeds if quick else study.seeds
    jobs = []
    seen: dict[frozenset, Cell] = {}
    for cell in study.cells():
        pairs = dict(_split(item) for item in cell.overrides)
        for key in sorted(axis_keys & set(fixed) - set(pairs)):
            pairs[key] = _split(fixed[key])[1]
        for key in sorted(axis_keys & set(last)):
            pairs[key] = _split(last[key])[1]
        ident = frozenset(pairs.items())
        if ident in seen:
            raise GauntletError(
                f"{study.path}: in {'--quick' if quick else 'this'} mode cells "
                f"{seen[ident].describe()} and {cell.describe()} run the same overrides "
                f"({' '.join(f'{k}={v}' for k, v in pairs.items())}); "
                "set quick.overrides so that they differ"
            )
        seen[ident] = cell
        for seed in seeds:
            settings = (*pairs.items(), ("seed", str(seed)))
            jobs.append(Job(cell, seed, settings, tuple(common)))
    return jobs


def _split(item: str) -> tuple[str, str]:
    key = key_of(item)
    prefix = item.split("=", 1)[0]
    return key, item[len(prefix) + 1 :]


def cover(jobs: Sequence[Job]) -> list[dict[str, list[str]]]:
    """The jobs as few products of values as cover them exactly: each product one multirun
    (``key=v1,v2`` for a key with several values). Two products merge when they have the same
    keys and differ in the values of one key only."""
    products: list[dict[str, list[str]]] = [
        {key: [value] for key, value in job.settings} for job in jobs
    ]
    merged = True
    while merged:
        merged = False
        for i in range(len(products)):
            for j in range(i + 1, len(products)):
                key = _differs_in_one(products[i], products[j])
                if key is not None:
                    products[i][key] = products[i][key] + products[j][key]
                    del products[j]
                    merged = True
                    break
            if merged:
                break
    return products


def _differs_in_one(a: Mapping[str, list[str]], b: Mapping[str, list[str]]) -> str | None:
    if set(a) != set(b):
        return None
    different = [key for key in a if a[key] != b[key]]
    return different[0] if len(different) == 1 else None


def multirun_overrides(common: Sequence[str], product: Mapping[str, list[str]]) -> list[str]:
    return [*common, *(f"{key}={','.join(values)}" for key, values in product.items())]


def find_runs(board: Any, study: Study, jobs: Sequence[Job]) -> tuple[dict, dict]:
    """This study's recorded runs that match planned jobs: (completed, failed), each
    ``{job index: newest matching row}``; a job with a completed run is not in failed."""
    by_ident: dict[frozenset, int] = {}
    for index, job in enumerate(jobs):
        by_ident.setdefault(job.ident, index)
    completed: dict[int, dict[str, Any]] = {}
    failed: dict[int, dict[str, Any]] = {}
    for row in board.runs(study=study.name):  # newest first
        index = by_ident.get(identity(masked_overrides(row.get("overrides") or [])))
        if index is None:
            continue
        if row.get("status") == "completed":
            completed.setdefault(index, row)
        elif row.get("status") in ("failed", "running"):
            failed.setdefault(index, row)
    return completed, {i: row for i, row in failed.items() if i not in completed}


def relay(line: str) -> None:
    """A job's progress line, whole (paths never cut), without the job's own log prefix."""
    prefix = _JOB_LOG_PREFIX.match(line)
    if prefix is None:
        log.info("  %s", line)
        return
    last = prefix.group(0).rstrip().rsplit("[", 1)[-1].rstrip("]")
    level = getattr(logging, last) if last in _LEVELS else logging.INFO
    log.log(level, "  %s", line[prefix.end() :])


def launch(overrides: Sequence[str], log_file: Path) -> int:
    """``gauntlet train -m OVERRIDES`` in a subprocess, its output into ``log_file`` (the
    progress lines also logged); returns its exit status.

    The multirun is the study's own: it runs in a process group of its own, which SIGINT and
    SIGTERM sent to the study reach too (the study then ends with 130 or 143, see
    :class:`~gauntlet.run.record.RunStopped`), and it is sent SIGTERM if the study dies,
    even by SIGKILL (Linux's parent-death signal), so its runs record how they stopped."""
    command = [sys.executable, "-m", "gauntlet", "train", "-m", *overrides]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    log.info("launching: gauntlet train -m %s", shlex.join(overrides))
    log.info("output: %s", log_file)
    with log_file.open("a", encoding="utf-8") as out:
        out.write(redact_text(f"$ {shlex.join(command)}\n"))
        out.flush()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        assert process.stdout is not None
        with _forward_signals(process) as received:
            for line in process.stdout:
                out.write(redact_text(line))
                if _PROGRESS.search(line):
                    relay(redact_text(line.rstrip()))
            status = process.wait()
        if received:
            from gauntlet.run.record import EXIT_INTERRUPTED, EXIT_SIGTERM, RunStopped

            code = EXIT_SIGTERM if received[-1] == signal.SIGTERM else EXIT_INTERRUPTED
            raise RunStopped(code, "")
        return status


def _die_with_parent() -> None:
    """In the child, before it runs: SIGTERM when the study's process dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the next study finds the runs and waits
        pass


@contextmanager
def _forward_signals(process: subprocess.Popen) -> Iterator[list[int]]:
    """While the child multirun runs: SIGINT and SIGTERM to the study go to its process group;
    the signals received are listed in what this yields."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def study_lock(out_dir: Path, study: Study) -> Any:
    """One ``gauntlet study`` at a time on one study: the second is refused, naming the first."""
    from gauntlet.run.lock import RunLock

    return RunLock(
        out_dir,
        name=".study.lock",
        busy=f"study {study.name} is being run by {{holder}} (lock {{where}}/.study.lock): two "
        "study commands would both launch its runs; wait for it to end, or stop it first",
    )


def in_progress(board: Any, study: Study, jobs: Sequence[Job]) -> dict[int, dict[str, Any]]:
    """Planned jobs whose newest row is ``running`` and whose process is alive: runs of an
    earlier study command that still train (its process killed, its multirun not)."""
    from gauntlet.run.liveness import lost_reason

    _, failed = find_runs(board, study, jobs)
    return {
        index: row
        for index, row in failed.items()
        if row.get("status") == "running" and lost_reason(row) is None
    }


def wait_for(board: Any, study: Study, jobs: Sequence[Job], poll_s: float = 2.0) -> None:
    """Wait until no planned run of the study is still training in another process."""
    running = in_progress(board, study, jobs)
    if not running:
        return
    holders = sorted({f"pid {row.get('pid')} on {row.get('host')}" for row in running.values()})
    log.warning(
        "%s: %d runs still train in another process (%s); waiting for them, not launching "
        "them again",
        study.name,
        len(running),
        ", ".join(holders),
    )
    while running:
        time.sleep(poll_s)
        running = in_progress(board, study, jobs)  # read again: they end completed or failed


def run_study(
    study: Study,
    *,
    log_dir: Path,
    out_dir: Path,
    quick: bool = False,
    launcher: str | None = None,
    launch_runs: bool = True,
    post_jobs: int = 1,
) -> StudyRun:
    """Launch what the study still needs (unless ``launch_runs`` is false), run its post steps,
    and return the runs found for every planned job."""
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    started = time.perf_counter()
    jobs = plan(study, quick=quick, log_dir=log_dir, launcher=launcher)
    result = StudyRun(study=study, quick=quick, jobs=jobs, log_dir=log_dir)
    with (
        study_lock(out_dir, study) if launch_runs else nullcontext(),
        Leaderboard.open(resolve_url(None, log_dir)) as board,
    ):
        if launch_runs:
            wait_for(board, study, jobs)
        completed, _ = find_runs(board, study, jobs)
        result.reused = len(completed)
        todo = [job for i, job in enumerate(jobs) if i not in completed]
        if todo and launch_runs:
            log.info(
                "%s: %d of %d runs done before, %d to run",
                study.name,
                len(completed),
                len(jobs),
                len(todo),
            )
            for number, product in enumerate(cover(todo), start=1):
                overrides = multirun_overrides(todo[0].common, product)
                result.multiruns.append(overrides)
                log_file = out_dir / "logs" / f"multirun-{_stamp()}-{number}.log"
                status = _launch_or_stop(overrides, log_file, study, quick)
                if status != 0:
                    log.warning(
                        "multirun %d exited with status %d; the end of its output:\n%s",
                        number,
                        status,
                        _tail(log_file),
                    )
            result.launched = len(todo)
        elif todo:
            log.info("%s: %d of %d runs missing (not launched)", study.name, len(todo), len(jobs))
        else:
            log.info("%s: all %d runs done before; nothing to launch", study.name, len(jobs))
        result.completed, result.failed = find_runs(board, study, jobs)
        if study.post and launch_runs:
            result.post_failures = run_post_steps(
                board, result, out_dir / "logs", max_workers=post_jobs
            )
            result.completed, result.failed = find_runs(board, study, jobs)
    result.wall_s = time.perf_counter() - started
    return result


def _launch_or_stop(overrides: Sequence[str], log_file: Path, study: Study, quick: bool) -> int:
    """:func:`launch`; stopped by a signal, the study ends saying how to continue it."""
    from gauntlet.run.record import RunStopped

    try:
        return launch(overrides, log_file)
    except RunStopped as stop:
        again = shlex.join(["gauntlet", "study", str(study.path), *(["--quick"] if quick else [])])
        line = f"continue it with: {again}"
        log.warning("%s: stopped by a signal; its runs recorded how they stopped", study.name)
        raise RunStopped(int(stop.code or 1), line) from None


def _tail(path: Path, lines: int = 6) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"  | {line[:300]}" for line in kept)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


# -- post steps ------------------------------------------------------------------------------


def run_post_steps(board: Any, result: StudyRun, log_dir: Path, max_workers: int = 1) -> list[str]:
    """Each post step on each completed run that lacks its metrics; the run's updated manifest
    goes back into the leaderboard. Runs are handled in parallel (``max_workers``), the steps of
    one run in order. Returns a line per failed step."""
    work = []
    for index, row in result.completed.items():
        labels = result.jobs[index].cell.labels
        steps = [s for s in result.study.post if _wanted(s, row, labels)]
        if steps:
            work.append((row, labels, steps))
    if not work:
        return []
    log.info("post steps on %d runs", len(work))
    log_dir.mkdir(parents=True, exist_ok=True)

    def one_run(item: tuple[dict[str, Any], dict[str, Any], list[PostStep]]) -> list[str]:
        row, labels, steps = item
        failures = []
        for step in steps:
            try:
                _run_post(board, step, row, labels, log_dir, threads=max_workers > 1)
            except GauntletError as err:
                failures.append(f"run {row.get('run_id')}: {step.command.split()[0]}: {err}")
                log.error("%s", failures[-1])
        return failures

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        return [line for lines in pool.map(one_run, work) for line in lines]


def _wanted(step: PostStep, row: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    from gauntlet.study.claims import matches

    if not matches({**row, **labels}, step.where):
        return False
    recorded = row.get("metrics") or {}
    return not all(metric in recorded for metric in step.metrics)


def post_command(step: PostStep, row: Mapping[str, Any], labels: Mapping[str, Any]) -> list[str]:
    """The step's command with its ``{...}`` fields filled in for one run."""
    from gauntlet.leaderboard.query import MISSING, lookup

    run_dir = Path(str(row.get("run_dir") or ""))
    fields: dict[str, Any] = {
        "run_dir": run_dir,
        "run_id": row.get("run_id"),
        "seed": row.get("seed"),
        **labels,
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "ckpt":
            return str(_checkpoint(run_dir))
        if name in fields:
            found = fields[name]
        else:
            found = lookup(row, name)
            if found is MISSING:
                raise GauntletError(
                    f"post command {step.command!r}: {{{name}}} is not ckpt, run_dir, run_id, "
                    "seed, an axis or a config key of the run"
                )
        return hydra_value(found) if isinstance(found, (list, dict)) else format_label(found)

    text = re.sub(r"\{([^{}]+)\}", value, step.command)
    return shlex.split(text)


def _checkpoint(run_dir: Path) -> Path:
    for name in ("best.ckpt", "last.ckpt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            return path
    raise GauntletError(f"no checkpoints/best.ckpt or last.ckpt in {run_dir}")


def _run_post(
    board: Any,
    step: PostStep,
    row: Mapping[str, Any],
    labels: Mapping[str, Any],
    log_dir: Path,
    threads: bool,
) -> None:
    from gauntlet.run.manifest import read_manifest

    args = post_command(step, row, labels)
    env = dict(os.environ)
    if threads:  # several steps at once share the cores
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log_file = log_dir / f"post-{row.get('run_id')}.log"
    log.info("run %s: gauntlet %s", row.get("run_id"), shlex.join(args))
    with log_file.open("a", encoding="utf-8") as out:
        out.write(redact_text(f"$ gauntlet {shlex.join(args)}\n"))
        out.flush()
        status = subprocess.run(
            [sys.executable, "-m", "gauntlet", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        ).returncode
    if status != 0:
        raise GauntletError(f"exited with status {status}; see {log_file}")
    manifest = read_manifest(Path(str(row["run_dir"])))
    missing = [m for m in step.metrics if m not in (manifest.get("metrics") or {})]
    board.upsert(manifest)
    if missing:
        raise GauntletError(
            f"finished but did not record {', '.join(missing)}; fix the step's metrics: list"
        )


def check_launcher(name: str) -> str:
    """A launcher preset from ``conf/launcher/``; GauntletError listing them otherwise."""
    from gauntlet.config import CONFIG_DIR

    choices = sorted(p.stem for p in (CONFIG_DIR / "launcher").glob("*.yaml"))
    if name not in choices:
        raise GauntletError(
            f"--launcher {name!r}: not a launcher preset; choose {', '.join(choices)}"
        )
    return name


__all__ = [
    "Job",
    "StudyRun",
    "check_launcher",
    "cover",
    "find_runs",
    "launch",
    "plan",
    "run_study",
]
