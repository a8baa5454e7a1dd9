"""How sure a claim is: bootstrap intervals, tests over seeds, Holm's correction, seeds needed.

A comparison claim is a statement about ``difference = mean(left) - mean(right)`` (or
``mean(left) - value`` against a constant): ``>`` says it is above 0, ``>=`` with ``tol`` above
``-tol``, ``<`` and ``<=`` the mirror images, ``~=`` that it lies within ``±tol``. For each
claim :func:`compare` gives

- the difference and a bootstrap confidence interval of it (``scipy.stats.bootstrap``): over the
  per-seed differences when both sides ran the same seeds once each (paired), otherwise over
  each side's seeds independently;
- a one-sided p-value for the claim and one for its opposite: a permutation test
  (``scipy.stats.permutation_test``: sign flips when paired, relabelling otherwise) when the
  seeds allow enough distinct arrangements for its p-value to reach well below the level, and
  otherwise Student's paired t or Welch's t (``scipy.stats.ttest_1samp`` / ``ttest_ind``);
- an effect size: Cohen's d (d_z for paired differences), the difference over the spread.

:func:`holm` adjusts a study's p-values for the number of claims, and :func:`verdict` turns the
adjusted p-values into PASS (the claim holds beyond the level), FAIL (its opposite does, or the
interval lies wholly on the wrong side of a constant) or INCONCLUSIVE. :func:`seeds_needed`
says roughly how many seeds per side would resolve an INCONCLUSIVE claim at the observed effect
and spread (the power of a one-sided t test, from the noncentral t distribution).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from gauntlet.study.reader import option

PASS, FAIL, INCONCLUSIVE, NO_DATA = "PASS", "FAIL", "INCONCLUSIVE", "NO DATA"

# a permutation test is used when its smallest possible p-value is at most level / this
_PERMUTATION_RESOLUTION = 10
_MAX_SEEDS_SEARCHED = 10_000


@dataclass(frozen=True)
class Settings:
    """A study's ``statistics:`` block (its keys, read by :mod:`gauntlet.study.reader`)."""

    # significance level (after Holm); the interval is (1 - level)
    level: float = option(0.05, accepts="a number in (0, 0.5)", ok=lambda v: 0 < v < 0.5)
    # bootstrap and random-permutation resamples
    resamples: int = option(9999, accepts="a whole number >= 100", ok=lambda v: v >= 100)
    # the resampling's random seed, so a report is reproducible
    seed: int = option(0, accepts="a whole number >= 0", ok=lambda v: v >= 0)
    # for the seeds-needed estimate
    power: float = option(0.8, accepts="a number in (0, 1)", ok=lambda v: 0 < v < 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "resamples": self.resamples,
            "seed": self.seed,
            "power": self.power,
            "correction": "holm",
        }


