"""Plots of one metric per group (mean ± std, each run a dot) or per run, as PNG bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from gauntlet.leaderboard.report import Report, format_value

MAX_BARS = 40
"""At most this many groups or runs (the first ones in the report's order) are drawn."""


def metric_png(report: Report, metric: str) -> bytes | None:
    """A PNG of ``metric`` for the report's groups or runs; None when nothing recorded it.

    Groups along one numeric key (``data.fraction``, ``model.net.dropout``) are drawn as a curve
    over that key; other groups and single runs as horizontal bars.
    """
    if report.kind == "groups":
        groups = [g for g in report.items if g["metrics"][metric]["n"] > 0][:MAX_BARS]
        if not groups:
            return None
        if len(report.keys) == 1 and all(_is_real(g["group"].get(report.keys[0])) for g in groups):
            return _curve(groups, report.keys[0], metric)
        labels = [
            " / ".join(format_value(v) for v in g["group"].values()) or "all runs" for g in groups
        ]
        stats = [g["metrics"][metric] for g in groups]
        return _bars(
            labels,
            [s["mean"] for s in stats],
            [s["std"] for s in stats],
            [s["values"] for s in stats],
            metric,
            " / ".join(report.keys),
        )
    runs = [r for r in report.items if _is_real((r.get("metrics") or {}).get(metric))]
    runs = runs[:MAX_BARS]
    if not runs:
        return None
    values = [float(r["metrics"][metric]) for r in runs]
    labels = [f"{r.get('run_id')} ({format_value(r.get('model'))})" for r in runs]
    return _bars(labels, values, None, None, metric, "run")


def _curve(groups: Sequence[Mapping[str, Any]], key: str, metric: str) -> bytes:
    points = sorted(groups, key=lambda g: float(g["group"][key]))
    xs = [float(g["group"][key]) for g in points]
    stats = [g["metrics"][metric] for g in points]
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.errorbar(
        xs, [s["mean"] for s in stats], yerr=[s["std"] for s in stats], marker="o", capsize=4
    )
    for x, s in zip(xs, stats, strict=True):
        axes.scatter([x] * len(s["values"]), s["values"], s=12, alpha=0.5, color="gray", zorder=3)
    axes.set_xlabel(_label(key))
    axes.set_ylabel(_label(f"{metric} (mean ± std)"))
    axes.grid(alpha=0.3)
    return _png(figure)


def _bars(
    labels: Sequence[str],
    values: Sequence[float],
    errors: Sequence[float] | None,
    points: Sequence[Sequence[float]] | None,
    metric: str,
    what: str,
) -> bytes:
    figure = Figure(figsize=(7, max(2.5, 0.35 * len(labels) + 1.2)), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    axes.barh(positions, values, xerr=errors, capsize=3 if errors else 0, color="#4c72b0")
    if points:
        for position, run_values in zip(positions, points, strict=True):
            axes.scatter(run_values, [position] * len(run_values), s=12, color="black", zorder=3)
    axes.set_yticks(positions, [_label(label) for label in labels])
    axes.invert_yaxis()  # the report's first row on top
    axes.set_xlabel(_label(f"{metric} (mean ± std)" if errors else metric))
    axes.set_ylabel(_label(what))
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _label(text: str) -> str:
    # "$" would start matplotlib mathtext, which fails on arbitrary run names.
    text = text if len(text) <= 60 else text[:57] + "..."
    return text.replace("$", r"\$")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
