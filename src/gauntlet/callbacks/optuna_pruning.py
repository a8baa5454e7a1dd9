"""Stops an Optuna trial early when the sweep's pruner says its validation curve is hopeless.

Under ``hydra/sweeper=gauntlet_optuna``, each validation epoch's monitored value is reported to
the job's trial, in the sweeper's process (Hydra's basic launcher) or in another one (joblib,
gpu_pool, submitit, SLURM: through the study's shared storage); when the pruner decides,
``optuna.TrialPruned`` leaves ``trainer.fit``, the run is recorded ``pruned`` with the epochs it
trained, and the sweeper records the trial as PRUNED. Outside a sweep the callback does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn

from gauntlet.errors import GauntletError
from hydra_plugins.gauntlet_optuna_sweeper import current_trial, mark_pruned

log = logging.getLogger(__name__)


class PrunedAtEpoch(optuna.TrialPruned):
    """Optuna's TrialPruned, with the epoch (0-based) whose validation decided it: the run is
    recorded ``pruned`` with ``epochs`` = epoch + 1, the epochs it trained."""

    def __init__(self, epoch: int, message: str) -> None:
        super().__init__(message)
        self.epoch = epoch


class OptunaPruning(pl.Callback):
    """Report ``monitor`` to the current Optuna trial at each validation end; prune on demand.

    Steps are epochs, so the pruner's ``n_warmup_steps`` counts epochs. Pass ``trial`` to use the
    callback in your own ``study.optimize`` objective instead of a Hydra sweep.
    """

    def __init__(self, monitor: str = "val/acc", trial: optuna.trial.Trial | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        self.trial = trial

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        trial = self.trial if self.trial is not None else current_trial()
        epoch = trainer.current_epoch
        # rank 0 decides; in DDP every rank must take part in the broadcast, trial or not
        decision: tuple[str, Any] | None = None
        if trainer.is_global_zero and trial is not None and len(trial.study.directions) == 1:
            decision = self._decide(trainer, trial, epoch)
        if trainer.world_size > 1:
            decision = trainer.strategy.broadcast(decision, src=0)
        if decision is None:
            return
        kind, detail = decision
        if kind == "error":
            raise GauntletError(detail)
        if trial is not None:
            mark_pruned(trial, epoch)
        log.info("Pruning trial at epoch %d: %s=%s", epoch, self.monitor, detail)
        raise PrunedAtEpoch(epoch, f"pruned at epoch {epoch}: {self.monitor}={detail}")

    def _decide(
        self, trainer: pl.Trainer, trial: optuna.trial.Trial, epoch: int
    ) -> tuple[str, Any] | None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            logged = ", ".join(sorted(trainer.callback_metrics)) or "none"
            return (
                "error",
                f"OptunaPruning.monitor: '{self.monitor}' was not logged at validation; "
                f"logged metrics: {logged}",
            )
        value = float(value)
        trial.report(value, step=epoch)
        return ("prune", value) if trial.should_prune() else None
