"""The Optuna side of a sweep: sampler, pruner, study, telling job results, the summary file."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from gauntlet.compat.hydra import job_error
from gauntlet.errors import GauntletError
from hydra_plugins.gauntlet_optuna_sweeper._run_id import set_run_id
from hydra_plugins.gauntlet_optuna_sweeper._shared_trial import open_storage, user_attrs_now
from hydra_plugins.gauntlet_optuna_sweeper._trial_handle import PRUNED_AT_STEP
from hydra_plugins.gauntlet_optuna_sweeper.config import Pruner, PrunerConf, Sampler

log = logging.getLogger(__name__)

DIRECTIONS = ("minimize", "maximize")
# study attribute listing the trials the sweep gave up on (interrupted, or left running by a
# killed sweep): they are not counted towards n_trials, so a resumed sweep runs new ones instead
ABANDONED = "abandoned"
# study attribute listing the abandoned trials already queued again (retry_abandoned)
RETRIED = "retried"
RESULTS_FILE = "optimization_results.yaml"


def make_sampler(name: Sampler | str, seed: int | None) -> optuna.samplers.BaseSampler:
    # by value, not class: Hydra's plugin scan may re-execute config.py and remake the Enum
    sampler = Sampler(getattr(name, "value", name))
    if sampler is Sampler.tpe:
        return optuna.samplers.TPESampler(seed=seed)
    if sampler is Sampler.random:
        return optuna.samplers.RandomSampler(seed=seed)
    if sampler is Sampler.gp:
        return optuna.samplers.GPSampler(seed=seed)
    if sampler is Sampler.qmc:
        return optuna.samplers.QMCSampler(seed=seed)
    try:
        import cmaes  # noqa: F401
    except ImportError as e:
        raise GauntletError(
            "hydra.sweeper.sampler=cmaes needs the 'cmaes' package (pip install cmaes); "
            f"the others need nothing more: {', '.join(s.value for s in Sampler)}"
        ) from e
    return optuna.samplers.CmaEsSampler(seed=seed)


def make_pruner(conf: PrunerConf | Any | None) -> optuna.pruners.BasePruner:
    if conf is None:
        return optuna.pruners.NopPruner()
    name = Pruner(getattr(conf.name, "value", conf.name))
    if name is Pruner.none:
        return optuna.pruners.NopPruner()
    if name is Pruner.median:
        return optuna.pruners.MedianPruner(
            n_startup_trials=conf.n_startup_trials,
            n_warmup_steps=conf.n_warmup_steps,
            interval_steps=conf.interval_steps,
        )
    given = {
        key: getattr(conf, key, None)
        for key in ("min_resource", "max_resource", "reduction_factor")
    }
    if name is Pruner.hyperband:
        options = {k: v for k, v in given.items() if v is not None}
        return _pruner_or_error(optuna.pruners.HyperbandPruner, name, options)
    if given["max_resource"] is not None:
        raise GauntletError(
            f"hydra.sweeper.pruner.max_resource: {name.value} has no maximum (a trial that "
            "survives every rung runs to the end); it is a hyperband setting"
        )
    options = {k: v for k, v in given.items() if v is not None and k != "max_resource"}
    return _pruner_or_error(optuna.pruners.SuccessiveHalvingPruner, name, options)


def _pruner_or_error(
    cls: type[optuna.pruners.BasePruner], name: Pruner, options: dict[str, Any]
) -> optuna.pruners.BasePruner:
    try:
        return cls(**options)
    except (TypeError, ValueError) as e:
        raise GauntletError(
            f"hydra.sweeper.pruner ({name.value}): {e}. min_resource takes a whole number of "
            "epochs >= 1 or 'auto', reduction_factor a whole number >= 2"
        ) from e


def parse_directions(direction: Any) -> list[str]:
    raw = [direction] if isinstance(direction, str) else list(direction or [])
    wrong = [d for d in raw if d not in DIRECTIONS]
    if not raw or wrong:
        raise GauntletError(
            f"hydra.sweeper.direction: expected {' or '.join(DIRECTIONS)}, or a list of them "
            f"for several objectives; got {direction!r}"
        )
    return raw


def describe_storage(url: str | None) -> str:
    """The storage URL with any password hidden, for logs."""
    if url is None:
        return "memory"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable storage URL>"


def open_study(
    *,
    study_name: str,
    storage: str | None,
    directions: list[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
) -> optuna.Study:
    """Create the study, or load it from the storage so an interrupted search goes on."""
    _make_sqlite_dir(storage)
    try:
        study = optuna.create_study(
            study_name=study_name,
            storage=open_storage(storage),
            sampler=sampler,
            pruner=pruner,
            directions=directions,
            load_if_exists=True,
        )
    except Exception as e:
        raise GauntletError(
            f"hydra.sweeper.storage: cannot open study '{study_name}' in "
            f"{describe_storage(storage)}: {e}. Expected an SQLAlchemy URL such as "
            "sqlite:///optuna.db or postgresql+psycopg://user@host/db, or null for memory"
        ) from e
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise GauntletError(
            f"hydra.sweeper.direction: study '{study_name}' in {describe_storage(storage)} "
            f"was created with direction {found}, not {directions}; use that direction or "
            "another hydra.sweeper.study_name"
        )
    return study


def _make_sqlite_dir(url: str | None) -> None:
    """SQLite creates its file but not the directory; a fresh log dir has neither."""
    if url is None:
        return
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return  # open_study reports the bad URL
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def abandon_stale_trials(study: optuna.Study) -> None:
    """Fail the trials a killed sweep left RUNNING; they do not count towards n_trials."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        log.warning(
            "Trial %d was left running by an interrupted sweep; recording it as failed and "
            "running a new trial in its place",
            trial.number,
        )
        _mark_abandoned(study, trial.number)
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def resumed_seed(seed: int | None, earlier_trials: int) -> int | None:
    """The sampler's seed for a study that already holds trials: the seed moved on by their
    count. A sampler rebuilt with the first seed would start its sequence again and propose
    trial 0's parameters once more; this one goes on, and a resumed search is still
    reproducible from (seed, trials so far)."""
    if seed is None or earlier_trials == 0:
        return seed
    return (seed + earlier_trials) % 2**32


