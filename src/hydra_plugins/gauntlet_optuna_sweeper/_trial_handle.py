"""The Optuna trial of the job running in this process, for pruning.

The sweeper maps Hydra job numbers to the trials it launched; a job asks for its own trial by
its ``hydra.job.num``. Jobs in the sweeper's process (Hydra's basic launcher) find it in that
map; jobs in other processes open it from the study's storage (see ``_shared_trial``).

The module name starts with an underscore so Hydra's plugin scan never re-executes it (which
would empty the map while a sweep is running).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig

if TYPE_CHECKING:
    import optuna

# a trial marked with this user attribute was stopped by a pruner, whatever its job returned
PRUNED_AT_STEP = "pruned_at_step"

_trials_by_job: dict[int, optuna.trial.Trial] = {}


def current_trial() -> optuna.trial.Trial | None:
    """The trial of the Hydra job running now, or None outside an Optuna sweep."""
    if not HydraConfig.initialized():
        return None
    try:
        job_num = HydraConfig.get().job.num
    except Exception:  # run mode leaves hydra.job.num missing
        return None
    if job_num in _trials_by_job:
        return _trials_by_job[job_num]
    from hydra_plugins.gauntlet_optuna_sweeper._shared_trial import trial_of_this_job

    return trial_of_this_job()


def mark_pruned(trial: optuna.trial.Trial, step: int) -> None:
    """Record on the trial that a pruner stopped it, so the sweeper tells Optuna PRUNED."""
    trial.set_user_attr(PRUNED_AT_STEP, step)


@contextmanager
def exposed(trials_by_job: Mapping[int, optuna.trial.Trial]) -> Iterator[None]:
    """Make ``current_trial()`` answer for these jobs while the launcher runs them."""
    _trials_by_job.update(trials_by_job)
    try:
        yield
    finally:
        for job_num in trials_by_job:
            _trials_by_job.pop(job_num, None)
