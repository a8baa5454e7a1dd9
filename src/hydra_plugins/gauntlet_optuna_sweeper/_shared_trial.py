"""Pruning trials that run in other processes (joblib, gpu_pool, submitit, SLURM, Ray).

As in Optuna's own distributed optimisation, every process opens the same study from a storage
they all reach: the sweeper's ``storage`` when one is given, else an SQLite file it creates in
the sweep directory (:data:`STORAGE_FILE`). The sweeper tags each trial with its Hydra job
number (:data:`JOB_ATTR`); a job finds its own running trial by that tag, reports its epochs to
it and asks the study's pruner, and the sweeper reads the outcome back from the storage.

The module name starts with an underscore so Hydra's plugin scan never re-executes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

STORAGE_FILE = "optuna.db"
JOB_ATTR = "hydra_job"
SWEEPER_TARGET = "GauntletOptunaSweeper"
# an SQLite writer waits this long for another process's write instead of failing at once
SQLITE_TIMEOUT_S = 60

# this process's trial, found once per job
_found: dict[tuple[str, int], optuna.trial.Trial | None] = {}


def storage_url(configured: str | None, sweep_dir: Path, jobs_in_this_process: bool) -> str | None:
    """The storage the study lives in: the configured one; none (memory) when every job runs in
    the sweeper's process; else an SQLite file in the sweep directory that every job can open."""
    if configured:
        return configured
    if jobs_in_this_process:
        return None
    return f"sqlite:///{(Path(sweep_dir) / STORAGE_FILE).absolute()}"


def open_storage(url: str | None) -> Any:
    """Optuna's storage for ``url``: SQLite with a lock timeout long enough for several
    processes that write at once; any other URL as Optuna opens it."""
    if url is None or not url.startswith("sqlite:"):
        return url
    import optuna

    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    )


def tag_jobs(trials_by_job: Mapping[int, optuna.trial.Trial]) -> None:
    """Record on each trial the Hydra job number that runs it, for the job to find it."""
    for job_num, trial in trials_by_job.items():
        trial.set_user_attr(JOB_ATTR, job_num)


def user_attrs_now(study: optuna.Study, trial: optuna.trial.Trial) -> dict[str, Any]:
    """The trial's user attributes as stored now, with what other processes wrote to it."""
    for frozen in study.get_trials(deepcopy=False):
        if frozen.number == trial.number:
            return dict(frozen.user_attrs)
    return trial.user_attrs


def trial_of_this_job() -> optuna.trial.Trial | None:
    """This job's trial, opened from the sweep's storage, or None outside such a sweep."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    sweeper = hc.get("sweeper") or {}
    if not str(sweeper.get("_target_", "")).endswith(SWEEPER_TARGET):
        return None
    try:
        job_num = int(hc.job.num)
    except Exception:  # run mode leaves hydra.job.num missing
        return None
    sweep_dir = Path(str(hc.sweep.dir))
    if not sweep_dir.is_absolute():
        sweep_dir = Path(str(hc.runtime.cwd)) / sweep_dir
    configured = sweeper.get("storage")
    configured = None if configured in (None, "", "null", "None") else str(configured)
    url = storage_url(configured, sweep_dir, jobs_in_this_process=False)
    key = (str(url), job_num)
    if key not in _found:
        if configured is None and not (sweep_dir / STORAGE_FILE).is_file():
            return None  # the sweeper kept its study in memory: nothing to report to
        _found[key] = _open_trial(url, sweeper, str(hc.job.name), job_num)
    return _found[key]


def _open_trial(url: str, sweeper: Any, job_name: str, job_num: int) -> optuna.trial.Trial | None:
    import optuna

    from gauntlet.compat.optuna import trial_id
    from hydra_plugins.gauntlet_optuna_sweeper._study import make_pruner

    study = optuna.load_study(
        study_name=str(sweeper.get("study_name") or job_name),
        storage=open_storage(url),
        # this process only reports and asks the pruner; the sweeper samples
        sampler=optuna.samplers.RandomSampler(),
        pruner=make_pruner(sweeper.get("pruner")),
    )
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for frozen in running:
        if frozen.user_attrs.get(JOB_ATTR) == job_num:
            return optuna.trial.Trial(study, trial_id(frozen))
    log.warning("no running trial of study '%s' is tagged job %d", study.study_name, job_num)
    return None
