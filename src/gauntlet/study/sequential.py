"""Group-sequential looks: when a claim may be decided early without inflating its error rate.

A study run with ``--until-decided`` checks its claims at planned numbers of seeds per cell (the
looks, e.g. 3, 5, 8, 12). Testing at each look at the full level would give a true-null claim
several chances to PASS by luck; instead each look may spend only part of the level, as an
alpha-spending function of the information fraction ``t = seeds at this look / seeds at the last
look`` says (Lan and DeMets 1983):

- ``pocock``: ``alpha(t) = level * ln(1 + (e - 1) t)``, spending early: large effects stop at
  the first looks;
- ``obrien_fleming``: ``alpha(t) = 2 - 2 Phi(z_{1 - level/2} / sqrt(t))``, spending almost
  nothing early and keeping nearly the fixed design's power at the last look.

The boundary at look k is the nominal one-sided p-value at which the chance, under no effect,
of first crossing at look k equals what the spending function allows there (Jennison and
Turnbull 2000, ch. 7 and 11). The chance is that of the cumulative t statistics of the looks,
simulated (see :func:`bounds`), not of the known-variance z statistics: with 3 to 12 seeds the
normal approximation lets a few percent too many false claims through. A claim's one-sided
p-value at a look (t or permutation test, as in the fixed design) is compared with it.

Holm's correction across claims becomes the sequentially rejective procedure of Maurer and
Bretz (2013): each undecided claim is tested at ``level / r`` (r: the claims of the family not
yet rejected), with the boundaries that level would have had from the first look; a rejection
frees its share for the others, at the same look and later ones. A claim decided at a look
keeps its verdict and is not tested again, so it spends no more of the level. PASS rejects
"the claim is false", FAIL rejects "the opposite is false": two families, as in the fixed
design.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from gauntlet.study.statistics import FAIL, INCONCLUSIVE, NO_DATA, PASS

SPENDING = ("pocock", "obrien_fleming")
_PATHS = 400_000  # simulated studies behind each boundary
_PATHS_SEED = 20261205


def spent(t: float, level: float, spending: str) -> float:
    """The share of ``level`` a spending function allows up to information fraction ``t``."""
    t = min(max(t, 0.0), 1.0)
    if t <= 0:
        return 0.0
    if spending == "pocock":
        return level * math.log(1 + (math.e - 1) * t)
    if spending == "obrien_fleming":
        return float(2 * stats.norm.sf(stats.norm.isf(level / 2) / math.sqrt(t)))
    raise ValueError(f"unknown spending function {spending!r}; choose {', '.join(SPENDING)}")


@functools.lru_cache(maxsize=4096)
def bounds(
    seeds: tuple[int, ...], max_seeds: int, level: float, spending: str
) -> tuple[float, ...]:
    """The nominal one-sided p-value that decides at each of looks at these numbers of seeds
    (0: this look may not decide), for a plan whose last look has ``max_seeds``.

    The cumulative t statistics of a study's looks are pivotal under normal per-seed values
    (their joint law depends on neither the mean nor the spread), so it is simulated exactly
    from each stage's sufficient statistics, with a fixed random seed: the boundary at look k
    is the p-value below which as many simulated studies first cross there as the spending
    function allows. The normal approximation (z boundaries from the Brownian motion, turned
    into nominal p-values) lets a few percent too many through with 3 to 12 seeds."""
    rng = np.random.default_rng(_PATHS_SEED)
    total = np.zeros(_PATHS)  # sum of the values so far
    squares = np.zeros(_PATHS)  # sum of squared deviations from their mean
    alive = np.ones(_PATHS, dtype=bool)
    out = []
    previous_n, previous_spent = 0, 0.0
    for n in seeds:
        m = n - previous_n
        if m > 0:
            stage_sum = rng.normal(0.0, math.sqrt(m), _PATHS)
            within = rng.chisquare(m - 1, _PATHS) if m > 1 else np.zeros(_PATHS)
            if previous_n:
                # pooling two groups: the gap between their means adds to the squares
                gap = total / previous_n - stage_sum / m
                squares = squares + within + gap**2 * previous_n * m / n
            else:
                squares = within
            total = total + stage_sum
        allowed = spent(n / max_seeds, level, spending) - previous_spent
        if m <= 0 or n < 2 or allowed <= 0:
            out.append(0.0)
            previous_n = max(previous_n, n)
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (total / n) / np.sqrt(squares / (n - 1) / n)
        p = stats.t.sf(t, n - 1)
        crossing = np.sort(p[alive])
        count = min(int(allowed * _PATHS), crossing.size)
        bound = float(crossing[count - 1]) if count > 0 else 0.0
        out.append(bound)
        alive &= p > bound
        previous_n = n
        previous_spent += allowed
    return tuple(out)


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The looks (seeds per cell at each), fixed before the first run, and how they spend."""

    looks: tuple[int, ...]
    spending: str = "pocock"
    level: float = 0.05

    @property
    def max_seeds(self) -> int:
        return self.looks[-1]

    def as_dict(self) -> dict[str, Any]:
        return {"looks": list(self.looks), "spending": self.spending, "level": self.level}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            tuple(int(n) for n in data["looks"]), str(data["spending"]), float(data["level"])
        )


