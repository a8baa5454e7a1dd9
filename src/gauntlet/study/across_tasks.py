"""Comparing models across tasks as Agarwal et al. (2021, "Deep RL at the edge of the
statistical precipice", the rliable library) do: normalised scores, their interquartile mean,
the probability of improvement and performance profiles, with stratified bootstrap intervals.

A score is normalised per task, ``(score - low) / (high - low)``, with ``low`` and ``high``
declared in the study file (``across_tasks.normalise``: e.g. the majority-class accuracy and
1.0, or ``high`` the mean of a reference selection of runs).

- **IQM**: the mean of the middle 50% of all normalised scores of a model, every task and seed
  pooled (``scipy.stats.trim_mean(..., 0.25)``): robust to one odd task or seed, yet using half
  the runs, where a median uses one.
- **Probability of improvement** P(A > B): per task, the chance that a run of A beats a run of B
  (ties count half; the Mann-Whitney U over ``n_A n_B``), averaged over tasks.
- **Stratified bootstrap**: the intervals resample each model's seeds within each task, never
  across tasks, as rliable's ``StratifiedBootstrap``; here ``scipy.stats.bootstrap`` with one
  sample per (model, task), which it resamples independently, percentile intervals.
- **Performance profile**: per model, the fraction of its runs whose normalised score exceeds
  each threshold tau.

These are written on scipy rather than on the ``rliable`` package: rliable installs beside our
pins, but it takes its scores as one array of runs x tasks per model, so every task must have the
same number of seeds, which a study whose claims decide at different looks (``--until-decided``)
or with a failed run does not have; and it would bring arch, statsmodels, seaborn and absl-py
for three functions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from gauntlet.study.statistics import Comparison, Settings

IQM, PROB_IMPROVEMENT = "iqm", "prob_improvement"
KINDS = (IQM, PROB_IMPROVEMENT)


@dataclass(frozen=True)
class Bounds:
    """A task's normalisation: ``low`` maps to 0 and ``high`` to 1."""

    low: float
    high: float

    def __call__(self, values: Sequence[float]) -> np.ndarray:
        return (np.asarray(values, dtype=float) - self.low) / (self.high - self.low)


def iqm(scores: Sequence[np.ndarray], axis: int = -1) -> Any:
    """The interquartile mean of every score of every task (a sample per task)."""
    return stats.trim_mean(np.concatenate(scores, axis=axis), 0.25, axis=axis)


def prob_improvement(
    left: Sequence[np.ndarray], right: Sequence[np.ndarray], axis: int = -1
) -> Any:
    """P(a run of ``left`` beats a run of ``right``), per task (ties half), averaged over the
    tasks; ``left[i]`` and ``right[i]`` are the same task's scores."""
    per_task = []
    for x, y in zip(left, right, strict=True):
        x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
        wins = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
        ties = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
        per_task.append(wins + 0.5 * ties)
    return np.mean(per_task, axis=0)


def profile(scores: Sequence[np.ndarray], taus: np.ndarray) -> np.ndarray:
    """The fraction of all runs (every task) whose normalised score exceeds each tau."""
    pooled = np.concatenate([np.asarray(s, dtype=float) for s in scores])
    return (pooled[None, :] > taus[:, None]).mean(axis=1)


def compare(
    kind: str,
    left: Sequence[np.ndarray],
    right: Sequence[np.ndarray] | None,
    value: float | None,
    op: str,
    tol: float,
    settings: Settings,
    interval: bool = True,
) -> Comparison:
    """``IQM(left) OP IQM(right)`` (or ``OP value``), or ``P(left > right) OP value`` (default
    0.5), as a :class:`Comparison` for the verdict machinery: ``difference`` is the IQM
    difference, or P minus the value.

    The one-sided p-values are the percentile bootstrap's: the share of stratified bootstrap
    replicates on the wrong side of the claim's bound (plus one, over the resamples plus one),
    the level at which the claim's one-sided interval would just exclude the bound."""
    tasks = len(left)
    if kind == PROB_IMPROVEMENT:
        assert right is not None
        offset = 0.5 if value is None else float(value)
        data = (*left, *right)

        def statistic(*samples: np.ndarray, axis: int = -1) -> Any:
            return prob_improvement(samples[:tasks], samples[tasks:], axis=axis) - offset

    elif right is None:
        offset = float(value or 0.0)
        data = tuple(left)

        def statistic(*samples: np.ndarray, axis: int = -1) -> Any:
            return iqm(samples, axis=axis) - offset

    else:
        data = (*left, *right)

        def statistic(*samples: np.ndarray, axis: int = -1) -> Any:
            return iqm(samples[:tasks], axis=axis) - iqm(samples[tasks:], axis=axis)

    difference = float(statistic(*data))
    sign = 1.0 if op in (">", ">=", "~=") else -1.0
    bound = -sign * tol if op != "~=" else 0.0
    replicates = _replicates(data, statistic, settings)
    p_claim = p_against = math.nan
    ci = None
    notes = []
    if replicates is None:
        notes.append("a bootstrap needs at least 2 seeds of each side in every task")
    else:

        def share(mask: np.ndarray) -> float:
            return float((mask.sum() + 1) / (len(replicates) + 1))

        if op == "~=":  # two one-sided tests, as for a difference of means
            p_claim = max(share(replicates <= -tol), share(replicates >= tol))
            p_against = min(1.0, 2 * min(share(replicates <= tol), share(replicates >= -tol)))
        elif sign > 0:
            p_claim, p_against = share(replicates <= bound), share(replicates >= bound)
        else:
            p_claim, p_against = share(replicates >= bound), share(replicates <= bound)
        if interval:
            ci = _percentile(replicates, settings.level)
    n = {"left": int(sum(len(x) for x in left))}
    if right is not None:
        n["right"] = int(sum(len(y) for y in right))
    return Comparison(
        difference=difference,
        ci=ci,
        p_claim=p_claim,
        p_against=p_against,
        effect=None,
        test=f"stratified bootstrap over {tasks} tasks",
        paired=False,
        n=n,
        spread=None,
        distance=sign * (difference - bound) if op != "~=" else tol - abs(difference),
        notes=notes,
    )


