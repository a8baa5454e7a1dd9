"""Optuna internals (measured on optuna 5.1.0).

``trial_id``: a job in another process reports to the trial it runs for, which it finds among
the study's running trials by a user attribute. Optuna has no public lookup of a trial's storage
id by its number, and ``Trial(study, trial_id)`` (the public way to act on a running trial) needs
that id, which a ``FrozenTrial`` keeps in ``_trial_id``. Test:
``tests/test_optuna_sweeper.py::test_trials_in_parallel_processes_are_pruned_through_the_sweep_dirs_storage``.
"""

from __future__ import annotations

from typing import Any


def trial_id(frozen: Any) -> int:
    """The storage id of a ``FrozenTrial``."""
    return int(frozen._trial_id)
