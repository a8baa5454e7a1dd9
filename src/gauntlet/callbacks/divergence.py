"""Stop a run the moment its loss stops being a number.

A NaN or infinite training loss never recovers: every later step only spends time. The
callback checks each training step's loss and each epoch's logged losses, and ends the fit with
:class:`Diverged` at the first non-finite one; the run is recorded ``failed`` with the metric,
the epoch and step, and what to change.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch

from gauntlet.errors import RunFailed


class Diverged(RunFailed):
    pass


class DivergenceStop(pl.Callback):
    def __init__(self, metrics: tuple[str, ...] = ("train/loss", "val/loss")) -> None:
        self.metrics = tuple(metrics)

    def on_train_batch_end(self, trainer, pl_module, outputs: Any, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        # one host sync a step: cheap beside the step, and the only way to stop at once
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            self._stop(trainer, pl_module, "train/loss (step)", float(loss.detach().float()))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._check_logged(trainer, pl_module)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._check_logged(trainer, pl_module)

    def _check_logged(self, trainer, pl_module) -> None:
        for name in self.metrics:
            value = trainer.callback_metrics.get(name)
            if value is not None and not math.isfinite(float(value)):
                self._stop(trainer, pl_module, name, float(value))

    def _stop(self, trainer, pl_module, name: str, value: float) -> None:
        lr = _learning_rate(trainer)
        raise Diverged(
            f"{name} became {value} at epoch {trainer.current_epoch}, step "
            f"{trainer.global_step} (the first non-finite value): the run diverged and was "
            f"stopped. Lower model.optimizer.lr{f' (now {lr:g})' if lr else ''}, set "
            "trainer.gradient_clip_val=1.0, or check the data for NaN or infinite values"
        )


def _learning_rate(trainer) -> float | None:
    try:
        return float(trainer.optimizers[0].param_groups[0]["lr"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None