@dataclass(frozen=True)
class Sample:
    """One side of a comparison: a value per run, with the run's seed (None when unknown)."""

    values: tuple[float, ...]
    seeds: tuple[Any, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    def by_seed(self) -> dict[Any, float] | None:
        """``{seed: value}`` when every run has a seed and no seed repeats, else None."""
        if any(seed is None for seed in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            return None
        return dict(zip(self.seeds, self.values, strict=True))


@dataclass
class Comparison:
    """The statistics of one comparison (see the module docstring)."""

    difference: float
    ci: tuple[float, float] | None
    p_claim: float  # one-sided, raw: evidence for the claim
    p_against: float  # one-sided, raw: evidence for its opposite
    effect: float | None  # Cohen's d (d_z when paired); None without spread
    test: str
    paired: bool
    n: dict[str, int]
    spread: float | None  # the standard deviation the effect divides by
    distance: float  # how far the difference is beyond the claim's bound, signed for the claim
    notes: list[str] = field(default_factory=list)

    @property
    def testable(self) -> bool:
        return not math.isnan(self.p_claim)


def compare(
    left: Sample,
    right: Sample | float,
    op: str,
    tol: float,
    settings: Settings,
    interval: bool = True,
) -> Comparison:
    """The statistics of ``left OP right`` (``right`` a sample or a constant); ``interval``
    false leaves out the bootstrap interval (a sequential look needs only the p-values)."""
    inclusive = op in (">=", "<=", "~=")  # decides runs without spread that sit on the bound
    rng = np.random.default_rng(settings.seed)
    a = np.asarray(left.values, dtype=float)
    if isinstance(right, Sample):
        b = np.asarray(right.values, dtype=float)
        pairs = _pairs(left, right)
        n = {"left": left.n, "right": right.n}
    else:
        b = None
        pairs = None
        n = {"left": left.n}
    if pairs is not None:
        diffs = pairs[0] - pairs[1]
        difference = float(diffs.mean())
    elif b is not None:
        difference = float(a.mean() - b.mean())
    else:
        diffs = a - float(right)
        difference = float(diffs.mean())
    one_sample = pairs is not None or b is None

    if op == "~=":
        # two one-sided tests: the difference is above -tol and below +tol
        test = _Tester(a, b, pairs, right, rng, settings)
        above = test(-tol, inclusive=True)
        below = test(tol, less=True, inclusive=True)
        out_high = test(tol)
        out_low = test(-tol, less=True)
        p_claim = max(above[0], below[0])
        p_against = min(1.0, 2 * min(out_high[0], out_low[0]))
        test = above[1]
        distance = tol - abs(difference)
    else:
        sign = 1.0 if op in (">", ">=") else -1.0
        bound = -sign * tol  # the claim: difference > bound (for > and >=), < bound otherwise
        test = _Tester(a, b, pairs, right, rng, settings)
        claim = test(bound, less=sign < 0, inclusive=inclusive)
        against = test(bound, less=sign > 0)
        p_claim, test = claim
        p_against = against[0]
        distance = sign * (difference - bound)

    spread = _spread(a, b, diffs if one_sample else None)
    effect = difference / spread if spread else None
    result = Comparison(
        difference=difference,
        ci=_interval(a, b, diffs if one_sample else None, settings, rng) if interval else None,
        p_claim=p_claim,
        p_against=p_against,
        effect=effect,
        test=test,
        paired=pairs is not None,
        n=n,
        spread=spread,
        distance=distance,
    )
    if not result.testable:
        result.notes.append(_why_untestable(left, right))
    return result


def _pairs(left: Sample, right: Sample) -> tuple[np.ndarray, np.ndarray] | None:
    """The two sides' values matched by seed, when both ran the same seeds once each."""
    a, b = left.by_seed(), right.by_seed()
    if a is None or b is None or set(a) != set(b) or len(a) < 2:
        return None
    seeds = sorted(a, key=str)
    return np.array([a[s] for s in seeds]), np.array([b[s] for s in seeds])


@dataclass
class _Tester:
    a: np.ndarray
    b: np.ndarray | None
    pairs: tuple[np.ndarray, np.ndarray] | None
    constant: Any
    rng: np.random.Generator
    settings: Settings

    def __call__(
        self, bound: float, less: bool = False, inclusive: bool = False
    ) -> tuple[float, str]:
        return _p_beyond(
            self.a,
            self.b,
            self.pairs,
            self.constant,
            bound,
            self.rng,
            self.settings,
            less,
            inclusive,
        )


def _p_beyond(
    a: np.ndarray,
    b: np.ndarray | None,
    pairs: tuple[np.ndarray, np.ndarray] | None,
    constant: Any,
    bound: float,
    rng: np.random.Generator,
    settings: Settings,
    less: bool,
    inclusive: bool,
) -> tuple[float, str]:
    """One-sided p-value that the difference is above ``bound`` (below it with ``less``), and
    the name of the test that gave it; NaN when the seeds cannot be tested. Runs without any
    spread are decided exactly (on the bound counts for the claim when ``inclusive``)."""

    def beyond(gap: float) -> bool:
        if inclusive and abs(gap) <= 1e-12:
            return True
        return gap < 0 if less else gap > 0

    alternative = "less" if less else "greater"
    if pairs is not None or b is None:
        d = (pairs[0] - pairs[1] if pairs is not None else a - float(constant)) - bound
        kind = "paired" if pairs is not None else "one-sample"
        if len(d) < 2:
            return math.nan, "none"
        if _no_spread(d):
            return (0.0 if beyond(float(d.mean())) else 1.0), f"{kind}, no spread (exact)"
        if 2 ** len(d) * settings.level >= _PERMUTATION_RESOLUTION:
            result = stats.permutation_test(
                (d,),
                np.mean,
                permutation_type="samples",
                alternative=alternative,
                n_resamples=settings.resamples,
                random_state=rng,
                vectorized=True,
            )
            return float(result.pvalue), f"{kind} permutation (sign flips)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.ttest_1samp(d, 0.0, alternative=alternative)
        return float(result.pvalue), f"{kind} t"
    shifted = b + bound
    if len(a) < 2 or len(b) < 2:
        return math.nan, "none"
    if _no_spread(a) and _no_spread(shifted):
        gap = float(a.mean() - shifted.mean())
        return (0.0 if beyond(gap) else 1.0), "no spread (exact)"
    if math.comb(len(a) + len(b), len(a)) * settings.level >= _PERMUTATION_RESOLUTION:
        result = stats.permutation_test(
            (a, shifted),
            _mean_difference,
            permutation_type="independent",
            alternative=alternative,
            n_resamples=settings.resamples,
            random_state=rng,
            vectorized=True,
        )
        return float(result.pvalue), "permutation"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, shifted, equal_var=False, alternative=alternative)
    return float(result.pvalue), "Welch t"


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _no_spread(values: np.ndarray) -> bool:
    return float(np.ptp(values)) <= 1e-12 * max(1.0, float(np.abs(values).max()))


def _spread(a: np.ndarray, b: np.ndarray | None, diffs: np.ndarray | None) -> float | None:
    """The standard deviation behind the effect size: of the differences (paired or against a
    constant), or pooled over both sides."""
    if diffs is not None:
        return float(np.std(diffs, ddof=1)) if len(diffs) > 1 else None
    assert b is not None
    if len(a) + len(b) < 3:
        return None
    pooled = ((len(a) - 1) * _var(a) + (len(b) - 1) * _var(b)) / (len(a) + len(b) - 2)
    return math.sqrt(pooled)


def _var(values: np.ndarray) -> float:
    return float(np.var(values, ddof=1)) if len(values) > 1 else 0.0


def _interval(
    a: np.ndarray,
    b: np.ndarray | None,
    diffs: np.ndarray | None,
    settings: Settings,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """The bootstrap (BCa, percentile where BCa is undefined) interval of the difference."""
    if diffs is not None:
        data: tuple[np.ndarray, ...] = (diffs,)
        statistic: Any = np.mean
        if len(diffs) < 2:
            return None
        if _no_spread(diffs):
            return float(diffs.mean()), float(diffs.mean())
    else:
        assert b is not None
        if len(a) < 2 or len(b) < 2:
            return None
        if _no_spread(a) and _no_spread(b):
            value = float(a.mean() - b.mean())
            return value, value
        data, statistic = (a, b), _mean_difference
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                data,
                statistic,
                confidence_level=1 - settings.level,
                n_resamples=settings.resamples,
                method=method,
                random_state=rng,
                vectorized=True,
            )
        low, high = result.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    return None


def _why_untestable(left: Sample, right: Sample | float) -> str:
    sides = [("left", left)] + ([("right", right)] if isinstance(right, Sample) else [])
    short = [f"{name} has {s.n} run{'s' if s.n != 1 else ''}" for name, s in sides if s.n < 2]
    return "; ".join(short) + ": a test needs at least 2 seeds on each side"


# -- across a study ----------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (NaN entries are left out of the family and stay NaN).

    scipy.stats offers Benjamini-Hochberg (``false_discovery_control``) but not Holm, which
    controls the family-wise error: a study's claims are each meant to hold, not to be mostly
    right."""
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    indexed.sort()
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def verdict(
    p_claim: float,
    p_against: float,
    level: float,
    ci: tuple[float, float] | None = None,
    wrong_side: Any = None,
) -> str:
    """PASS, FAIL or INCONCLUSIVE from Holm-adjusted p-values; ``wrong_side(ci)`` says whether
    an interval lies wholly where the claim is false (for a constant)."""
    if math.isnan(p_claim):
        return INCONCLUSIVE
    if p_claim <= level:
        return PASS
    if p_against <= level or (ci is not None and wrong_side is not None and wrong_side(ci)):
        return FAIL
    return INCONCLUSIVE


def seeds_needed(
    comparison: Comparison, settings: Settings, family: int
) -> tuple[int | None, str] | None:
    """About how many seeds per side would resolve the claim at the observed effect and spread,
    with the one-sided t test at ``level / family`` (Holm's strictest step) and the study's
    power; and which way it would resolve. None when the spread or the effect is zero."""
    spread = comparison.spread
    if not spread or not math.isfinite(comparison.distance) or comparison.distance == 0:
        return None
    delta = abs(comparison.distance) / spread
    way = PASS if comparison.distance > 0 else FAIL
    alpha = settings.level / max(1, family)
    two_groups = not comparison.paired and "right" in comparison.n
    # the seeds there are did not resolve it (the tests used may have fewer degrees of freedom
    # than this estimate's), so the answer is always more than that
    start = max(2, min(comparison.n.values()) + 1)
    for n in range(start, _MAX_SEEDS_SEARCHED + 1):
        if two_groups:
            df, noncentrality = 2 * n - 2, delta * math.sqrt(n / 2)
        else:
            df, noncentrality = n - 1, delta * math.sqrt(n)
        power = float(stats.nct.sf(stats.t.ppf(1 - alpha, df), df, noncentrality))
        if power >= settings.power:
            return n, way
    return None, way


def describe(comparison: Comparison, p_value: float, level: float) -> str:
    """The numbers in a line: difference, interval, p-value, effect."""
    parts = [f"difference {comparison.difference:+.4f}"]
    if comparison.ci is not None:
        low, high = comparison.ci
        parts.append(f"{100 * (1 - level):g}% CI [{low:+.4f}, {high:+.4f}]")
    if math.isnan(p_value):
        parts.append("no test")
    else:
        parts.append(f"p={_p(p_value)} ({comparison.test}, Holm)")
    if comparison.effect is not None:
        parts.append(f"d={comparison.effect:+.2f}")
    return ", ".join(parts)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def details(comparison: Comparison, p_value: float, p_against: float, level: float) -> dict:
    """The numbers for results.json."""
    return {
        "difference": comparison.difference,
        "ci": list(comparison.ci) if comparison.ci is not None else None,
        "ci_level": 1 - level,
        "p_value": _nan_none(p_value),
        "p_raw": _nan_none(comparison.p_claim),
        "p_against": _nan_none(p_against),
        "test": comparison.test,
        "paired": comparison.paired,
        "effect": comparison.effect,
        "effect_name": "cohen_d" if "right" in comparison.n and not comparison.paired else "d_z",
        "n": comparison.n,
    }


def _nan_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def sample(rows: Sequence[Mapping[str, Any]], metric: str) -> Sample:
    """A metric's finite values over rows, with each row's seed."""
    values, seeds = [], []
    for row in rows:
        value = (row.get("metrics") or {}).get(metric)
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        ):
            values.append(float(value))
            seeds.append(row.get("seed"))
    return Sample(tuple(values), tuple(seeds))
