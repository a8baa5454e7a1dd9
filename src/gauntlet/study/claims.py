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

Each comparison is a test over seeds (see :mod:`gauntlet.study.statistics`): its difference, a
bootstrap interval, a one-sided p-value Holm-corrected across the study's claims and an effect
size. The verdict is PASS (the claim holds beyond the study's level), FAIL (its opposite does,
or the interval lies wholly on the wrong side of a constant) or INCONCLUSIVE (the seeds cannot
tell; the result says about how many seeds would). A trend checks each step between neighbouring
points as a comparison (``>=``/``<=`` with ``tol``) and its last point against its first (``>``/
``<``): it PASSes when the overall move does and no step is significantly against it by more
than ``tol``, and FAILs when a step or the overall move goes significantly the wrong way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gauntlet.leaderboard.aggregate import summarise
from gauntlet.leaderboard.query import lookup, same_value
from gauntlet.leaderboard.report import format_metric
from gauntlet.study import statistics
from gauntlet.study.spec import ClaimSpec, Study, fill, format_label
from gauntlet.study.statistics import FAIL, INCONCLUSIVE, NO_DATA, PASS, Comparison, Settings

__all__ = ["FAIL", "INCONCLUSIVE", "NO_DATA", "PASS", "ClaimResult", "evaluate", "stats"]


@dataclass
class ClaimResult:
    name: str
    verdict: str
    statement: str  # what was checked, in words
    numbers: str  # the values behind the verdict
    details: dict[str, Any] = field(default_factory=dict)
    advice: str = ""  # for INCONCLUSIVE: about how many seeds would resolve it

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def failed(self) -> bool:
        """FAIL or NO DATA: what fails a study whatever ``--strict`` says."""
        return self.verdict in (FAIL, NO_DATA)


@dataclass
class _Draft:
    """A claim checked but not yet judged: its p-values wait for Holm's correction across the
    study."""

    name: str
    statement: str
    sides: str  # the means behind it, in words
    details: dict[str, Any]
    main: Comparison | None  # None: NO DATA
    p_claim: float = math.nan
    p_against: float = math.nan
    wrong_side: Callable[[tuple[float, float]], bool] | None = None
    steps: list[tuple[Any, Any, Comparison]] = field(default_factory=list)
    cells: set[str] = field(default_factory=set)  # the grid cells whose runs it read


