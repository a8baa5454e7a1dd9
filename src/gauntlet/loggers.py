"""Loggers that gauntlet configures in place of Lightning's own."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from gauntlet.lightning_compat.csv_writer import ContinuingWriter


class CSVLogger(LightningCSVLogger):
    """Lightning's CSVLogger, writing through :class:`ContinuingWriter`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger, except that it does not pass ``anonymous`` to ``wandb.init``
    (wandb 0.31 ignores the setting and warns about it at every run; Lightning 2.6.6), and that
    the run it starts skips W&B Launch where nothing was staged for it
    (:func:`gauntlet.compat.wandb.skip_unstaged_launch_inputs`)."""

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
