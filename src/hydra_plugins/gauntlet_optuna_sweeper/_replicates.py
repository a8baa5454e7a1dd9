"""Seeds inside a search: each trial trains ``replicates`` seeds and Optuna sees one value.

Folding the seed into the search space makes the search optimise the seed (Hydra #1969,
Optuna #433). With ``hydra.sweeper.replicates: k`` every trial is launched k times, all in the
launcher's round (so a parallel launcher runs them side by side), with the same parameters and
the seeds ``seed, seed + 1, ..., seed + k - 1``; each job also gets ``trial=N``, which its
manifest and leaderboard row keep, so ``gauntlet leaderboard --group-by trial`` groups them.
Optuna is told their mean (``objective: mean``) or a one-sided Student-t confidence bound on
the side a worse value lies (``objective: lcb``: the lower bound when maximising, the upper
when minimising, at ``confidence``), so a trial that is good only for a lucky seed ranks
below one that is good for all. The values and seeds are kept as the trial's user attributes.
Replicate jobs are not handed their trial for pruning: k jobs reporting to one trial would
overwrite each other's steps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import TrialState
from scipy import stats

from hydra_plugins.gauntlet_optuna_sweeper._study import objective_values

log = logging.getLogger(__name__)

OBJECTIVES = ("mean", "lcb")


def seeds_of(overrides: Sequence[str], default: int, k: int) -> tuple[list[str], list[int]]:
    """The overrides without any ``seed=`` (its value the first replicate's seed), and the k
    replicate seeds."""
    base = default
    kept = []
    for item in overrides:
        key, _, value = item.lstrip("+").partition("=")
        if key == "seed":
            base = int(value)
        else:
            kept.append(item)
    return kept, [base + r for r in range(k)]


def replicate_batch(
    batch: Sequence[Sequence[str]], trials: Sequence[Any], default_seed: int, k: int
) -> tuple[list[list[str]], list[list[int]]]:
    """Each trial's overrides k times, with its seed and ``trial=N``; and each trial's seeds."""
    jobs, seeds = [], []
    for overrides, trial in zip(batch, trials, strict=True):
        kept, own = seeds_of(overrides, default_seed, k)
        seeds.append(own)
        jobs += [[*kept, f"++seed={s}", f"++trial={trial.number}"] for s in own]
    return jobs, seeds


def combine(values: Sequence[float], objective: str, confidence: float, maximize: bool) -> float:
    """The mean of the replicates' values, or its pessimistic one-sided Student-t bound."""
    n = len(values)
    mean = sum(values) / n
    if objective == "mean" or n < 2:
        return mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(confidence, n - 1)) * sd / math.sqrt(n)
    return mean - half if maximize else mean + half


def tell_replicates(
    study: optuna.Study,
    trial: optuna.trial.Trial,
    results: Sequence[JobReturn],
    seeds: Sequence[int],
    objective: str,
    confidence: float,
) -> TrialState:
    """Tell Optuna the combined value of a trial's completed replicates (FAIL if none, or for
    ``lcb`` fewer than 2, completed)."""
    directions = study.directions
    per_job = []
    for result in results:
        if result.status == JobStatus.COMPLETED:
            values = objective_values(result.return_value, len(directions))
            if values is not None:
                per_job.append(values)
    trial.set_user_attr("replicate_seeds", list(seeds))
    trial.set_user_attr("replicate_values", per_job)
    needed = 2 if objective == "lcb" else 1
    if len(per_job) < needed:
        reason = f"{len(per_job)} of {len(results)} replicates returned a value"
        log.error("Trial %d failed: %s", trial.number, reason)
        trial.set_user_attr("error", reason)
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL
    combined = [
        combine(
            [values[i] for values in per_job],
            objective,
            confidence,
            direction == optuna.study.StudyDirection.MAXIMIZE,
        )
        for i, direction in enumerate(directions)
    ]
    study.tell(trial, combined if len(combined) > 1 else combined[0])
    return TrialState.COMPLETE