def derive_looks(first: int, max_seeds: int) -> tuple[int, ...]:
    """Looks from the study's seeds to ``max_seeds``, each about 1.6 times the one before
    (3 -> 5 -> 8 -> 12): equal steps in log seeds keep the number of looks small."""
    if max_seeds <= first:
        return (max_seeds,)
    looks = [first]
    while looks[-1] < max_seeds:
        looks.append(min(max_seeds, max(looks[-1] + 1, round(looks[-1] * 1.6))))
    return tuple(looks)


# -- a claim at a look, and the decisions -----------------------------------------------------


@dataclass
class ClaimLook:
    """What one look saw of one claim: its seeds (the smaller side) and raw one-sided p-values
    (NaN: untestable at this look)."""

    name: str
    n: int
    p_claim: float
    p_against: float


@dataclass
class LookRecord:
    """One row of a claim's table: the look, its seeds, the p-values and the nominal levels
    they were held to (None: not tested at this look), and what the look decided."""

    look: int
    seeds: int
    p_claim: float | None
    p_against: float | None
    bound_claim: float | None
    bound_against: float | None
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        def z(p: float | None) -> float | None:
            return None if p is None or p <= 0 or p >= 1 else float(stats.norm.isf(p))

        return {
            "look": self.look,
            "seeds": self.seeds,
            "p_claim": self.p_claim,
            "p_against": self.p_against,
            "z_claim": z(self.p_claim),
            "z_against": z(self.p_against),
            "bound_claim": self.bound_claim,
            "bound_against": self.bound_against,
            "z_bound_claim": z(self.bound_claim),
            "z_bound_against": z(self.bound_against),
            "verdict": self.verdict,
        }


@dataclass
class ClaimTrack:
    name: str
    verdict: str = INCONCLUSIVE
    decided_at: int | None = None  # the look (1-based) that decided it
    seeds: list[int] = field(default_factory=list)  # n at each look it was tested
    records: list[LookRecord] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.decided_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "decided_at": self.decided_at,
            "seeds_used": self.seeds[-1] if self.seeds else 0,
            "looks": [r.as_dict() for r in self.records],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClaimTrack:
        track = cls(data["name"], data["verdict"], data.get("decided_at"))
        for r in data.get("looks") or []:
            track.records.append(
                LookRecord(
                    r["look"],
                    r["seeds"],
                    r["p_claim"],
                    r["p_against"],
                    r["bound_claim"],
                    r["bound_against"],
                    r["verdict"],
                )
            )
            if r["p_claim"] is not None or r["p_against"] is not None:
                track.seeds.append(r["seeds"])
        return track