def matches(row: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    return all(same_value(wanted, lookup(row, key)) for key, wanted in where.items())


def stats(rows: Iterable[Mapping[str, Any]], metric: str, where: Mapping[str, Any]) -> dict:
    """:func:`summarise` of ``metric`` over the rows ``where`` selects (finite values only)."""
    return summarise(list(_sample(rows, metric, where).values))


def _sample(
    rows: Iterable[Mapping[str, Any]], metric: str, where: Mapping[str, Any]
) -> statistics.Sample:
    return statistics.sample([row for row in rows if matches(row, where)], metric)


def evaluate(
    study: Study, rows: Sequence[Mapping[str, Any]], settings: Settings | None = None
) -> list[ClaimResult]:
    """Every claim of the study (``for_each`` expanded) on labelled rows, in file order, with
    p-values Holm-corrected across all of them."""
    settings = settings or study.statistics
    drafts = check(study, rows, settings)
    adjusted_claim = statistics.holm([d.p_claim for d in drafts])
    adjusted_against = statistics.holm([d.p_against for d in drafts])
    family = sum(not math.isnan(d.p_claim) for d in drafts)
    return [
        _judge(draft, p, q, settings, family)
        for draft, p, q in zip(drafts, adjusted_claim, adjusted_against, strict=True)
    ]


def check(
    study: Study,
    rows: Sequence[Mapping[str, Any]],
    settings: Settings | None = None,
    interval: bool = True,
) -> list[_Draft]:
    """Every claim of the study (``for_each`` expanded) checked on labelled rows, in file
    order, with raw p-values, before any correction across claims."""
    settings = settings or study.statistics
    drafts = []
    for claim in study.claims:
        axes = [study.axis(name) for name in claim.for_each]
        for labels in itertools.product(*(axis.labels() for axis in axes if axis)):
            fixed = dict(zip(claim.for_each, labels, strict=True))
            suffix = ", ".join(f"{k}={format_label(v)}" for k, v in fixed.items())
            name = f"{claim.name} [{suffix}]" if suffix else claim.name
            one = _across if claim.kind else _trend if claim.trend else _compare
            drafts.append(
                one(study, claim, name, {**claim.where, **fixed}, rows, settings, interval)
            )
    return drafts


def judge_draft(
    draft: _Draft, verdict: str, numbers: str, details: Mapping[str, Any]
) -> ClaimResult:
    """A claim's result with a verdict reached elsewhere (a sequential look)."""
    main = draft.main
    sides = draft.sides if main is None else f"{draft.sides}; {numbers}"
    return ClaimResult(draft.name, verdict, draft.statement, sides, {**draft.details, **details})


def _cells(rows: Iterable[Mapping[str, Any]], where: Mapping[str, Any]) -> set[str]:
    return {str(row.get("cell", "")) for row in rows if matches(row, where)}


def _judge(draft: _Draft, p: float, q: float, settings: Settings, family: int) -> ClaimResult:
    if draft.main is None:
        return ClaimResult(draft.name, NO_DATA, draft.statement, draft.sides, draft.details)
    main = draft.main
    if draft.steps:  # a trend: a step that goes significantly the wrong way fails it first
        verdict = FAIL if q <= settings.level else statistics.verdict(p, 1.0, settings.level)
    else:
        verdict = statistics.verdict(p, q, settings.level, main.ci, draft.wrong_side)
    details = {**draft.details, **statistics.details(main, p, q, settings.level)}
    numbers = f"{draft.sides}; {statistics.describe(main, p, settings.level)}"
    advice = ""
    if verdict == INCONCLUSIVE:
        advice = _advice(main, settings, family)
        details["seeds_needed"] = advice
    return ClaimResult(draft.name, verdict, draft.statement, numbers, details, advice)


def _advice(comparison: Comparison, settings: Settings, family: int) -> str:
    if not comparison.testable:
        return "; ".join(comparison.notes) or "too few seeds for a test"
    if comparison.test.startswith("stratified bootstrap"):
        return "more seeds per task would narrow the bootstrap interval"
    estimate = statistics.seeds_needed(comparison, settings, family)
    if estimate is None:
        return "the runs show no difference from the claim's bound; more seeds will not tell"
    n, way = estimate
    side = " per side" if "right" in comparison.n else ""
    towards = "hold" if way == PASS else "fail"
    if n is None:
        return (
            f"more than {statistics._MAX_SEEDS_SEARCHED} seeds{side} would be needed "
            f"(the effect is tiny against the spread); it leans towards {towards}"
        )
    return (
        f"about {n} seeds{side} would resolve it (towards {towards}) at the observed effect "
        f"and spread, at level {settings.level:g}/{family} and power {settings.power:g}"
    )


def _compare(
    study: Study,
    claim: ClaimSpec,
    name: str,
    where: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
    settings: Settings,
    interval: bool = True,
) -> _Draft:
    assert claim.op is not None and claim.than is not None
    left_sample = _sample(rows, claim.metric, where)
    left = summarise(list(left_sample.values))
    left_text = f"{claim.metric}{_selection(where)}"
    right_sample: statistics.Sample | float
    cells = _cells(rows, where)
    if claim.than.value is not None:
        right = None
        right_sample = claim.than.value
        right_text = format_metric(claim.than.value)
    else:
        right_where = {**where, **claim.than.where}
        cells |= _cells(rows, right_where)
        right_sample = _sample(rows, claim.than.metric or claim.metric, right_where)
        right = summarise(list(right_sample.values))
        right_text = f"{claim.than.metric}{_selection(right_where)}"
    tol = f" (tol {claim.tol:g})" if claim.tol else ""
    statement = f"{left_text} {claim.op} {right_text}{tol}"
    details = {
        "left": left,
        "right": right if right is not None else claim.than.value,
        "op": claim.op,
        "tol": claim.tol,
    }
    if left["mean"] is None or (right is not None and right["mean"] is None):
        return _Draft(name, statement, _no_data(left, right), details, None, cells=cells)
    sides = f"{_stat(left)} {claim.op} {_stat(right) if right else format_metric(right_sample)}"
    comparison = statistics.compare(
        left_sample, right_sample, claim.op, claim.tol, settings, interval
    )
    wrong_side = _wrong_side(claim.op, claim.tol) if right is None else None
    return _Draft(
        name,
        statement,
        sides,
        details,
        comparison,
        comparison.p_claim,
        comparison.p_against,
        wrong_side,
        cells=cells,
    )


def _across(
    study: Study,
    claim: ClaimSpec,
    name: str,
    where: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
    settings: Settings,
    interval: bool = True,
) -> _Draft:
    """An ``iqm`` or ``prob_improvement`` claim: normalised scores per task, compared with
    stratified bootstrap intervals (:mod:`gauntlet.study.across_tasks`)."""
    from gauntlet.study import across_tasks

    spec = study.across_tasks
    assert spec is not None and claim.op is not None and claim.than is not None
    bounds = across_tasks.resolve(spec, rows, claim.metric)
    left_rows = [row for row in rows if matches(row, where)]
    left = across_tasks.by_task(left_rows, claim.metric, spec.task, bounds)
    cells = _cells(rows, where)
    right = None
    right_text = format_metric(claim.than.value) if claim.than.value is not None else ""
    if claim.than.where:
        right_where = {**where, **claim.than.where}
        right_rows = [row for row in rows if matches(row, right_where)]
        right = across_tasks.by_task(right_rows, claim.metric, spec.task, bounds)
        cells |= _cells(rows, right_where)
        right_text = f"{_selection(right_where)}"
    tasks = ", ".join(bounds)
    if claim.kind == across_tasks.PROB_IMPROVEMENT:
        value = claim.than.value if claim.than.value is not None else 0.5
        statement = (
            f"P({claim.metric}{_selection(where)} > {claim.metric}{right_text}) {claim.op} "
            f"{value:g} across tasks {tasks}"
        )
    else:
        statement = (
            f"IQM of normalised {claim.metric}{_selection(where)} {claim.op} "
            + (f"that of {right_text}" if right is not None else right_text)
            + f" across tasks {tasks}"
        )
    if claim.tol:
        statement += f" (tol {claim.tol:g})"
    counts = {
        "left": {task: len(x) for task, x in zip(bounds, left, strict=True)},
        "right": {task: len(y) for task, y in zip(bounds, right, strict=True)} if right else None,
    }
    details: dict[str, Any] = {
        "kind": claim.kind,
        "tasks": {task: {"low": b.low, "high": b.high} for task, b in bounds.items()},
        "runs_per_task": counts,
        "op": claim.op,
        "tol": claim.tol,
    }
    missing = [t for t, x in zip(bounds, left, strict=True) if not len(x)]
    if right is not None:
        missing += [t for t, y in zip(bounds, right, strict=True) if not len(y)]
    if missing:
        sides = f"no runs in task(s) {', '.join(sorted(set(missing)))}"
        return _Draft(name, statement, sides, details, None, cells=cells)
    comparison = across_tasks.compare(
        claim.kind,
        left,
        right,
        claim.than.value,
        claim.op,
        claim.tol,
        settings,
        interval,
    )
    if claim.kind == across_tasks.PROB_IMPROVEMENT:
        value = claim.than.value if claim.than.value is not None else 0.5
        sides = f"P = {comparison.difference + value:.3f}"
    else:
        left_iqm = float(across_tasks.iqm(left))
        sides = f"IQM {left_iqm:.3f}"
        if right is not None:
            sides += f" vs {float(across_tasks.iqm(right)):.3f}"
    sides += f" (n={comparison.n['left']}" + (
        f", {comparison.n['right']})" if "right" in comparison.n else ")"
    )
    return _Draft(
        name,
        statement,
        sides,
        details,
        comparison,
        comparison.p_claim,
        comparison.p_against,
        cells=cells,
    )


def _wrong_side(op: str, tol: float) -> Callable[[tuple[float, float]], bool]:
    """Whether an interval of ``mean - value`` lies wholly where ``mean OP value`` is false."""

    def outside(ci: tuple[float, float]) -> bool:
        low, high = ci
        return {
            ">": high <= 0,
            ">=": high < -tol,
            "<": low >= 0,
            "<=": low > tol,
            "~=": low > tol or high < -tol,
        }[op]

    return outside


def _trend(
    study: Study,
    claim: ClaimSpec,
    name: str,
    where: dict[str, Any],
    rows: Sequence[Mapping[str, Any]],
    settings: Settings,
    interval: bool = True,
) -> _Draft:
    along = claim.along
    assert along is not None and claim.trend is not None
    points = along.values if not along.is_axis else tuple(study.axis(along.name).labels())
    series = []
    cells: set[str] = set()
    for point in points:
        if along.is_axis:
            metric, selection = claim.metric, {**where, along.name: point}
        else:
            metric, selection = fill(claim.metric, {along.name: point}), where
        series.append((point, _sample(rows, metric, selection)))
        cells |= _cells(rows, selection)
    statement = (
        f"{claim.metric}{_selection(where)} {claim.trend} along {along.name} "
        f"({', '.join(format_label(p) for p, _ in series)})"
    )
    if claim.tol:
        statement += f" (tol {claim.tol:g})"
    summaries = [(point, summarise(list(s.values))) for point, s in series]
    sides = " → ".join(
        f"{format_label(point)}: {_stat(s)}" if s["n"] else f"{format_label(point)}: —"
        for point, s in summaries
    )
    details: dict[str, Any] = {
        "along": along.name,
        "points": [{"at": p, **s} for p, s in summaries],
    }
    if any(not s["n"] for _, s in summaries) or len(series) < 2:
        return _Draft(name, statement, sides, details, None, cells=cells)
    step_op, overall_op = (">=", ">") if claim.trend == "increasing" else ("<=", "<")
    steps = [
        (p, q, statistics.compare(b, a, step_op, claim.tol, settings, interval))
        for (p, a), (q, b) in itertools.pairwise(series)
    ]
    overall = statistics.compare(series[-1][1], series[0][1], overall_op, 0.0, settings, interval)
    # a step against the trend by more than tol fails the claim (Bonferroni over the steps)
    worst_step = min(step.p_against for _, _, step in steps)
    p_against = min(1.0, overall.p_against, len(steps) * worst_step)
    details["steps"] = [
        {
            "from": p,
            "to": q,
            **statistics.details(step, step.p_claim, step.p_against, settings.level),
        }
        for p, q, step in steps
    ]
    return _Draft(
        name,
        statement,
        sides,
        details,
        overall,
        overall.p_claim,
        p_against,
        steps=steps,
        cells=cells,
    )


def _selection(where: Mapping[str, Any]) -> str:
    if not where:
        return ""
    return "[" + ", ".join(f"{k}={format_label(v)}" for k, v in where.items()) + "]"


def _stat(s: Mapping[str, Any]) -> str:
    if s["n"] == 1:
        return f"{format_metric(s['mean'])} (n=1)"
    return f"{format_metric(s['mean'])} ± {format_metric(s['std'])} (n={s['n']})"


def _no_data(left: Mapping[str, Any], right: Mapping[str, Any] | None) -> str:
    sides = [("left", left)] + ([("right", right)] if right is not None else [])
    return "; ".join(
        f"{side}: no run recorded it" if not s["n"] else f"{side}: {_stat(s)}" for side, s in sides
    )
