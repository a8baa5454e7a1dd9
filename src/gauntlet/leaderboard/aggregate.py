"""Group runs by config keys and aggregate their metrics over seeds (mean ± std, n)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from gauntlet.leaderboard.query import MISSING, lookup

DEFAULT_GROUP_BY = ("study", "sweep", "experiment", "model", "data")


def aggregate(
    rows: Sequence[Mapping[str, Any]], group_by: Sequence[str], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Group runs and summarise each metric per group.

    ``rows`` are manifest-shaped runs (as :meth:`Leaderboard.runs` returns them). Runs fall in
    the same group when every key of ``group_by`` has the same value in them; a key is anything
    :func:`gauntlet.leaderboard.query.lookup` resolves (``model``, ``seed``,
    ``model.net.dropout``...), and a run without the key has the value None. With an empty
    ``group_by`` all runs form one group. Groups come in the order their first run appears.

    Each group is::

        {"group": {"model": "cnn", "model.net.dropout": 0.1},   # the key values
         "n": 3,                                              # runs in the group
         "run_ids": ["...", "...", "..."],
         "metrics": {"test/acc": {"mean": 0.97, "std": 0.01, "n": 3,
                                  "min": 0.96, "max": 0.98, "values": [0.96, 0.97, 0.98]}}}

    A metric's statistics use only the runs that recorded a finite number for it, so its ``n``
    can be below the group's ``n`` (a failed run has no test metrics). ``std`` is the sample
    standard deviation (``ddof=1``) and 0.0 when ``n == 1``; with ``n == 0`` ``mean``, ``std``,
    ``min`` and ``max`` are None.
    """
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = {key: _value(row, key) for key in group_by}
        identity = json.dumps(list(values.values()), sort_keys=True, default=str)
        group = groups.setdefault(
            identity, {"group": values, "n": 0, "run_ids": [], "_values": {m: [] for m in metrics}}
        )
        group["n"] += 1
        group["run_ids"].append(row.get("run_id"))
        recorded = row.get("metrics") or {}
        for metric in metrics:
            value = recorded.get(metric)
            if _is_number(value):
                group["_values"][metric].append(float(value))
    result = []
    for group in groups.values():
        values_by_metric = group.pop("_values")
        group["metrics"] = {metric: summarise(values_by_metric[metric]) for metric in metrics}
        result.append(group)
    return result


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "n", "min", "max", "values"}`` of some numbers (std: ddof=1, 0 for n=1)."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "min": None, "max": None, "values": []}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if n > 1 else 0.0,
        "n": n,
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def sort_value(item: Mapping[str, Any], key: str) -> Any:
    """What to sort a group or a run by: a metric (a group's mean), a group key, ``runs`` (a
    group's run count), or any key of a run; :data:`MISSING` if it has none."""
    if "group" in item:  # a group from aggregate()
        if key in ("n", "runs"):
            return item["n"]
        if key in item.get("metrics", {}):
            return item["metrics"][key]["mean"]
        if key in item["group"]:
            return item["group"][key]
        return item.get(key, MISSING)
    recorded = item.get("metrics") or {}
    return recorded[key] if key in recorded else lookup(item, key)


def sort_items(
    items: Sequence[Mapping[str, Any]], key: str, ascending: bool = False
) -> list[Mapping[str, Any]]:
    """Groups or runs sorted by ``key`` (descending unless ``ascending``); items without a
    value for it (or a NaN) come last either way; numbers sort before other values."""

    def rank(item: Mapping[str, Any]) -> tuple[int, Any]:
        value = sort_value(item, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (0, float(value))
        return (1, str(value))

    present = [item for item in items if _has_value(sort_value(item, key))]
    absent = [item for item in items if not _has_value(sort_value(item, key))]
    numbers = sorted((i for i in present if rank(i)[0] == 0), key=rank, reverse=not ascending)
    others = sorted((i for i in present if rank(i)[0] == 1), key=rank, reverse=not ascending)
    return [*numbers, *others, *absent]


def _value(row: Mapping[str, Any], key: str) -> Any:
    value = lookup(row, key)
    return None if value is MISSING else value


def _has_value(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def best_per_task(
    groups: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    ascending: bool = False,
) -> list[dict[str, Any]]:
    """Rank per task: for each (dataset, metric), each model's best group, best first.

    ``groups`` come from :func:`aggregate` and ``runs`` are the runs behind them; a group's
    dataset and model are its group keys, else what all its runs share (``mixed`` if they
    differ). Each task is ``{"data", "metric", "entries"}``, and each entry
    ``{"rank", "model", "group", "index", "n", "run_ids", "stats"}``, ``index`` being the
    group's position in ``groups``. Groups without a value for the metric are left out.
    """
    by_id = {row.get("run_id"): row for row in runs}
    tasks: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for index, group in enumerate(groups):
        members = [by_id[i] for i in group.get("run_ids") or [] if i in by_id]
        data, model = (_shared(group, members, key) for key in ("data", "model"))
        for metric in metrics:
            stats = group["metrics"][metric]
            if stats["mean"] is None:
                continue
            models = tasks.setdefault((data, metric), {})
            best = models.get(model)
            mean, kept = stats["mean"], best and best["stats"]["mean"]
            if best is None or (mean < kept if ascending else mean > kept):
                models[model] = {
                    "model": model,
                    "group": dict(group["group"]),
                    "index": index,
                    "n": group["n"],
                    "run_ids": list(group.get("run_ids") or []),
                    "stats": stats,
                }
    result = []
    for (data, metric), models in sorted(tasks.items()):
        ranked = sorted(models.values(), key=lambda e: e["stats"]["mean"], reverse=not ascending)
        for rank, entry in enumerate(ranked, 1):
            entry["rank"] = rank
        result.append({"data": data, "metric": metric, "entries": ranked})
    return result


def _shared(group: Mapping[str, Any], members: Sequence[Mapping[str, Any]], key: str) -> str:
    if group["group"].get(key) is not None:
        return str(group["group"][key])
    values = {str(_value(row, key)) for row in members}
    return values.pop() if len(values) == 1 else "mixed"