@dataclass
class Tracker:
    """The claims of one study across its looks: which are decided, at which look, and the
    numbers each look saw."""

    plan: Plan
    claims: dict[str, ClaimTrack] = field(default_factory=dict)
    looks_done: int = 0
    # the nominal level each family's step-down last held each claim to, for the record
    _levels: dict[tuple[str, str], float] = field(default_factory=dict, init=False, repr=False)

    def undecided(self) -> list[str]:
        return [name for name, track in self.claims.items() if not track.decided]

    def look(self, number: int, seen: Sequence[ClaimLook]) -> None:
        """Decide what look ``number`` (1-based) can: Holm's step-down across the claims, each
        claim at the boundary of its own information fractions."""
        for item in seen:
            self.claims.setdefault(item.name, ClaimTrack(item.name))
        testable = []
        for item in seen:
            track = self.claims[item.name]
            if track.decided:
                continue
            ok = not (math.isnan(item.p_claim) and math.isnan(item.p_against)) and item.n >= 2
            if ok:
                track.seeds.append(min(item.n, self.plan.max_seeds))
                testable.append(item)
        passed = self._step_down(testable, "p_claim", PASS)
        failed = self._step_down([i for i in testable if i.name not in passed], "p_against", FAIL)
        for item in seen:
            track = self.claims[item.name]
            if track.decided:
                continue
            tested = item in testable
            verdict = passed.get(item.name) or failed.get(item.name)
            record = LookRecord(
                number,
                item.n,
                _num(item.p_claim) if tested else None,
                _num(item.p_against) if tested else None,
                self._bound(track, "p_claim", item.name, passed) if tested else None,
                self._bound(track, "p_against", item.name, failed) if tested else None,
                verdict[0] if verdict else INCONCLUSIVE,
            )
            track.records.append(record)
            if verdict:
                track.verdict, track.decided_at = verdict[0], number
        self.looks_done = max(self.looks_done, number)

    def _step_down(
        self, testable: Sequence[ClaimLook], which: str, verdict: str
    ) -> dict[str, tuple[str, float]]:
        """Maurer and Bretz's Holm: reject while some claim's p is within the boundary of
        ``level / r``, r the claims not yet rejected in this family (decided ones of the other
        verdict keep their share)."""
        rejected_before = sum(t.verdict == verdict for t in self.claims.values())
        remaining = len(self.claims) - rejected_before
        decided: dict[str, tuple[str, float]] = {}
        pending = [i for i in testable if not math.isnan(getattr(i, which))]
        while pending and remaining > 0:
            alpha = self.plan.level / remaining
            scored = []
            for item in pending:
                seeds = tuple(self.claims[item.name].seeds)
                bound = bounds(seeds, self.plan.max_seeds, alpha, self.plan.spending)[-1]
                self._levels[(item.name, which)] = bound
                scored.append((getattr(item, which) / bound if bound > 0 else math.inf, item))
            ratio, best = min(scored, key=lambda pair: pair[0])
            if ratio > 1:
                break
            decided[best.name] = (verdict, self._levels[(best.name, which)])
            pending.remove(best)
            remaining -= 1
        return decided

    def _bound(
        self, track: ClaimTrack, which: str, name: str, decided: dict[str, tuple[str, float]]
    ) -> float | None:
        if name in decided:
            return decided[name][1]
        return self._levels.get((name, which))

    def finish(self) -> None:
        """After the last look (or when a budget ends): what is undecided stays INCONCLUSIVE,
        what never had data is NO DATA."""
        for track in self.claims.values():
            if not track.decided and not track.seeds:
                track.verdict = NO_DATA

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.as_dict(),
            "looks_done": self.looks_done,
            "claims": [t.as_dict() for t in self.claims.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tracker:
        tracker = cls(Plan.from_dict(data["plan"]), looks_done=int(data.get("looks_done", 0)))
        for item in data.get("claims") or []:
            tracker.claims[item["name"]] = ClaimTrack.from_dict(item)
        return tracker


def _num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# -- the check by simulation ------------------------------------------------------------------


@dataclass(frozen=True)
class Simulation:
    """Simulated sequential studies of one paired claim ``left > right`` with per-seed
    differences drawn from N(effect, 1)."""

    studies: int
    effect: float
    looks: tuple[int, ...]
    pass_rate: float  # the group-sequential design's PASS rate
    naive_pass_rate: float  # PASS when any look's p-value is at most the level, uncorrected
    mean_seeds: float  # seeds per cell the design used on average
    fixed_seeds: int | None  # seeds of a fixed design with the same power (one-sided t)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def simulate(plan: Plan, effect: float, studies: int, settings: Any, seed: int = 0) -> Simulation:
    """Run ``studies`` sequential studies through :func:`statistics.compare` and
    :meth:`Tracker.look`, the functions a study uses, and count how they end."""
    from gauntlet.study.statistics import Sample, compare

    rng = np.random.default_rng(seed)
    seeds = tuple(range(plan.max_seeds))
    passed = naive = 0
    used = 0
    for _ in range(studies):
        right = rng.normal(size=plan.max_seeds)
        left = right + rng.normal(effect, 1.0, size=plan.max_seeds)
        tracker = Tracker(plan)
        naive_hit = False
        for number, n in enumerate(plan.looks, start=1):
            comparison = compare(
                Sample(tuple(left[:n]), seeds[:n]),
                Sample(tuple(right[:n]), seeds[:n]),
                ">",
                0.0,
                settings,
                interval=False,
            )
            naive_hit = naive_hit or comparison.p_claim <= plan.level
            track = tracker.claims.get("claim")
            if track is None or not track.decided:
                tracker.look(
                    number, [ClaimLook("claim", n, comparison.p_claim, comparison.p_against)]
                )
                used_here = n
        track = tracker.claims["claim"]
        passed += track.verdict == PASS
        naive += naive_hit
        used += used_here
    power = passed / studies
    return Simulation(
        studies,
        effect,
        plan.looks,
        power,
        naive / studies,
        used / studies,
        fixed_seeds(effect, power, plan.level) if effect > 0 else None,
    )


def fixed_seeds(effect: float, power: float, level: float, most: int = 1000) -> int | None:
    """The fewest paired seeds at which a one-sided t test at ``level`` has ``power`` for a
    standardised effect ``effect`` (the noncentral t distribution)."""
    for n in range(2, most + 1):
        df = n - 1
        reached = stats.nct.sf(stats.t.isf(level, df), df, effect * math.sqrt(n))
        if reached >= power:
            return n
    return None
