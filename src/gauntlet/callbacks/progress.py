"""The progress bar of every gauntlet command that runs a Trainer: one TQDM bar per epoch.

Lightning's TQDM bar shares the terminal with the log lines (the epoch summary, the FLOPs count,
a checkpoint note); a line logged while a bar is drawn would be glued to the end of the bar.
Here log records go through ``tqdm.write`` while the bars are up, so each lands on a line of its
own above the bar, and every epoch's finished bar stays as one line with its validation metrics.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from pytorch_lightning.callbacks import TQDMProgressBar
from tqdm.contrib.logging import logging_redirect_tqdm


class ProgressBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = True):
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self._redirect: ExitStack | None = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if self._redirect is None and self.is_enabled:
            self._redirect = ExitStack()
            self._redirect.enter_context(logging_redirect_tqdm())

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._redirect is not None:
            self._redirect.close()
            self._redirect = None
        super().teardown(trainer, pl_module, stage)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        # the logger's version is the run id's tail, already in the run directory's manifest
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
