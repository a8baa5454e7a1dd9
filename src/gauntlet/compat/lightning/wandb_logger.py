"""Lightning's WandbLogger without the ``anonymous`` setting, and with a lighter run start.

Works around: Lightning passes ``anonymous=None`` to ``wandb.init`` through its private
``_wandb_init`` mapping; wandb 0.31 ignores the setting and warns about it at every run. The
logger's run is built in its ``experiment`` property (the private ``_experiment`` holds it), which
is where :func:`gauntlet.compat.wandb.skip_unstaged_launch_inputs` is installed, before the run
starts.

A fix, not a speed-up. Measured on pytorch-lightning 2.6.6 and wandb 0.31.0. Pinned by
``tests/test_console.py`` (no "anonymous setting" warning on a run) and
``tests/test_startup.py`` (the run start).
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger, except that it does not pass ``anonymous`` to ``wandb.init``,
    and that the run it starts skips W&B Launch where nothing was staged for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            del self._wandb_init["anonymous"]

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            from gauntlet.compat.wandb import skip_unstaged_launch_inputs

            skip_unstaged_launch_inputs()
        return super().experiment
