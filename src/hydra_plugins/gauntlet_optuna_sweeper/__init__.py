"""A Hydra 1.3 sweeper on current Optuna: ``hydra/sweeper=gauntlet_optuna``.

``current_trial()`` gives a job run by the basic launcher its Optuna trial, for pruning.
"""

from hydra_plugins.gauntlet_optuna_sweeper._trial_handle import current_trial, mark_pruned

__all__ = ["current_trial", "mark_pruned"]
