"""What a leaderboard query shows: groups (from :func:`aggregate`) or single runs, as columns.

A :class:`Report` gives the same content three ways: display cells (text plus a value to sort
by) for the console, Markdown and HTML; flat records for CSV; and a JSON payload.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gauntlet.leaderboard.aggregate import IDENTITY_KEY
from gauntlet.leaderboard.query import MISSING, lookup
from gauntlet.leaderboard.rows import COLUMN_FIELDS
from gauntlet.output_formats import finite
from gauntlet.run.labels import smoke_reasons

# The columns every run listing shows first, and what CSV adds for a full record.
RUN_COLUMNS = ("run_id", "status", "experiment", "model", "data", "seed")
# every stored scalar column; metrics and config are expanded into columns of their own
RUN_RECORD_FIELDS = tuple(f for f in COLUMN_FIELDS if f not in ("metrics", "config", "error"))
BLANK = "—"
# a group's statistics per metric, as CSV and JSON records carry them
STAT_PARTS = ("mean", "std", "n", "ci_low", "ci_high")
INTERVAL_HEADER = "mean ± 95% CI"


class Cell(NamedTuple):
    """A displayed value: its text, and what to sort by (a float, a string, or None)."""

    text: str
    sort: float | str | None


@dataclass
class Report:
    """A leaderboard ready to render.

    ``items`` are groups from :func:`gauntlet.leaderboard.aggregate.aggregate` (each has a
    ``"group"``) or manifest-shaped runs. ``keys`` are the group-by keys, or for runs extra
    columns to show (config keys). ``kind`` ("groups" or "runs") is inferred from the items
    when not given. ``source`` must already be redacted.
    """

    items: Sequence[Mapping[str, Any]]
    metrics: Sequence[str]
    keys: Sequence[str] = ()
    title: str = "gauntlet leaderboard"
    source: str | None = None
    description: str | None = None
    kind: str | None = None
    note: str | None = None  # what the view leaves out, for the summary line
    # per task, each model's best group (gauntlet.leaderboard.aggregate.best_per_task)
    tasks: Sequence[Mapping[str, Any]] = ()
    # what follows a group's mean: "ci" the half-width of its 95% t interval, "std" the std
    spread: str = "std"

    def __post_init__(self) -> None:
        if self.kind is None:
            self.kind = "groups" if self.items and "group" in self.items[0] else "runs"
        if self.kind not in ("groups", "runs"):
            raise ValueError(f"Report kind must be 'groups' or 'runs', got {self.kind!r}")

    @property
    def run_count(self) -> int:
        return sum(item["n"] for item in self.items) if self.kind == "groups" else len(self.items)

    def summary(self) -> str:
        """One line: how many runs (and groups) the report shows, and from where."""
        runs = f"{self.run_count} run{'s' if self.run_count != 1 else ''}"
        groups = f"{len(self.items)} group{'s' if len(self.items) != 1 else ''}"
        text = f"{runs} in {groups}" if self.kind == "groups" else runs
        if self.note:
            text += f" · {self.note}"
        return f"{text} · {self.source}" if self.source else text

    def shown_keys(self) -> list[str]:
        """The group keys shown as columns: the identity hash is shown as its readable label,
        in a ``group`` column first."""
        if IDENTITY_KEY in self.keys:
            return ["group", *(key for key in self.keys if key != IDENTITY_KEY)]
        return list(self.keys)

    def columns(self) -> list[str]:
        """The display headers."""
        if self.kind == "groups":
            return [
                *self.shown_keys(),
                "runs",
                *(metric_header(m, self.spread) for m in self.metrics),
            ]
        extra = [key for key in self.keys if key not in RUN_COLUMNS]
        return [*RUN_COLUMNS, *extra, *self.metrics, "started"]

    def numeric_columns(self) -> set[str]:
        """Headers whose cells are numbers (right-aligned, sorted numerically)."""
        rows = self.cells()
        numeric = set()
        for index, name in enumerate(self.columns()):
            sorts = [row[index].sort for row in rows]
            if any(isinstance(s, float) for s in sorts) and all(
                s is None or isinstance(s, float) for s in sorts
            ):
                numeric.add(name)
        return numeric

    def cells(self) -> list[list[Cell]]:
        """One list of cells per row, in :meth:`columns` order."""
        if self.kind == "groups":
            return [self._group_cells(group) for group in self.items]
        return [self._run_cells(run) for run in self.items]

    def _group_cells(self, group: Mapping[str, Any]) -> list[Cell]:
        cells = [
            Cell(str(group.get("label") or BLANK), str(group.get("label") or ""))
            if key == "group"
            else value_cell(group["group"].get(key))
            for key in self.shown_keys()
        ]
        cells.append(Cell(str(group["n"]), float(group["n"])))
        for metric in self.metrics:
            stats = group["metrics"][metric]
            if stats["mean"] is None:
                cells.append(Cell(BLANK, None))
                continue
            text = format_interval(stats, self.spread)
            if stats["n"] != group["n"]:
                text += f" (n={stats['n']})"
            cells.append(Cell(text, float(stats["mean"])))
        return cells

    def _run_cells(self, run: Mapping[str, Any]) -> list[Cell]:
        extra = [key for key in self.keys if key not in RUN_COLUMNS]
        cells = [value_cell(_get(run, key)) for key in (*RUN_COLUMNS, *extra)]
        recorded = run.get("metrics") or {}
        for metric in self.metrics:
            value = recorded.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sort = None if math.isnan(value) else float(value)
                cells.append(Cell(format_metric(value), sort))
            else:
                cells.append(value_cell(value))
        started = run.get("started")
        cells.append(Cell(started[:19].replace("T", " ") if started else BLANK, started))
        return cells

    def records(self) -> list[dict[str, Any]]:
        """Flat rows of plain values for CSV: a group's metric becomes ``<metric>.mean``,
        ``<metric>.std`` and ``<metric>.n``."""
        records = []
        for item in self.items:
            if self.kind == "groups":
                record = {"group": item.get("label")} if IDENTITY_KEY in self.keys else {}
                record.update({key: item["group"].get(key) for key in self.keys})
                record["runs"] = item["n"]
                for metric in self.metrics:
                    stats = item["metrics"][metric]
                    record.update({f"{metric}.{part}": stats.get(part) for part in STAT_PARTS})
                record["run_ids"] = list(item.get("run_ids") or [])
            else:
                record = {name: item.get(name) for name in RUN_RECORD_FIELDS}
                record["git_commit"] = (item.get("git") or {}).get("commit")
                record["sweep"] = item.get("sweep")
                record["smoke"] = smoke_reasons(item)
                record.update({key: _get(item, key) for key in self.keys if key not in record})
                recorded = item.get("metrics") or {}
                record.update({metric: recorded.get(metric) for metric in self.metrics})
            records.append(record)
        return records

    def task_columns(self) -> list[str]:
        """The headers of a per-task table."""
        keys = [key for key in self.shown_keys() if key not in ("data", "model")]
        spread = INTERVAL_HEADER if self.spread == "ci" else "mean ± std"
        return ["rank", "model", *keys, "runs", spread, "run_ids"]

    def task_cells(self, task: Mapping[str, Any]) -> list[list[Cell]]:
        keys = [key for key in self.shown_keys() if key not in ("data", "model")]
        rows = []
        for entry in task["entries"]:
            stats = entry["stats"]
            text = format_interval(stats, self.spread)
            if entry.get("few_seeds"):
                text += f" (n={stats['n']}: few seeds)"
            row = [Cell(str(entry["rank"]), float(entry["rank"])), value_cell(entry["model"])]
            row += [
                Cell(str(entry.get("label") or BLANK), None)
                if key == "group"
                else value_cell(entry["group"].get(key))
                for key in keys
            ]
            row.append(Cell(str(entry["n"]), float(entry["n"])))
            row.append(Cell(text, float(stats["mean"])))
            row.append(Cell(" ".join(str(i) for i in entry["run_ids"]), None))
            rows.append(row)
        return rows

    def task_records(self) -> list[dict[str, Any]]:
        """Flat rows of the per-task ranking: one per (dataset, metric, model)."""
        records = []
        for task in self.tasks:
            for entry in task["entries"]:
                record = {"data": task["data"], "metric": task["metric"], "rank": entry["rank"]}
                record["model"] = entry["model"]
                record.update({k: v for k, v in entry["group"].items() if k not in record})
                if entry.get("label"):
                    record["group"] = entry["label"]
                record["runs"] = entry["n"]
                record.update({part: entry["stats"].get(part) for part in STAT_PARTS})
                record["few_seeds"] = bool(entry.get("few_seeds"))
                record["run_ids"] = list(entry["run_ids"])
                records.append(record)
        return records

    def payload(self) -> dict[str, Any]:
        """The JSON document: what was asked and the groups or runs, non-finite numbers as null."""
        return finite(
            {
                "title": self.title,
                "source": self.source,
                "kind": self.kind,
                "keys": list(self.keys),
                "metrics": list(self.metrics),
                "items": list(self.items),
            }
        )


def metric_header(metric: str, spread: str = "std") -> str:
    """A group metric's header, saying what follows its mean's ± (a std needs no saying)."""
    return f"{metric} (mean ± 95% CI)" if spread == "ci" else metric


def format_interval(stats: Mapping[str, Any], spread: str = "std") -> str:
    """``0.9749 ± 0.0031``: the mean, then the half-width of its t interval (``ci``) or the
    std; a single run has no spread to show."""
    text = format_metric(stats["mean"])
    if stats["n"] < 2:
        return text
    low, high = stats.get("ci_low"), stats.get("ci_high")
    if spread == "ci" and low is not None and high is not None:
        return text + f" ± {format_metric((high - low) / 2)}"
    return text + f" ± {format_metric(stats['std'])}"


def format_metric(value: float | None) -> str:
    """A metric value: four decimals, or scientific notation when that would hide it."""
    if value is None:
        return BLANK
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.3e}"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def format_value(value: Any) -> str:
    """Any key value as text: None as a dash, containers as JSON."""
    if value is None or value is MISSING:
        return BLANK
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return f"{value:.6g}"  # 0.30000000000000004 reads 0.3
    return str(value)


def value_cell(value: Any) -> Cell:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Cell(format_value(value), None if math.isnan(value) else float(value))
    return Cell(format_value(value), None if value is None or value is MISSING else str(value))


def _get(run: Mapping[str, Any], key: str) -> Any:
    value = lookup(run, key)
    return None if value is MISSING else value
