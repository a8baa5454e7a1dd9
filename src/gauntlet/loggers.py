"""Loggers that gauntlet configures in place of Lightning's own."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from gauntlet.compat.lightning.csv_writer import ContinuingWriter, continuing_experiment
from gauntlet.compat.lightning.wandb_logger import drop_anonymous, run_started
from gauntlet.run.files import atomic_write_text


class CSVLogger(LightningCSVLogger):
    """Lightning's CSVLogger, writing through :class:`ContinuingWriter`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingWriter:
        return continuing_experiment(self, atomic_write_text)


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger, except that it does not pass ``anonymous`` to ``wandb.init``
    (wandb 0.31 ignores the setting and warns about it at every run; Lightning 2.6.6), and that
    the run it starts skips W&B Launch where nothing was staged for it
    (:func:`gauntlet.compat.wandb.skip_unstaged_launch_inputs`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        drop_anonymous(self)

    @property
    def experiment(self) -> Any:
        if not run_started(self):
            from gauntlet.compat.wandb import skip_unstaged_launch_inputs

            skip_unstaged_launch_inputs()
        return super().experiment
