"""The progress bar of every gauntlet command that runs a Trainer.

In a terminal: one bar per epoch, which stays when the epoch ends with the epoch's train and
val metrics (``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``); validation's bar is
drawn below it while it runs and then goes. The epoch's summary line, which the module logs,
is left to the log file there: the finished bar says the same.

Not in a terminal (``make train > log``, CI, a launcher's job): no bars at all, since every
redraw would be a line of its own; the module's summary line (``epoch N: train/loss=...``)
is the one line per epoch.

Lightning's TQDM bar shares the terminal with the log lines (the FLOPs count, a checkpoint
note); a line logged while a bar is drawn would be glued to the end of the bar. Here log
records go through ``tqdm.write`` while the bars are up, so each lands on a line of its own.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from typing import Any

from pytorch_lightning.callbacks import TQDMProgressBar
from tqdm.contrib.logging import logging_redirect_tqdm

from gauntlet.compat.tqdm import redirect_handlers

# the metrics the epoch's bar ends with, in this order
EPOCH_METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")
# the module's one line per epoch (gauntlet.models.module), which the bar replaces on a terminal
_EPOCH_LINE = ("gauntlet.models.module", "epoch ")


class _NotTheEpochLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        name, start = _EPOCH_LINE
        return not (record.name == name and record.getMessage().startswith(start))


def is_terminal(stream: Any = None) -> bool:
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressBar(TQDMProgressBar):
    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = True):
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self._redirect: ExitStack | None = None
        self._closing = False

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if not is_terminal():
            self.disable()
        if self._redirect is None and self.is_enabled:
            self._redirect = ExitStack()
            self._redirect.enter_context(logging_redirect_tqdm())
            console = redirect_handlers(logging.getLogger())
            only_bar = _NotTheEpochLine()
            for handler in console:
                handler.addFilter(only_bar)
                self._redirect.callback(handler.removeFilter, only_bar)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._redirect is not None:
            self._redirect.close()
            self._redirect = None
        super().teardown(trainer, pl_module, stage)

    # -- one bar per epoch, closed once the epoch's train metrics are logged -----------------
    def on_train_start(self, *_: Any) -> None:
        pass  # each epoch starts its own bar; one made here would stay empty above them

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        self._finish_epoch_bar(trainer)
        super().on_train_epoch_start(trainer, *args)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        pass  # the module logs the epoch's train metrics after this: the bar waits for them

    def on_train_end(self, trainer: Any, *_: Any) -> None:
        self._finish_epoch_bar(trainer)

    def _finish_epoch_bar(self, trainer: Any) -> None:
        bar = self._train_progress_bar
        if bar is None or getattr(bar, "disable", True):
            return
        self._closing = True
        try:
            bar.set_postfix(self.get_metrics(trainer, trainer.lightning_module))
        finally:
            self._closing = False
        bar.close()
        self._train_progress_bar = None

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        # during the epoch the callback metrics are the last epoch's: shown only at its end
        if not self._closing:
            return {}
        metrics = trainer.callback_metrics
        return {k: f"{float(metrics[k]):.4f}" for k in EPOCH_METRICS if k in metrics}