def _replicates(data: tuple[np.ndarray, ...], statistic: Any, settings: Settings) -> Any:
    if any(len(sample) < 2 for sample in data):
        return None
    rng = np.random.default_rng(settings.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            data,
            statistic,
            n_resamples=settings.resamples,
            method="percentile",
            confidence_level=1 - settings.level,
            vectorized=True,
            random_state=rng,
        )
    return np.asarray(result.bootstrap_distribution, dtype=float)


def _percentile(replicates: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(replicates, [level / 2, 1 - level / 2])
    return float(low), float(high)


def by_task(
    rows: Sequence[Mapping[str, Any]],
    metric: str,
    task_key: str,
    normalise: Mapping[str, Bounds],
) -> list[np.ndarray]:
    """The normalised values of ``metric`` over rows, one array per task, in the order of
    ``normalise`` (a task without runs gives an empty array)."""
    from gauntlet.leaderboard.query import lookup
    from gauntlet.study.spec import format_label

    grouped: dict[str, list[float]] = {task: [] for task in normalise}
    for row in rows:
        task = format_label(lookup(row, task_key))
        value = (row.get("metrics") or {}).get(metric)
        if task in grouped and isinstance(value, (int, float)) and math.isfinite(value):
            grouped[task].append(float(value))
    return [normalise[task](values) for task, values in grouped.items()]


def resolve(spec: Any, rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, Bounds]:
    """Each task's :class:`Bounds`; a ``high`` given as a selection is the mean of ``metric``
    over the runs it picks in that task (NaN without such runs)."""
    from gauntlet.leaderboard.query import lookup
    from gauntlet.study.claims import matches
    from gauntlet.study.spec import format_label

    out = {}
    for task, (low, high) in spec.normalise.items():
        if isinstance(high, Mapping):
            values = [
                float(row["metrics"][metric])
                for row in rows
                if format_label(lookup(row, spec.task)) == task
                and matches(row, high["where"])
                and isinstance((row.get("metrics") or {}).get(metric), (int, float))
            ]
            high = float(np.mean(values)) if values else math.nan
        out[task] = Bounds(low, float(high))
    return out


def summary(
    spec: Any, rows: Sequence[Mapping[str, Any]], settings: Settings
) -> list[dict[str, Any]]:
    """Per model of ``spec.models``: its IQM of normalised scores with a stratified bootstrap
    interval, and its runs per task."""
    from gauntlet.study.claims import matches

    bounds = resolve(spec, rows, spec.metric)
    out = []
    for name, where in spec.models.items():
        scores = by_task([r for r in rows if matches(r, where)], spec.metric, spec.task, bounds)
        entry: dict[str, Any] = {
            "model": name,
            "runs": {task: len(s) for task, s in zip(bounds, scores, strict=True)},
            "iqm": float(iqm(scores)) if all(len(s) for s in scores) else None,
            "ci": None,
        }
        if entry["iqm"] is not None:
            replicates = _replicates(tuple(scores), iqm_statistic, settings)
            if replicates is not None:
                entry["ci"] = list(_percentile(replicates, settings.level))
        out.append(entry)
    return out


def iqm_statistic(*samples: np.ndarray, axis: int = -1) -> Any:
    return iqm(samples, axis=axis)


def draw_profiles(spec: Any, rows: Sequence[Mapping[str, Any]], path: Any, title: str = "") -> bool:
    """The performance profile of each model of ``spec.models`` as a PNG; False when no model
    has runs."""
    from matplotlib.figure import Figure

    from gauntlet.study.claims import matches

    bounds = resolve(spec, rows, spec.metric)
    curves = []
    for name, where in spec.models.items():
        scores = by_task([r for r in rows if matches(r, where)], spec.metric, spec.task, bounds)
        if sum(len(s) for s in scores):
            curves.append((name, scores))
    if not curves:
        return False
    pooled = np.concatenate([np.concatenate(s) for _, s in curves])
    low = min(0.0, float(np.nanmin(pooled)))
    high = max(1.0, float(np.nanmax(pooled)))
    taus = np.linspace(low, high, 201)
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    for name, scores in curves:
        axes.plot(taus, profile(scores, taus), label=f"{name} (n={sum(len(s) for s in scores)})")
    axes.set_xlabel(f"normalised {spec.metric} (tau)")
    axes.set_ylabel("fraction of runs with score > tau")
    axes.set_title(title or f"performance profiles across {', '.join(bounds)}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return True
