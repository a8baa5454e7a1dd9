"""Group runs by config keys and aggregate their metrics over seeds (n, mean with a confidence
interval, std).

The default view groups by ``config_key``, the run's training identity
(:mod:`gauntlet.leaderboard.identity`): seeds aggregate only within one identity."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from gauntlet.leaderboard.identity import config_key, flat_items, group_label, training_config
from gauntlet.leaderboard.query import MISSING, lookup

DEFAULT_GROUP_BY = ("config_key",)
IDENTITY_KEY = "config_key"
CONFIDENCE = 0.95


def aggregate(
    rows: Sequence[Mapping[str, Any]],
    group_by: Sequence[str],
    metrics: Sequence[str],
    labels: dict[Any, str] | None = None,
) -> list[dict[str, Any]]:
    """Group runs and summarise each metric per group.

    ``rows`` are manifest-shaped runs (as :meth:`Leaderboard.runs` returns them). Runs fall in
    the same group when every key of ``group_by`` has the same value in them; a key is anything
    :func:`gauntlet.leaderboard.query.lookup` resolves (``model``, ``seed``,
    ``model.net.dropout``...), and a run without the key has the value None. ``labels`` keeps
    the groups' labels between calls (a server's); a group's label is computed again when its
    run count changes. With an empty
    ``group_by`` all runs form one group. Groups come in the order their first run appears.

    Each group is::

        {"group": {"model": "cnn", "model.net.dropout": 0.1},   # the key values
         "label": "cnn_digits · model.net.dropout=0.1",        # readable (identity.group_label)
         "n": 3,                                              # runs in the group
         "run_ids": ["...", "...", "..."],
         "metrics": {"test/acc": {"mean": 0.97, "std": 0.01, "n": 3, "ci_low": 0.945,
                                  "ci_high": 0.995, "min": 0.96, "max": 0.98,
                                  "values": [0.96, 0.97, 0.98]}}}

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
            identity,
            {
                "group": values,
                "n": 0,
                "run_ids": [],
                "_runs": [],
                "_values": {m: [] for m in metrics},
            },
        )
        group["n"] += 1
        group["run_ids"].append(row.get("run_id"))
        group["_runs"].append(row)
        recorded = row.get("metrics") or {}
        for metric in metrics:
            value = recorded.get(metric)
            if _is_number(value):
                group["_values"][metric].append(float(value))
    result = []
    first_runs: dict[int, Mapping[str, Any]] = {}
    for group in groups.values():
        values_by_metric = group.pop("_values")
        members = group.pop("_runs")
        first_runs[len(result)] = members[0]
        cache_key = (json.dumps(list(group["group"].items()), default=str), len(members))
        if labels is not None and cache_key in labels:
            group["label"] = labels[cache_key]
        else:
            group["label"] = _label(group["group"], members)
            if labels is not None:
                labels[cache_key] = group["label"]
        group["metrics"] = {metric: summarise(values_by_metric[metric]) for metric in metrics}
        result.append(group)
    if IDENTITY_KEY in group_by:
        _disambiguate(result, first_runs, labels)
    return result


