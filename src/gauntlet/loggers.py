"""Loggers that gauntlet configures in place of Lightning's own."""

from __future__ import annotations

import sys
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
    (:func:`skip_unstaged_launch_inputs`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            del self._wandb_init["anonymous"]

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            skip_unstaged_launch_inputs()
        return super().experiment


def skip_unstaged_launch_inputs() -> None:
    """Spare a wandb run's start the import of W&B Launch (about 0.5 s of CPU, pydantic models
    of the whole public API), which it makes only to apply inputs staged by Launch's
    ``manage_config_file``/``manage_wandb_config``. Those import the module that stages them,
    so where it is not imported yet nothing can have been staged and there is nothing to apply.
    Measured on wandb 0.31; tested by tests/test_startup.py."""
    import wandb.sdk.wandb_run as wandb_run

    original = getattr(wandb_run.Run, "_detect_and_apply_job_inputs", None)
    if original is None or getattr(original, "_gauntlet_skips_unstaged", False):
        return

    def detect_and_apply_job_inputs(self: Any) -> None:
        if "wandb.sdk.launch.inputs.internal" in sys.modules:
            original(self)

    detect_and_apply_job_inputs._gauntlet_skips_unstaged = True  # type: ignore[attr-defined]
    wandb_run.Run._detect_and_apply_job_inputs = detect_and_apply_job_inputs
