"""Where the variance comes from: each source's share of a metric's variance over seeds.

A study with ``vary:`` runs one level of its ``vary`` axis per group of sources: in a level only
those sources follow the run's seed and the others are held (see :mod:`gauntlet.seeding`). The
variance of a metric across the seeds of a level is then the variance that group alone causes,
and its share is that variance over the sum across the levels (Bouthillier et al. 2021 compare
the sources this way). Intervals are percentile bootstraps (``scipy.stats.bootstrap``): a
level's variance resamples its runs; a share resamples every level's runs independently, as its
denominator reads them all.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from gauntlet.study.spec import VARY, Study, format_label
from gauntlet.study.statistics import Settings


def shares(values: Mapping[str, Sequence[float]], settings: Settings) -> list[dict[str, Any]]:
    """Per level (source group): its runs, variance with an interval, and share of the summed
    variance with an interval. A level with fewer than 2 runs has no variance."""
    samples = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    kept = {k: v for k, v in samples.items() if len(v) >= 2}
    variances = {k: float(np.var(v, ddof=1)) for k, v in kept.items()}
    total = sum(variances.values())
    names = list(kept)
    out = []
    for name, sample in samples.items():
        entry: dict[str, Any] = {"source": name, "n": len(sample)}
        if name not in kept:
            out.append({**entry, "variance": None, "ci": None, "share": None, "share_ci": None})
            continue
        entry["variance"] = variances[name]
        entry["ci"] = _interval((sample,), _variance, settings)
        entry["share"] = variances[name] / total if total > 0 else None
        if total > 0:
            index = names.index(name)

            def share(*groups: np.ndarray, axis: int = -1, index: int = index) -> Any:
                parts = [np.var(g, ddof=1, axis=axis) for g in groups]
                return parts[index] / np.sum(parts, axis=0)

            entry["share_ci"] = _interval(tuple(kept.values()), share, settings)
        else:
            entry["share_ci"] = None
        out.append(entry)
    return out


def _variance(sample: np.ndarray, axis: int = -1) -> Any:
    return np.var(sample, ddof=1, axis=axis)


def _interval(data: tuple[np.ndarray, ...], statistic: Any, settings: Settings) -> Any:
    if all(float(np.ptp(d)) == 0 for d in data):
        value = float(statistic(*data)) if math.isfinite(float(statistic(*data))) else 0.0
        return [value, value]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            data,
            statistic,
            n_resamples=settings.resamples,
            method="percentile",
            confidence_level=1 - settings.level,
            vectorized=True,
            random_state=np.random.default_rng(settings.seed),
        )
    # a resample whose levels all came out without spread has no share: left out
    replicates = np.asarray(result.bootstrap_distribution, dtype=float)
    replicates = replicates[np.isfinite(replicates)]
    if not replicates.size:
        return None
    low, high = np.quantile(replicates, [settings.level / 2, 1 - settings.level / 2])
    return [float(low), float(high)]


def split(study: Study, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each cell of the other axes and each of the study's metrics, the share of each
    source group (the ``vary`` axis' levels)."""
    axis = study.axis(VARY)
    if axis is None:
        return []
    others = [a for a in study.axes if a.name != VARY]
    out = []
    for labels in itertools.product(*(a.labels() for a in others)):
        fixed = dict(zip((a.name for a in others), labels, strict=True))
        for metric in study.metrics:
            values: dict[str, list[float]] = {str(level): [] for level in axis.labels()}
            for row in rows:
                if any(row.get(k) != v for k, v in fixed.items()):
                    continue
                value = (row.get("metrics") or {}).get(metric)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    values[str(row.get(VARY))].append(float(value))
            if not any(values.values()):
                continue
            out.append(
                {
                    "cell": {k: format_label(v) for k, v in fixed.items()},
                    "metric": metric,
                    "sources": shares(values, study.statistics),
                }
            )
    return out
