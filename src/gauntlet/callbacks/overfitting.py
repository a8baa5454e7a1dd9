"""The overfitting monitor: the best epoch, the epoch overfitting set in, and wandb's epoch axis.

The module's per-epoch ``history`` rows hold ``train/loss``, ``train/acc``, ``val/loss``,
``val/acc`` (epoch means, measured the same way) and the gaps ``gap/loss`` and ``gap/acc``,
which it logs itself. From those rows this callback derives, at the end of training,

- ``best_epoch``: the epoch with the best ``monitor`` value (``val/acc`` by default, the one the
  checkpoint keeps and the test runs on);
- ``overfit_epoch``: the first epoch after which the validation loss rose above that epoch's
  value for ``patience`` epochs in a row while the training loss kept falling (and stayed below
  the validation loss), i.e. where early stopping with that patience would have stopped and the
  gap widened. Absent when it never did;
- ``epochs_trained``.

They land in ``trainer.callback_metrics`` (so the run manifest's metrics hold them), in the
CSV log and in the wandb summary. On wandb every epoch metric uses ``epoch`` as its step axis,
and the summary keeps the best ``val/acc`` (max) and ``val/loss`` (min).

Epochs are counted from 0, as in Lightning's logs and ``metrics.csv``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pytorch_lightning as pl
import torch

from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)

Row = dict[str, float]


def best_epoch(rows: Sequence[Row], monitor: str = "val/acc", mode: str = "max") -> int | None:
    """The epoch of the best ``monitor`` value (the first one on ties); None without values."""
    scored = [r for r in rows if monitor in r]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return int(pick(scored, key=lambda r: r[monitor])["epoch"])


def overfit_epoch(rows: Sequence[Row], patience: int = 3, min_delta: float = 0.0) -> int | None:
    """The first epoch after which val loss stayed above its value for ``patience`` epochs
    while train loss went on falling and stayed below it; None when that never happened.

    A val loss under the train loss (heavy augmentation or mixup make training the harder
    task) is not overfitting, however it wobbles."""
    rows = [r for r in rows if "val/loss" in r and "train/loss" in r]
    for i in range(len(rows) - patience):
        here, later = rows[i], rows[i + 1 : i + 1 + patience]
        if any(r["val/loss"] < here["val/loss"] for r in rows[:i]):
            continue  # not the lowest val loss so far: an earlier epoch is the candidate
        rose = all(r["val/loss"] > here["val/loss"] + min_delta for r in later)
        end = later[-1]
        # train loss still falling, and below val loss: the gap opened, the model memorises
        if rose and end["train/loss"] < here["train/loss"] and end["val/loss"] > end["train/loss"]:
            return int(here["epoch"])
    return None


@dataclass
class Verdict:
    best_epoch: int | None
    overfit_epoch: int | None
    epochs_trained: int

    def metrics(self) -> dict[str, float]:
        out = {"epochs_trained": float(self.epochs_trained)}
        if self.best_epoch is not None:
            out["best_epoch"] = float(self.best_epoch)
        if self.overfit_epoch is not None:
            out["overfit_epoch"] = float(self.overfit_epoch)
        return out

    def describe(self) -> str:
        if self.overfit_epoch is None:
            return "no overfitting detected"
        return f"overfitting from epoch {self.overfit_epoch}"


class OverfittingMonitor(pl.Callback):
    """``patience``: epochs of rising val loss that count as overfitting; ``min_delta``: the
    rise that counts; ``monitor`` / ``mode``: what defines the best epoch."""

    def __init__(
        self,
        patience: int = 3,
        min_delta: float = 0.0,
        monitor: str = "val/acc",
        mode: str = "max",
    ) -> None:
        if patience < 1:
            raise GauntletError(
                f"callbacks.overfitting.patience: expected at least 1, got {patience}"
            )
        if mode not in ("min", "max"):
            raise GauntletError(f"callbacks.overfitting.mode: expected min or max, got {mode!r}")
        self.patience, self.min_delta = patience, min_delta
        self.monitor, self.mode = monitor, mode
        self.verdict: Verdict | None = None

    def judge(self, rows: Sequence[Row]) -> Verdict:
        return Verdict(
            best_epoch=best_epoch(rows, self.monitor, self.mode),
            overfit_epoch=overfit_epoch(rows, self.patience, self.min_delta),
            epochs_trained=len(rows),
        )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for run in _wandb_runs(trainer):
            run.define_metric("epoch")
            for prefix in ("train", "val", "gap"):
                run.define_metric(f"{prefix}/*", step_metric="epoch")
            run.define_metric("val/acc", step_metric="epoch", summary="max")
            run.define_metric("val/loss", step_metric="epoch", summary="min")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # a run stopped during fit (SIGTERM, Ctrl-C) records its verdict too
        if trainer.state.fn == "fit" and self.verdict is None:
            self.on_train_end(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.verdict = self.judge(getattr(pl_module, "history", []))
        values = self.verdict.metrics()
        # the entry point reads callback_metrics after fit; self.log is not allowed here
        for key, value in values.items():
            trainer.callback_metrics[key] = torch.tensor(value)
        if trainer.global_rank == 0:
            for logger in trainer.loggers:
                if type(logger).__name__ != "WandbLogger":
                    logger.log_metrics(values, step=trainer.global_step)
            for run in _wandb_runs(trainer):
                run.summary.update(values)
        log.info(
            "overfitting monitor: %s; best epoch %s",
            self.verdict.describe(),
            self.verdict.best_epoch,
        )


def _wandb_runs(trainer: pl.Trainer) -> list:
    """The live wandb runs behind the trainer's WandbLoggers (rank 0 only)."""
    if trainer.global_rank != 0:
        return []
    return [lg.experiment for lg in trainer.loggers if type(lg).__name__ == "WandbLogger"]
