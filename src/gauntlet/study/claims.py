"""Claims: statements about a study's results, checked on the runs' recorded metrics.

No Python is evaluated; a claim is one of two shapes, read from the study file.

A comparison: the mean of ``metric`` over the runs that ``where`` selects, against a constant
(``value``) or the mean of a metric over other runs (``than``, whose ``where`` is merged over the
claim's own and whose ``metric`` defaults to the claim's)::

    - name: augmentation helps at 10% of the data
      metric: test/acc
      where: {augment: strong, data.fraction: 0.1}
      op: ">"                 # >  >=  <  <=  ~=   (>=, <= and ~= allow a tolerance: tol)
      than: {where: {augment: none}}
    - {name: CNN matches the paper, metric: test/acc, where: {arch: cnn}, op: ">=", value: 0.94}

A trend: the mean of ``metric`` at each point ``along`` a grid axis, or along a variable of the
metric's name, moves one way (each step at most ``tol`` against it, and the last point beyond
the first)::

    - name: accuracy falls as eps grows
      metric: robust/acc@eps={eps}
      along: {eps: [0, 0.05, 0.1, 0.2]}
      trend: decreasing

``for_each: AXIS`` (or a list of axes) checks the claim once per level of each axis. ``where``
keys are the study's axes (their levels as the study file names them) or any key of a run
(``data``, ``model.net.cell``). A claim whose runs recorded no value is NO DATA, which fails.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gauntlet.leaderboard.aggregate import summarise
from gauntlet.leaderboard.query import lookup, same_value
from gauntlet.leaderboard.report import format_metric
from gauntlet.study.spec import ClaimSpec, Study, fill, format_label

PASS, FAIL, NO_DATA = "PASS", "FAIL", "NO DATA"


@dataclass
class ClaimResult:
    name: str
    verdict: str
    statement: str  # what was checked, in words
    numbers: str  # the values behind the verdict
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == PASS


def matches(row: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    return all(same_value(wanted, lookup(row, key)) for key, wanted in where.items())


def stats(rows: Iterable[Mapping[str, Any]], metric: str, where: Mapping[str, Any]) -> dict:
    """:func:`summarise` of ``metric`` over the rows ``where`` selects (finite values only)."""
    values = []
    for row in rows:
        if matches(row, where):
            value = (row.get("metrics") or {}).get(metric)
            if _finite(value):
                values.append(float(value))
    return summarise(values)


def evaluate(study: Study, rows: Sequence[Mapping[str, Any]]) -> list[ClaimResult]:
    """Every claim of the study (``for_each`` expanded) on labelled rows, in file order."""
    results = []
    for claim in study.claims:
        axes = [study.axis(name) for name in claim.for_each]
        for labels in itertools.product(*(axis.labels() for axis in axes if axis)):
            fixed = dict(zip(claim.for_each, labels, strict=True))
            suffix = ", ".join(f"{k}={format_label(v)}" for k, v in fixed.items())
            name = f"{claim.name} [{suffix}]" if suffix else claim.name
            check = _trend if claim.trend else _compare
            results.append(check(study, claim, name, {**claim.where, **fixed}, rows))
    return results


def _compare(
    study: Study,
    claim: ClaimSpec,
    name: str,
    where: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
) -> ClaimResult:
    assert claim.op is not None and claim.than is not None
    left = stats(rows, claim.metric, where)
    left_text = f"{claim.metric}{_selection(where)}"
    if claim.than.value is not None:
        right = None
        b = claim.than.value
        right_text = format_metric(b)
    else:
        right_where = {**where, **claim.than.where}
        right = stats(rows, claim.than.metric or claim.metric, right_where)
        b = right["mean"]
        right_text = f"{claim.than.metric}{_selection(right_where)}"
    tol = f" (tol {claim.tol:g})" if claim.tol else ""
    statement = f"{left_text} {claim.op} {right_text}{tol}"
    details = {"left": left, "right": right if right is not None else b, "op": claim.op}
    if left["mean"] is None or b is None:
        return ClaimResult(name, NO_DATA, statement, _no_data(left, right), details)
    a = left["mean"]
    passed = {
        ">": a > b,
        ">=": a >= b - claim.tol,
        "<": a < b,
        "<=": a <= b + claim.tol,
        "~=": abs(a - b) <= claim.tol,
    }[claim.op]
    numbers = f"{_stat(left)} {claim.op} {_stat(right) if right else format_metric(b)}"
    numbers += f" (difference {a - b:+.4f})"
    return ClaimResult(name, PASS if passed else FAIL, statement, numbers, details)


def _trend(
    study: Study,
    claim: ClaimSpec,
    name: str,
    where: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
) -> ClaimResult:
    along = claim.along
    assert along is not None and claim.trend is not None
    points = along.values if not along.is_axis else tuple(study.axis(along.name).labels())
    series = []
    for point in points:
        if along.is_axis:
            metric, selection = claim.metric, {**where, along.name: point}
        else:
            metric, selection = fill(claim.metric, {along.name: point}), where
        series.append((point, stats(rows, metric, selection)))
    statement = (
        f"{claim.metric}{_selection(where)} {claim.trend} along {along.name} "
        f"({', '.join(format_label(p) for p, _ in series)})"
    )
    if claim.tol:
        statement += f" (tol {claim.tol:g})"
    numbers = " → ".join(
        f"{format_label(point)}: {_stat(s)}" if s["n"] else f"{format_label(point)}: —"
        for point, s in series
    )
    details = {"along": along.name, "points": [{"at": p, **s} for p, s in series]}
    means = [s["mean"] for _, s in series]
    if any(mean is None for mean in means):
        return ClaimResult(name, NO_DATA, statement, numbers, details)
    sign = -1.0 if claim.trend == "decreasing" else 1.0
    steps_ok = all(sign * (b - a) >= -claim.tol for a, b in itertools.pairwise(means))
    moved = sign * (means[-1] - means[0]) > 0
    return ClaimResult(name, PASS if steps_ok and moved else FAIL, statement, numbers, details)


def _selection(where: Mapping[str, Any]) -> str:
    if not where:
        return ""
    return "[" + ", ".join(f"{k}={format_label(v)}" for k, v in where.items()) + "]"


def _stat(s: Mapping[str, Any]) -> str:
    return f"{format_metric(s['mean'])} ± {format_metric(s['std'])} (n={s['n']})"


def _no_data(left: Mapping[str, Any], right: Mapping[str, Any] | None) -> str:
    sides = [("left", left)] + ([("right", right)] if right is not None else [])
    return "; ".join(
        f"{side}: no run recorded it" if not s["n"] else f"{side}: {_stat(s)}" for side, s in sides
    )


def _finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
