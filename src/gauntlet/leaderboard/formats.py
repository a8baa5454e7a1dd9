"""Write a :class:`Report` as a console table, CSV, JSON, Markdown or an HTML page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.report import Report
from gauntlet.output_formats import finite, markdown_cell

FORMATS = ("table", "csv", "json", "jsonl", "md", "html")
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".txt": "table",
}


def format_for(path: str | Path | None, requested: str | None) -> str:
    """The output format: the requested one, else the one the file suffix names, else table."""
    if requested:
        if requested not in FORMATS:
            raise GauntletError(
                f"--format {requested!r} is not a format; choose one of {', '.join(FORMATS)}"
            )
        return requested
    if path is not None:
        suffix = Path(path).suffix.lower()
        if suffix not in SUFFIX_FORMATS:
            raise GauntletError(
                f"--output {path}: {suffix or 'no suffix'} is not a format gauntlet writes; "
                f"name the file {', '.join('*' + s for s in SUFFIX_FORMATS)}, or give --format "
                f"({', '.join(FORMATS)})"
            )
        return SUFFIX_FORMATS[suffix]
    return "table"


def rich_table(report: Report, width: int | None = None) -> Table:
    """The report as a Rich table (cell text is never read as Rich markup).

    Run ids (what reproduce and diff take) and metric values are never cut nor wrapped at any
    width; the other columns wrap (a word longer than its column folds). When even that does
    not fit ``width``, the least needed columns are left out and the title says which. The
    summary line (which holds the database URL) is printed below the table by
    :func:`print_report`, unwrapped, so that no URL breaks."""
    names = report.columns()
    cells = report.cells()
    numeric = report.numeric_columns()
    metric_headers = names[len(names) - len(report.metrics) :] if report.kind == "groups" else []
    metric_headers = metric_headers or list(report.metrics)
    whole = {"run_id", "runs", "rank", "seed", *metric_headers}
    keep = _fitting(names, cells, whole, width, _DROPPABLE)
    table = Table(title=report.title, header_style="bold")
    if len(keep) < len(names):
        left = ", ".join(n for n in names if n not in keep)
        table.title = f"{report.title} (narrow terminal: {left} not shown)"
    index = [names.index(n) for n in keep]
    shown = [[row[i] for i in index] for row in cells]
    _add_columns(table, keep, shown, numeric, whole, width)
    for row in shown:
        table.add_row(*(Text(cell.text) for cell in row))
    return table


# left out first when a table cannot fit the terminal, in this order
_DROPPABLE = ("started", "data", "model", "status", "experiment")
_MIN_FLEX = 8


def _header(name: str) -> Text:
    # "test/acc (mean ± 95% CI)" on two lines, so the header is no wider than its values
    metric, sep, rest = name.partition(" (")
    return Text(f"{metric}\n({rest}" if sep else name)


def _whole_width(name: str, index: int, cells: list[list[Any]]) -> int:
    header = max(len(line) for line in _header(name).plain.splitlines())
    return max([header, *(len(row[index].text) for row in cells)])


def _fitting(
    names: list[str],
    cells: list[list[Any]],
    whole: set[str],
    width: int | None,
    droppable: Sequence[str],
) -> list[str]:
    """The columns to show: all of them, less droppable ones while they cannot fit ``width``
    (whole columns at their full width, the others at least a few characters, 3 per border)."""
    keep = list(names)
    if width is None:
        return keep
    for name in (*droppable, None):
        need = sum(
            _whole_width(n, names.index(n), cells) if n in whole else _MIN_FLEX for n in keep
        )
        if need + 3 * len(keep) + 1 <= width or name is None:
            return keep
        if name in keep:
            keep.remove(name)
    return keep


def _add_columns(
    table: Table,
    names: list[str],
    cells: list[list[Any]],
    numeric: set[str],
    whole: set[str],
    width: int | None = None,
) -> None:
    fixed = sum(_whole_width(n, i, cells) for i, n in enumerate(names) if n in whole)
    flexible = [n for n in names if n not in whole]
    room = None
    if width is not None and flexible:
        room = max(_MIN_FLEX, (width - fixed - 3 * len(names) - 1) // len(flexible))
    for index, name in enumerate(names):
        justify = "right" if name in numeric else "left"
        if name == "run_ids":  # several ids: wrapped between them, never inside one
            words = [len(w) for row in cells for w in row[index].text.split()]
            table.add_column(_header(name), min_width=max([7, *words]), overflow="fold")
        elif name in whole:
            table.add_column(
                _header(name),
                justify=justify,
                no_wrap=True,
                min_width=_whole_width(name, index, cells),
                overflow="fold",  # never cut; ("ignore" would also drop the justification)
            )
        else:
            table.add_column(_header(name), justify=justify, overflow="fold", max_width=room)


def print_report(console: Console, report: Report) -> None:
    """The table, then its summary line unwrapped (a terminal wraps it, never mid-URL)."""
    console.print(rich_table(report, console.width))
    console.print(Text(report.summary()), soft_wrap=True)


def task_tables(report: Report, width: int | None = None) -> list[Table]:
    """One Rich table per task (dataset x metric): each model's best group, ranked."""
    tables = []
    for task in report.tasks:
        table = Table(title=f"{task['data']} · {task['metric']}", header_style="bold")
        names = report.task_columns()
        cells = report.task_cells(task)
        numeric = {"rank", "runs", names[-2]}
        _add_columns(table, names, cells, numeric, whole={*numeric, "run_ids"}, width=width)
        for row in cells:
            table.add_row(*(Text(cell.text) for cell in row))
        tables.append(table)
    return tables


