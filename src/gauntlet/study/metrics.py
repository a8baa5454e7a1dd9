"""The metrics a study's runs will record, so that a claim or plot on any other is refused before
anything runs.

A run of ``gauntlet train`` records the module's per-split metrics, the overfitting monitor's
gap and best epoch, the throughput and FLOPs callbacks' ``perf/*``, the start-up phases
(``perf/startup_<phase>_s``), the run's ``duration_s`` and
``num_params``, and ``robust/acc@eps=E`` for each eps of its ``robust`` preset when that preset
evaluates after test. A post step records the metrics it lists (``explain`` also the random
baseline beside each deletion AUC). What this study's runs have already recorded counts too, so
a user's own module or callback that logs more is never refused once one of its runs exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.run.startup import PHASES as STARTUP_PHASES
from gauntlet.run.startup import PREFIX as STARTUP_PREFIX
from gauntlet.study.spec import Study, format_label

log = logging.getLogger(__name__)

TRAIN_METRICS = (
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "val/acc_best",
    "test/loss",
    "test/acc",
    "test/f1",
    "gap/acc",
    "gap/loss",
    "best_epoch",
    "epochs_trained",
    "perf/samples_per_s",
    "perf/step_ms",
    "perf/peak_mem_mb",
    "perf/epoch_s",
    "perf/effective_batch_size",
    "perf/startup_s",
    "perf/startup_cpu_s",
    *(f"{STARTUP_PREFIX}{phase}_s" for phase in STARTUP_PHASES),
    "perf/flops_per_sample",
    "perf/train_flops",
    "duration_s",
    "num_params",
)


def post_metrics(study: Study) -> list[str]:
    names: list[str] = []
    for step in study.post:
        names += step.metrics
        if step.command.split()[0] == "explain":
            names += [f"{m}_random" for m in step.metrics if m.endswith("deletion_auc")]
            names += ["interpret/deletion_auc", "interpret/deletion_auc_random"]
    return names


def expected_metrics(
    study: Study, cell_overrides: Iterable[Sequence[str]] = (), recorded: Iterable[str] = ()
) -> list[str]:
    """Every metric name a run of the study will record. ``cell_overrides`` (one override list
    per cell) are composed only when the static names fall short, to read each cell's robust
    preset; ``recorded`` are the names this study's runs already hold."""
    names = [*TRAIN_METRICS, *post_metrics(study), *recorded]
    wanted = set(study.all_metrics())
    if not wanted <= set(names):
        names += _robust_metrics(cell_overrides)
    return list(dict.fromkeys(names))


def _robust_metrics(cell_overrides: Iterable[Sequence[str]]) -> list[str]:
    from hydra.errors import HydraException

    from gauntlet.config import compose

    names: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for overrides in cell_overrides:
        key = tuple(overrides)
        if key in seen:
            continue
        seen.add(key)
        try:
            cfg = compose(list(overrides))
        except HydraException as err:
            raise GauntletError(f"a study cell {list(overrides)} does not compose: {err}") from None
        robust = cfg.get("robust") or {}
        if robust.get("eval"):
            names += [f"robust/acc@eps={format_label(float(eps))}" for eps in robust.get("eps")]
    return names


def check(study: Study, expected: Sequence[str]) -> None:
    """Refuse a claim, plot or table column on a metric that no run will record."""
    known = set(expected)
    problems = []
    for index, claim in enumerate(study.claims):
        for name in _claim_metrics(study, claim):
            if name not in known:
                problems.append(f"claims[{index}] ({claim.name}) reads {name!r}")
    for index, plot in enumerate(study.plots):
        for y in plot.y:
            for name in _filled(y, plot.x):
                if name not in known:
                    problems.append(f"plots[{index}] ({plot.name}) draws {name!r}")
    for name in study.metrics:
        if name not in known:
            problems.append(f"metrics lists {name!r}")
    if problems:
        raise GauntletError(
            f"{study.path}: {'; '.join(dict.fromkeys(problems))}, which no run of this study "
            f"will record. The runs record: {', '.join(sorted(known))} (a post step adds the "
            "metrics it lists under metrics:)"
        )


def _claim_metrics(study: Study, claim: Any) -> list[str]:
    names = _filled(claim.metric, claim.along)
    if claim.than is not None and claim.than.metric:
        names += _filled(claim.than.metric, claim.along)
    return names


def _filled(template: str, along: Any) -> list[str]:
    from gauntlet.study.spec import expand

    return expand(template, along)
