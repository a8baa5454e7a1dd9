"""``gauntlet leaderboard``: rank recorded runs, and ``gauntlet leaderboard import`` to backfill.

Exit codes: 0 success; 1 ``import`` found nothing it could record; 2 an error the message
explains (a malformed command line, a bad key, no database, an --output whose directory does
not exist), as the other commands exit on a user error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.aggregate import (
    DEFAULT_GROUP_BY,
    aggregate,
    best_per_task,
    sort_items,
)
from gauntlet.leaderboard.backfill import import_manifests
from gauntlet.leaderboard.formats import (
    FORMATS,
    check_output,
    format_for,
    print_report,
    render,
    render_records,
    task_tables,
    write_report,
)
from gauntlet.leaderboard.query import (
    MISSING,
    lookup,
    parse_where,
    require_key,
    require_metric,
)
from gauntlet.leaderboard.report import Report
from gauntlet.leaderboard.store import Leaderboard, resolve_url
from gauntlet.run.labels import smoke_reasons
from gauntlet.run.record import STATUSES

DEFAULT_METRIC = "test/acc"

_EXAMPLES = """examples:
  gauntlet leaderboard                      # completed full runs; --all adds failed and smoke runs
  gauntlet leaderboard --all --runs
  gauntlet leaderboard --data digits --status completed --metric test/acc --metric test/f1
  gauntlet leaderboard --group-by model --group-by model.net.dropout --top 5
  gauntlet leaderboard --where data.fraction=0.1 --runs --format csv --output runs.csv
  gauntlet leaderboard --output leaderboard.html
  gauntlet leaderboard --by-task --min-seeds 3   # best group per model and task; <3 seeds marked
  gauntlet leaderboard import logs/ multirun/

The database: --url, else $GAUNTLET_LEADERBOARD_URL, else sqlite:///<--log-dir>/leaderboard.db.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gauntlet leaderboard`` with the arguments after that word; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = Console()
    err = Console(stderr=True)
    try:
        if argv[:1] == ["import"]:
            return _import(_import_parser().parse_args(argv[1:]), out, err)
        return _show(_parser().parse_args(argv), out)
    except SystemExit as stop:  # argparse: --help (0) or a malformed command line (2)
        return stop.code if isinstance(stop.code, int) else 2
    except GauntletError as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
        return 2