def to_text(report: Report, width: int = 160) -> str:
    """The console table as plain text (no colour), for a file."""
    buffer = io.StringIO()
    print_report(Console(file=buffer, width=width, color_system=None, force_terminal=False), report)
    return buffer.getvalue()


def to_csv(report: Report) -> str:
    """One header line, then one line per group or run; containers as JSON, None empty."""
    records = report.records()
    names: list[str] = []
    for record in records:
        names.extend(name for name in record if name not in names)
    if not records:
        names = report.columns()
    return _csv_text(records, names)


def _csv_text(records: list[dict[str, Any]], names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({name: _csv_value(record.get(name)) for name in names})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def render_records(records: list[dict[str, Any]], fmt: str) -> str:
    """Flat records as csv, json or jsonl, as a report's own records are written."""
    if fmt == "json":
        return json.dumps(finite(records), indent=1, default=str) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(finite(record), default=str) + "\n" for record in records)
    names: list[str] = []
    for record in records:
        names.extend(name for name in record if name not in names)
    return _csv_text(records, names)


def to_json(report: Report) -> str:
    """The report's flat records as a strict JSON list (NaN and infinities become null):
    ``pandas.read_json(text)`` reads it as one row per group or run."""
    return json.dumps(finite(report.records()), indent=1, default=str) + "\n"


def to_jsonl(report: Report) -> str:
    """One JSON record per line (``pandas.read_json(text, lines=True)``)."""
    return "".join(json.dumps(finite(record), default=str) + "\n" for record in report.records())


def to_markdown(report: Report) -> str:
    """A GitHub-flavoured Markdown table under a bold title line."""
    lines = [f"**{markdown_cell(report.title)}** — {markdown_cell(report.summary())}", ""]
    columns = report.columns()
    numeric = report.numeric_columns()
    lines.append("| " + " | ".join(markdown_cell(name) for name in columns) + " |")
    lines.append("|" + "|".join("---:" if name in numeric else "---" for name in columns) + "|")
    lines.extend(
        "| " + " | ".join(markdown_cell(cell.text) for cell in row) + " |" for row in report.cells()
    )
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str) -> str:
    """The report as text in ``fmt`` (one of :data:`FORMATS` but html: the page is
    ``gauntlet serve``'s, :mod:`gauntlet.leaderboard.serve.snapshot`)."""
    if fmt == "table":
        return to_text(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "json":
        return to_json(report)
    if fmt == "jsonl":
        return to_jsonl(report)
    if fmt == "md":
        return to_markdown(report)
    raise GauntletError(f"--format {fmt!r} is not a format; choose one of {', '.join(FORMATS)}")


def check_output(path: str | Path) -> Path:
    """``path`` as a file to write: its directory must exist (none is created, so that a typo
    cannot scatter directories), and it must not be a directory itself."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise GauntletError(f"--output {path}: is a directory; give a file name inside it")
    if not target.parent.is_dir():
        raise GauntletError(
            f"--output {path}: the directory {target.parent} does not exist; create it first "
            "or choose a file in an existing directory"
        )
    return target


def write_report(report: Report, fmt: str, path: str | Path) -> Path:
    """Write the report to ``path``, whose directory must exist; returns the path."""
    target = check_output(path)
    target.write_text(render(report, fmt), encoding="utf-8")
    return target
