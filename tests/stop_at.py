"""A callback that sends its own process a signal at one phase of a run, once: the way a
scheduler's SIGTERM or a user's Ctrl-C lands at that moment. Used by ``test_stops.py``."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytorch_lightning as pl

# phase -> (hook, epoch it fires in); "epoch None": the first time the hook runs
PHASES = {
    "setup": ("setup", None),
    "first_epoch": ("on_train_batch_end", 0),
    "mid_training": ("on_train_epoch_start", 2),
    "validation": ("on_validation_batch_start", 1),
    "test": ("on_test_batch_start", None),
    "robust": ("on_test_end", None),
}


class SignalAt(pl.Callback):
    def __init__(self, phase: str, once_file: str, signum: str = "SIGTERM") -> None:
        self.hook, self.epoch = PHASES[phase]
        self.once_file = Path(once_file)
        self.signum = getattr(signal, signum)

    def _maybe(self, hook: str, trainer: pl.Trainer) -> None:
        if hook != self.hook or self.once_file.exists():
            return
        if self.epoch is not None and (
            trainer.sanity_checking or trainer.current_epoch != self.epoch
        ):
            return
        self.once_file.write_text(hook)
        os.kill(os.getpid(), self.signum)

    def setup(self, trainer, pl_module, stage):
        self._maybe("setup", trainer)

    def on_train_batch_end(self, trainer, *args):
        self._maybe("on_train_batch_end", trainer)

    def on_train_epoch_start(self, trainer, *args):
        self._maybe("on_train_epoch_start", trainer)

    def on_validation_batch_start(self, trainer, *args):
        self._maybe("on_validation_batch_start", trainer)

    def on_test_batch_start(self, trainer, *args):
        self._maybe("on_test_batch_start", trainer)

    def on_test_end(self, trainer, *args):
        self._maybe("on_test_end", trainer)
