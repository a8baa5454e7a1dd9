"""``gauntlet study experiments/NAME.yaml [--quick] [--launcher joblib] [--until-decided]``.

Exit status: 0 when every run completed and no claim failed (in ``--quick`` mode the claims
are reported but not checked); 1 when a claim is FAIL or NO DATA (with ``--strict`` also
INCONCLUSIVE), or a run or post step failed or is missing; 2 for a bad study file or option,
among them a claim, plot or column on a metric no run will record (checked before anything
runs, ``--dry-run`` too).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gauntlet.errors import GauntletError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gauntlet study",
        description="Run a study: its grid x seeds as Hydra multiruns (completed runs are "
        "skipped), then report.md, plots, report.html and its claims checked.",
    )
    p.add_argument("file", help="the study file, e.g. experiments/data_scarcity.yaml")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: one seed, one short epoch; claims reported, not checked",
    )
    p.add_argument(
        "--launcher",
        help="Hydra launcher preset from conf/launcher (joblib runs jobs on every core)",
    )
    p.add_argument(
        "--log-dir",
        help="where runs and the leaderboard live (default: $GAUNTLET_LOG_DIR or logs)",
    )
    p.add_argument("--out", help="report directory (default: LOG_DIR/studies/NAME[_quick])")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="launch nothing: report on the runs recorded so far",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the multiruns that would be launched"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="an INCONCLUSIVE claim (the seeds cannot tell) fails the study too",
    )
    p.add_argument(
        "--until-decided",
        action="store_true",
        help="add seeds in planned looks, only to the cells of undecided claims, until each "
        "claim is decided (group-sequential boundaries keep the error rates; see "
        "docs/statistics.md)",
    )
    p.add_argument(
        "--max-seeds",
        type=_positive(int),
        help="--until-decided: seeds per cell at the last look (the looks are derived from the "
        "study's seeds when the file has no sequential.looks)",
    )
    p.add_argument(
        "--max-runs",
        type=_positive(int),
        help="--until-decided: no look starts that would take the study past this many runs",
    )
    p.add_argument(
        "--max-hours",
        type=_positive(float),
        help="--until-decided: no look starts after this many hours of this command",
    )
    p.add_argument(
        "--post-jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="post steps run on this many runs at once (default: 2)",
    )
    return p


def _positive(kind: type) -> object:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    console = Console()
    _logging(console)
    budget_flags = [
        flag
        for flag, value in (
            ("--max-seeds", args.max_seeds),
            ("--max-runs", args.max_runs),
            ("--max-hours", args.max_hours),
        )
        if value is not None
    ]
    if budget_flags and not args.until_decided:
        raise GauntletError(f"{', '.join(budget_flags)}: only with --until-decided")
    if args.until_decided and (args.quick or args.report_only):
        raise GauntletError(
            "--until-decided runs the study's looks; it does not combine with "
            + ("--quick" if args.quick else "--report-only")
        )

    from gauntlet.config import import_from, set_user_config_dir, user_config_dir
    from gauntlet.leaderboard.store import Leaderboard, resolve_url
    from gauntlet.study import metrics
    from gauntlet.study.claims import INCONCLUSIVE, evaluate
    from gauntlet.study.report import sequential_line, write_report
    from gauntlet.study.runner import check_launcher, cover, find_runs, plan, run_study
    from gauntlet.study.spec import load_study

    study = load_study(args.file)
    if study.config_dir is not None and user_config_dir() is None:
        import_from(set_user_config_dir(study.config_dir).parent)
    launcher = check_launcher(args.launcher) if args.launcher else None
    if args.post_jobs < 1:
        raise GauntletError(f"--post-jobs {args.post_jobs}: expected at least 1")
    log_dir = Path(args.log_dir or os.environ.get("GAUNTLET_LOG_DIR") or "logs").resolve()
    suffix = "_quick" if args.quick else ""
    out_dir = Path(args.out) if args.out else log_dir / "studies" / f"{study.name}{suffix}"

    jobs = plan(study, quick=args.quick, log_dir=log_dir, launcher=launcher)
    with Leaderboard.open(resolve_url(None, log_dir)) as board:
        done, _ = find_runs(board, study, jobs)
    recorded = {name for row in done.values() for name in (row.get("metrics") or {})}
    first_of_cell = {job.cell.describe(): job.overrides for job in reversed(jobs)}
    metrics.check(study, metrics.expected_metrics(study, first_of_cell.values(), recorded))

    if args.until_decided:
        from gauntlet.study.rounds import make_plan

        looks = make_plan(study, args.max_seeds)
    if args.dry_run:
        if args.until_decided:
            console.print(
                f"{study.name}: looks at {list(looks.looks)} seeds per cell "
                f"({looks.spending} spending, level {looks.level:g}); look 1:"
            )
        todo = [job for i, job in enumerate(jobs) if i not in done]
        console.print(f"{study.name}: {len(jobs)} runs, {len(done)} done, {len(todo)} to run")
        from gauntlet.study.runner import multirun_overrides

        for product in cover(todo):
            overrides = multirun_overrides(todo[0].common, product)
            console.print(Text("gauntlet train -m " + shlex.join(overrides)))
        return 0

    from gauntlet.run.record import RunStopped

    outcome = None
    try:
        if args.until_decided:
            from gauntlet.study.rounds import Budget, run_until_decided

            outcome = run_until_decided(
                study,
                log_dir=log_dir,
                out_dir=out_dir,
                budget=Budget(args.max_seeds, args.max_runs, args.max_hours),
                launcher=launcher,
                post_jobs=args.post_jobs,
                command=_command(args, launcher),
            )
            result, claims = outcome.result, outcome.claims
        else:
            result = run_study(
                study,
                log_dir=log_dir,
                out_dir=out_dir,
                quick=args.quick,
                launcher=launcher,
                launch_runs=not args.report_only,
                post_jobs=args.post_jobs,
            )
            claims = evaluate(study, result.labelled_rows())
    except RunStopped as stop:  # SIGINT/SIGTERM: the way to continue is the last line
        print(stop.line, file=sys.stderr)
        raise SystemExit(stop.code) from None
    written = write_report(result, claims, out_dir, _command(args, launcher), sequential=outcome)
    _store_results(study.name, result, written, log_dir)

    table = Table(
        title=f"study {study.name}" + (" (quick: claims not checked)" if args.quick else "")
    )
    table.add_column("claim")
    table.add_column("result")
    table.add_column("numbers")
    for claim in claims:
        style = {"PASS": "green", "INCONCLUSIVE": "yellow"}.get(claim.verdict, "red")
        numbers = claim.numbers + (f"\n{claim.advice}" if claim.advice else "")
        table.add_row(Text(claim.name), Text(claim.verdict, style=style), Text(numbers))
    if claims:
        console.print(table)
    missing = result.missing()
    console.print(
        f"runs: {len(result.completed)} of {len(result.jobs)} completed "
        f"({result.reused} from earlier, {result.launched} launched now)"
        + (f"; {len(missing)} without a result" if missing else "")
    )
    if outcome is not None:
        console.print(sequential_line(outcome))
    console.print(f"report: {written['report.md']}")
    failed_claims = [c for c in claims if c.failed or (args.strict and c.verdict == INCONCLUSIVE)]
    inconclusive = [c for c in claims if c.verdict == INCONCLUSIVE]
    if missing or result.post_failures:
        console.print(
            f"[red]{len(missing)} runs without a result, "
            f"{len(result.post_failures)} post steps failed[/red]"
        )
        return 1
    if failed_claims and not args.quick:
        what = "do not hold" if not args.strict else "do not hold or are inconclusive (--strict)"
        console.print(f"[red]{len(failed_claims)} of {len(claims)} claims {what}[/red]")
        return 1
    if inconclusive and not args.quick:
        console.print(
            f"[yellow]{len(inconclusive)} of {len(claims)} claims are inconclusive: the seeds "
            "cannot tell (--strict fails on them)[/yellow]"
        )
    return 0


def _command(args: argparse.Namespace, launcher: str | None) -> str:
    """The study command as given (its options that change what runs)."""
    return "gauntlet study " + shlex.join(
        [
            args.file,
            *(["--quick"] if args.quick else []),
            *(["--launcher", launcher] if launcher else []),
            *(["--until-decided"] if args.until_decided else []),
            *([f"--max-seeds={args.max_seeds}"] if args.max_seeds else []),
            *([f"--max-runs={args.max_runs}"] if args.max_runs else []),
            *([f"--max-hours={args.max_hours:g}"] if args.max_hours else []),
            *(["--strict"] if args.strict else []),
        ]
    )


def _store_results(name: str, result: Any, written: dict[str, Path], log_dir: Path) -> None:
    """The plan and results go to the leaderboard too, so another machine can report them."""
    from gauntlet.leaderboard.location import resolve_url
    from gauntlet.leaderboard.studies import record_study_results

    if "results.json" in written:
        planned = [job.overrides for job in result.jobs]
        record_study_results(name, planned, written["results.json"], resolve_url(None, log_dir))


class _StudyLines(logging.Formatter):
    """The message alone, a warning or error prefixed by its level: one line each, never
    folded to the terminal's width, so a path can be copied whole."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname}: {text}"


def _logging(console: Console) -> None:
    from gauntlet.console import StreamHandler

    root = logging.getLogger("gauntlet")
    if not any(getattr(h, "_gauntlet_study", False) for h in root.handlers):
        handler = StreamHandler(console.file)
        handler.setFormatter(_StudyLines("%(message)s"))
        handler._gauntlet_study = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)
