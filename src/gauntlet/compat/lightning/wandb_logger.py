"""Lightning's WandbLogger without the ``anonymous`` setting, and whether its run has started.

Works around: Lightning passes ``anonymous=None`` to ``wandb.init`` through its private
``_wandb_init`` mapping; wandb 0.31 ignores the setting and warns about it at every run. The
logger's run is built in its ``experiment`` property and kept in the private ``_experiment``;
``gauntlet.loggers.WandbLogger`` installs
:func:`gauntlet.compat.wandb.skip_unstaged_launch_inputs` before that first build.

A fix, not a speed-up. Measured on pytorch-lightning 2.6.6 and wandb 0.31.0. Pinned by
``tests/test_console.py`` (no "anonymous setting" warning on a run) and
``tests/test_startup.py`` (the run start).
"""

from __future__ import annotations

from typing import Any


def drop_anonymous(logger: Any) -> None:
    """Leave ``anonymous`` out of what a WandbLogger passes to ``wandb.init``, when unset."""
    if logger._wandb_init.get("anonymous") is None:
        del logger._wandb_init["anonymous"]


def run_started(logger: Any) -> bool:
    """Whether a WandbLogger has started (or been given) its W&B run."""
    return logger._experiment is not None