def retry_abandoned(study: optuna.Study) -> list[int]:
    """Queue each abandoned trial's parameters again (Optuna's enqueue_trial), once; returns
    the trial numbers queued."""
    retried = set(study.user_attrs.get(RETRIED, []))
    queued = []
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in sorted(abandoned_numbers(study) - retried):
        trial = trials.get(number)
        if trial is None or not trial.params:
            continue
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": number})
        queued.append(number)
        log.warning("Trial %d was abandoned; running its parameters again", number)
    if queued:
        study.set_user_attr(RETRIED, sorted(retried | set(queued)))
    return queued


def abandon(study: optuna.Study, trial: optuna.trial.Trial) -> None:
    _mark_abandoned(study, trial.number)
    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def abandoned_numbers(study: optuna.Study) -> set[int]:
    return set(study.user_attrs.get(ABANDONED, []))


def count_finished(study: optuna.Study) -> int:
    abandoned = abandoned_numbers(study)
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and t.number not in abandoned
    )


def _mark_abandoned(study: optuna.Study, number: int) -> None:
    study.set_user_attr(ABANDONED, sorted(abandoned_numbers(study) | {number}))


def tell_result(study: optuna.Study, trial: optuna.trial.Trial, result: JobReturn) -> TrialState:
    """Tell Optuna how the job ended: its value, or PRUNED, or FAIL (never the sweep's end)."""
    output_dir = _output_dir(result)
    if output_dir is not None:
        trial.set_user_attr("output_dir", output_dir)
    set_run_id(trial, output_dir)
    error = job_error(result) if result.status == JobStatus.FAILED else None
    if PRUNED_AT_STEP in user_attrs_now(study, trial) or _caused_by_pruning(error):
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED
    if result.status == JobStatus.COMPLETED:
        values = objective_values(result.return_value, len(study.directions))
        if values is not None:
            study.tell(trial, values)
            return TrialState.COMPLETE
        reason = f"returned {result.return_value!r}, not {_expected(len(study.directions))}"
        log.error("Trial %d failed: the job %s", trial.number, reason)
    else:
        reason = f"{type(error).__name__}: {error}"
        log.error(
            "Trial %d failed: the job raised %s",
            trial.number,
            reason,
            exc_info=(type(error), error, error.__traceback__)
            if isinstance(error, BaseException)
            else None,
        )
    trial.set_user_attr("error", reason[:1000])
    study.tell(trial, state=TrialState.FAIL)
    return TrialState.FAIL


def objective_values(value: Any, n_objectives: int) -> list[float] | None:
    """The job's return value as finite floats, or None when it is not one."""
    items = [value] if n_objectives == 1 else value
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        return None
    if len(items) != n_objectives:
        return None
    values = []
    for item in items:
        if isinstance(item, (str, bytes)):
            return None
        try:
            number = float(item)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(number):
            return None
        values.append(number)
    return values


def write_results(
    study: optuna.Study, sweep_dir: Path, n_trials: int, storage: str | None
) -> dict[str, Any]:
    """Write optimization_results.yaml into the sweep dir and log the best result."""
    trials = study.get_trials(deepcopy=False)
    by_state = Counter(t.state.name for t in trials)
    results: dict[str, Any] = {
        "name": study.study_name,
        "storage": describe_storage(storage),
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": n_trials,
        "trials": dict(sorted(by_state.items())),
        "abandoned": sorted(abandoned_numbers(study)),
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(study.directions) == 1:
        best = study.best_trial if complete else None
        results["best_trial"] = best.number if best else None
        results["best_value"] = best.value if best else None
        results["best_params"] = dict(best.params) if best else {}
        if best:
            log.info(
                "Best value %s (trial %d) with %s",
                best.value,
                best.number,
                _params_text(best),
            )
    else:
        front = study.best_trials if complete else []
        results["best_trials"] = [
            {"number": t.number, "values": list(t.values), "params": dict(t.params)} for t in front
        ]
        for t in front:
            log.info(
                "Pareto-optimal trial %d: values %s with %s", t.number, t.values, _params_text(t)
            )
    if not complete:
        log.warning("No trial of study '%s' completed; see the failed jobs' logs", study.study_name)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / RESULTS_FILE
    OmegaConf.save(OmegaConf.create(results), path)
    log.info("Trials by state %s; results in %s", results["trials"], path)
    return results


def _params_text(trial: FrozenTrial) -> str:
    return " ".join(f"{k}={v}" for k, v in trial.params.items()) or "no searched params"


def _expected(n_objectives: int) -> str:
    if n_objectives == 1:
        return "a finite number"
    return f"a list of {n_objectives} finite numbers"


def _caused_by_pruning(error: Any) -> bool:
    seen = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        if isinstance(error, optuna.TrialPruned):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _output_dir(result: JobReturn) -> str | None:
    try:
        return str(result.hydra_cfg.hydra.runtime.output_dir)
    except Exception:
        return None
