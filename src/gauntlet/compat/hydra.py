"""Hydra internals (measured on hydra-core 1.3.8).

``filter_group_options``: Hydra lists a group's options (``--help``, tab completion, the
choices in its errors, ``glob``) through ``ConfigRepository.get_group_options`` alone, and has
no public hook to leave some out. gauntlet wraps that one method so internal configs
(``model/base``, ``schema/*``) stay loadable but unlisted. Test:
``tests/test_first_hour.py::test_help_completion_and_choice_lists_show_only_what_a_user_can_choose``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def filter_group_options(keep: Callable[[str, list[str]], list[str]]) -> None:
    """Pass every option listing of a group through ``keep(group, names)``; idempotent."""
    from hydra._internal.config_repository import ConfigRepository

    original = ConfigRepository.get_group_options
    if getattr(original, "_gauntlet_filters", False):
        return

    def get_group_options(self: Any, group_name: str, *args: Any, **kwargs: Any) -> list[str]:
        return keep(group_name, original(self, group_name, *args, **kwargs))

    get_group_options._gauntlet_filters = True  # type: ignore[attr-defined]
    ConfigRepository.get_group_options = get_group_options


# -- the launcher and a job's return (hydra-core 1.3.8) -----------------------------------------
# ``runs_in_this_process``: Hydra's basic launcher (the default, jobs one after another in this
# process) is importable only from ``hydra._internal.core_plugins``; the Optuna sweeper keeps its
# study in memory under it and in a shared file under any other launcher. Test:
# ``tests/test_optuna_sweeper.py::test_trials_in_parallel_processes_are_pruned_through_the_sweep_dirs_storage``.
#
# ``job_error``/``replace_job_error``: a failed job's exception is the private field
# ``JobReturn._return_value``; the public ``return_value`` re-raises it. The sweeper reads it to
# tell Optuna why a trial failed, and the isolated launcher replaces one that does not pickle.
# Test: ``tests/test_optuna_sweeper.py::test_failed_jobs_are_recorded_fail_and_the_sweep_goes_on``.


def runs_in_this_process(launcher: Any) -> bool:
    """Whether ``launcher`` is Hydra's basic launcher, which runs each job in this process."""
    from hydra._internal.core_plugins.basic_launcher import BasicLauncher

    return isinstance(launcher, BasicLauncher)


def job_error(ret: Any) -> Any:
    """What a failed job raised (None for a job that completed)."""
    return ret._return_value


def replace_job_error(ret: Any, error: BaseException) -> None:
    ret._return_value = error