def _add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="SQLAlchemy database URL (default: $GAUNTLET_LEADERBOARD_URL, else the SQLite "
        "file in --log-dir)",
    )
    parser.add_argument(
        "--log-dir",
        default="logs",
        help="directory of the default SQLite database leaderboard.db (default: %(default)s)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gauntlet leaderboard",
        description="Rank recorded runs: filter them, group the runs that trained the same "
        "thing (or group them by any config keys) and aggregate each group over its seeds "
        "(n, mean ± 95%% confidence interval; the std in csv/json). "
        "`gauntlet leaderboard import DIR...` backfills runs from manifest.json files.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_database_options(parser)
    filters = parser.add_argument_group("filters (repeat an option to accept several values)")
    for name in ("data", "model", "study", "experiment"):
        filters.add_argument(f"--{name}", action="append", metavar=name.upper())
    filters.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="keep runs in this state (default: completed)",
    )
    filters.add_argument(
        "--all",
        action="store_true",
        help="every run: any status (unless --status), and smoke runs (fast_dev_run, "
        "limit_*_batches, max_steps, debug=...), which the default views leave out",
    )
    filters.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep runs whose KEY equals VALUE; KEY is a dotted config key "
        "(model.net.dropout) or a manifest field (seed, user); VALUE is read as YAML",
    )
    shaping = parser.add_argument_group("grouping and ranking")
    shaping.add_argument(
        "--group-by",
        action="append",
        metavar="KEY",
        help="group runs by this key, repeatable (default: config_key, the training "
        "identity: the resolved config without the seed and without keys that do not change "
        "what is trained; runs of different identities are never pooled unless asked here)",
    )
    shaping.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help=f"metric to aggregate and show, repeatable (default: {DEFAULT_METRIC})",
    )
    shaping.add_argument(
        "--sort", metavar="KEY", help="sort by this metric or key (default: the first --metric)"
    )
    shaping.add_argument("--ascending", action="store_true", help="lowest first")
    shaping.add_argument("--top", type=_positive, metavar="N", help="keep the first N rows")
    shaping.add_argument(
        "--runs", action="store_true", help="list single runs instead of aggregated groups"
    )
    shaping.add_argument(
        "--by-task",
        action="store_true",
        help="rank per task: for each dataset and --metric, each model's best group, with its "
        "run ids (--top N keeps N models per task)",
    )
    shaping.add_argument(
        "--min-seeds",
        type=_positive,
        default=1,
        metavar="N",
        help="--by-task: a group with fewer seeds is marked 'few seeds' and ranked after "
        "those with enough, not hidden (default: %(default)s)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        help="table (console), csv, json, md or html (default: from the --output suffix, "
        "else table)",
    )
    output.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    output.add_argument("--title", default="gauntlet leaderboard", help="title of the table")
    return parser


def _import_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gauntlet leaderboard import",
        description="Record the runs whose manifest.json files lie under the directories "
        "(idempotent: a run already recorded is updated, not duplicated).",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run or log directories")
    _add_database_options(parser)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _show(args: argparse.Namespace, out: Console) -> int:
    metrics = args.metric or [DEFAULT_METRIC]
    group_by = list(args.group_by or DEFAULT_GROUP_BY)
    sort_key = args.sort or metrics[0]
    conditions = parse_where(args.where)
    fmt = format_for(args.output, args.format)
    if args.output:
        check_output(args.output)
    url = resolve_url(args.url, args.log_dir, create=False)
    statuses = args.status or (None if args.all else ["completed"])
    with Leaderboard.open(url, create=False) as board:
        everything = board.runs(
            experiment=args.experiment,
            study=args.study,
            model=args.model,
            data=args.data,
        )
        source = board.url
    rows = [row for row in everything if statuses is None or row.get("status") in statuses]
    if not args.all:
        rows = [row for row in rows if not smoke_reasons(row)]
    left_out = _left_out(everything, rows)
    for condition in conditions:
        require_key(rows, condition.key, "--where")
    rows = [row for row in rows if all(c.matches(row) for c in conditions)]
    for metric in metrics:
        require_metric(rows, metric)
    if not args.group_by:  # the default keys that no shown run has say nothing: leave them out
        group_by = [
            key
            for key in group_by
            if key == "config_key" or any(lookup(row, key) not in (None, MISSING) for row in rows)
        ]
    for key in args.group_by or []:
        require_key(rows, key, "--group-by")
    if args.runs:
        if sort_key not in metrics:
            require_key(rows, sort_key, "--sort")
        items: list[Any] = rows
        keys = args.group_by or []
    else:
        if sort_key not in (*metrics, *group_by, "runs", "n"):
            raise GauntletError(
                f"--sort {sort_key!r}: groups sort by a --metric ({', '.join(metrics)}), a "
                f"--group-by key ({', '.join(group_by)}) or runs; add it with --metric or "
                "--group-by, or list single runs with --runs"
            )
        items = aggregate(rows, group_by, metrics)
        keys = group_by
    items = sort_items(items, sort_key, ascending=args.ascending)
    tasks = (
        [] if args.runs else _tasks(items, rows, group_by, metrics, args.ascending, args.min_seeds)
    )
    if args.by_task:
        if args.runs:
            raise GauntletError("--by-task ranks groups; leave out --runs")
        for task in tasks:
            task["entries"] = task["entries"][: args.top] if args.top else task["entries"]
    elif args.top:
        items = items[: args.top]
    report = Report(
        items=items,
        metrics=metrics,
        keys=keys,
        title=args.title,
        source=source,
        description=_describe(args),
        kind="runs" if args.runs else "groups",
        note=left_out,
        tasks=tasks,
        spread="ci",
    )
    if args.by_task and fmt != "html":
        return _show_tasks(report, fmt, args.output, out)
    if fmt == "html":
        text = _page(args, url, metrics)
        if args.output:
            Path(args.output).expanduser().write_text(text, encoding="utf-8")
            out.print(f"wrote {escape(report.summary())} as html to {escape(args.output)}")
        else:
            sys.stdout.write(text)
        return 0
    if args.output:
        path = write_report(report, fmt, args.output)
        out.print(f"wrote {escape(report.summary())} as {fmt} to {escape(str(path))}")
    elif fmt == "table":
        print_report(out, report)
        if not items:
            out.print("no runs match; see `gauntlet leaderboard --help` for the filters")
    else:
        sys.stdout.write(render(report, fmt))
        sys.stdout.flush()
    return 0


def _page(args: argparse.Namespace, url: str, metrics: list[str]) -> str:
    """The static page: ``gauntlet serve``'s page and views, over the runs these arguments
    select, with their answers embedded."""
    from gauntlet.leaderboard.serve.snapshot import render_page, snapshot
    from gauntlet.leaderboard.serve.views import Views

    params: dict[str, Any] = {
        "metric": metrics,
        "all": "1" if args.all else None,
        "status": args.status,
        "where": args.where,
        "sort": args.sort,
        "ascending": "1" if args.ascending else None,
        "limit": args.top,
        "min_seeds": args.min_seeds,
        **{name: getattr(args, name) for name in ("experiment", "model", "data", "study")},
    }
    if args.group_by:
        params["group_by"] = args.group_by
    params = {key: value for key, value in params.items() if value not in (None, [])}
    with Leaderboard.open(url, create=False, settle=False) as board:
        return render_page(snapshot(Views(board), params, args.title))


def _tasks(
    groups: list[Any],
    rows: list[Any],
    group_by: list[str],
    metrics: list[str],
    ascending: bool,
    min_seeds: int,
) -> list[dict[str, Any]]:
    """Per task, each model's best group: the shown groups when they are per model and dataset
    (a training identity is), else the same grouping split by model and dataset (no group
    index to link to then)."""
    keys = [*group_by, *(key for key in ("model", "data") if key not in group_by)]
    if keys == group_by or "config_key" in group_by:
        return best_per_task(groups, rows, metrics, ascending=ascending, min_seeds=min_seeds)
    tasks = best_per_task(
        aggregate(rows, keys, metrics), rows, metrics, ascending=ascending, min_seeds=min_seeds
    )
    for task in tasks:
        for entry in task["entries"]:
            entry["index"] = None
    return tasks


def _show_tasks(report: Report, fmt: str, output: str | None, out: Console) -> int:
    """``--by-task``: a table per task on the console, else its flat records."""
    if fmt == "table" and output is None:
        for table in task_tables(report, out.width):
            out.print(table)
        out.print(Text(report.summary() if report.tasks else "no runs match"), soft_wrap=True)
        return 0
    if fmt not in ("csv", "json", "jsonl"):
        raise GauntletError(
            f"--by-task writes a console table, csv, json, jsonl or html, not {fmt}"
        )
    text = render_records(report.task_records(), fmt)
    if output is None:
        sys.stdout.write(text)
        return 0
    path = Path(output).expanduser()
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {len(report.tasks)} tasks as {fmt} to {escape(str(path))}")
    return 0


def _left_out(everything: Sequence[dict[str, Any]], kept: Sequence[dict[str, Any]]) -> str | None:
    """What the default view left out, in words: ``2 failed, 3 smoke runs not shown (--all)``."""
    kept_ids = {row.get("run_id") for row in kept}
    counts: dict[str, int] = {}
    for row in everything:
        if row.get("run_id") in kept_ids:
            continue
        reason = "smoke" if smoke_reasons(row) else str(row.get("status") or "unknown")
        counts[reason] = counts.get(reason, 0) + 1
    if not counts:
        return None
    parts = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
    return f"not shown: {parts} (--all shows every run)"


def _describe(args: argparse.Namespace) -> str | None:
    """The filters of a query in words, for the HTML page."""
    parts = [
        f"{name}={','.join(values)}"
        for name in ("data", "model", "study", "experiment", "status")
        if (values := getattr(args, name))
    ]
    parts.extend(args.where)
    return "filters: " + "; ".join(parts) if parts else None


def _import(args: argparse.Namespace, out: Console, err: Console) -> int:
    url = resolve_url(args.url, args.log_dir)
    with Leaderboard.open(url) as board:
        result = import_manifests(board, args.dirs)
        source = board.url
    for _path, reason in result.skipped:
        err.print(f"[yellow]skipped[/] {escape(reason)}", soft_wrap=True)
    where = ", ".join(args.dirs)
    if not result.found:
        err.print(
            f"[bold red]error:[/] no manifest.json found under {escape(where)}; "
            "expected run directories written by `gauntlet train`",
            soft_wrap=True,
        )
        return 1
    history = f", and {result.epochs} epochs of history from metrics.csv" if result.epochs else ""
    out.print(
        f"imported {len(result.recorded)} of {result.found} manifests{history} into "
        f"{escape(source)}",
        soft_wrap=True,
    )
    if not result.recorded:
        err.print(f"[bold red]error:[/] none of the manifests under {escape(where)} could be read")
        return 1
    return 0