def _label(values: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> str:
    """A group's readable name: its identity's label when it is grouped by identity, else its
    key values."""
    if str(values.get(IDENTITY_KEY, "")).startswith("no config: "):
        return str(values[IDENTITY_KEY])
    if IDENTITY_KEY in values:
        others = [f"{k}={v}" for k, v in values.items() if k != IDENTITY_KEY and v is not None]
        return " · ".join([group_label(runs), *others])
    shown = [str(v) if len(values) == 1 else f"{k}={v}" for k, v in values.items()]
    return " · ".join(shown) or "all runs"


def _disambiguate(
    groups: list[dict[str, Any]],
    runs: dict[int, Mapping[str, Any]],
    cache: dict[Any, Any] | None = None,
) -> None:
    """Identities that share a label (their runs overrode nothing, or a default changed between
    code versions) are told apart by the keys in which their configs differ, and failing
    that by the first digits of their key."""
    by_label: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        by_label.setdefault(group["label"], []).append(index)
    for label, indices in by_label.items():
        if len(indices) < 2:
            continue
        flats = {i: _flat(groups[i], runs[i], cache) for i in indices}
        keys = sorted({k for flat in flats.values() for k in flat})
        varying = [k for k in keys if len({_text(flats[i].get(k, MISSING)) for i in indices}) > 1]
        for i in indices:
            shown = [f"{k}={_text(flats[i].get(k, MISSING))}" for k in varying[:4]]
            key = groups[i]["group"].get(IDENTITY_KEY)
            if not shown and key:
                shown = [f"#{str(key)[:6]}"]
            groups[i]["label"] = " · ".join([label, *shown])


def _flat(
    group: Mapping[str, Any], run: Mapping[str, Any], cache: dict[Any, Any] | None
) -> dict[str, Any]:
    key = ("flat", group["group"].get(IDENTITY_KEY))
    if cache is not None and key in cache:
        return cache[key]
    flat = flat_items(training_config(run.get("config")))
    if cache is not None:
        cache[key] = flat
    return flat


def _text(value: Any) -> str:
    if value is MISSING:
        return "unset"
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else str(value)


def summarise(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``{"mean", "std", "n", "ci_low", "ci_high", "min", "max", "values"}`` of some numbers.

    ``std`` is the sample standard deviation (ddof=1; 0 for n=1). ``ci_low``/``ci_high`` bound a
    Student t confidence interval of the mean (``scipy.stats.t``, n - 1 degrees of freedom, the
    test the studies fall back on when a permutation cannot resolve); None below two values.
    """
    n = len(values)
    if n == 0:
        return {
            "mean": None,
            "std": None,
            "n": 0,
            "ci_low": None,
            "ci_high": None,
            "min": None,
            "max": None,
            "values": [],
        }
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    low = high = None
    if n > 1:
        from scipy import stats

        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        low, high = mean - half, mean + half
    return {
        "mean": mean,
        "std": std,
        "n": n,
        "ci_low": low,
        "ci_high": high,
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
    if key == IDENTITY_KEY and value in (None, MISSING):
        value = config_key(row.get("config") if isinstance(row.get("config"), Mapping) else None)
    if key == IDENTITY_KEY and value is None:
        # a row recorded without its config: what it trained is unknown, so it pools only with
        # rows of its own experiment, model and dataset that lack one too
        named = "/".join(str(row.get(k) or "?") for k in ("experiment", "model", "data"))
        return f"no config: {named}"
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
    min_seeds: int = 1,
) -> list[dict[str, Any]]:
    """Rank groups per task: for each (dataset, metric), each model's best group, best first.

    ``groups`` come from :func:`aggregate` and ``runs`` are the runs behind them; a group's
    dataset and model are its group keys, else what all its runs share (``mixed`` if they
    differ). A group whose metric has fewer than ``min_seeds`` values is marked ``few_seeds``,
    not hidden: it ranks after the groups that have enough, so one lucky seed cannot head a
    task. Each task is ``{"data", "metric", "entries"}``, and each entry ``{"rank", "model",
    "group", "label", "index", "n", "run_ids", "stats", "few_seeds"}``, ``index`` being the
    group's position in ``groups``. Groups without a value for the metric are left out.
    """
    by_id = {row.get("run_id"): row for row in runs}
    tasks: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    def order(entry: Mapping[str, Any]) -> tuple[int, float]:
        mean = entry["stats"]["mean"]
        return (1 if entry["few_seeds"] else 0, mean if ascending else -mean)

    for index, group in enumerate(groups):
        members = [by_id[i] for i in group.get("run_ids") or [] if i in by_id]
        data, model = (_shared(group, members, key) for key in ("data", "model"))
        for metric in metrics:
            stats = group["metrics"][metric]
            if stats["mean"] is None:
                continue
            entry = {
                "model": model,
                "group": dict(group["group"]),
                "label": group.get("label"),
                "index": index,
                "n": group["n"],
                "run_ids": list(group.get("run_ids") or []),
                "stats": stats,
                "few_seeds": stats["n"] < min_seeds,
            }
            models = tasks.setdefault((data, metric), {})
            best = models.get(model)
            if best is None or order(entry) < order(best):
                models[model] = entry
    result = []
    for (data, metric), models in sorted(tasks.items()):
        ranked = sorted(models.values(), key=order)
        for rank, entry in enumerate(ranked, 1):
            entry["rank"] = rank
        result.append({"data": data, "metric": metric, "entries": ranked})
    return result


def _shared(group: Mapping[str, Any], members: Sequence[Mapping[str, Any]], key: str) -> str:
    if group["group"].get(key) is not None:
        return str(group["group"][key])
    values = {str(_value(row, key)) for row in members}
    return values.pop() if len(values) == 1 else "mixed"
