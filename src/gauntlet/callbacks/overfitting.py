"""The overfitting monitor: the best epoch, the epoch overfitting set in, and wandb's epoch axis.

The module's per-epoch ``history`` rows hold ``train/loss``, ``train/acc``, ``val/loss``,
``val/acc`` (epoch means, measured the same way) and the gaps ``gap/loss`` and ``gap/acc``,
which it logs itself. From those rows this callback derives, at the end of training,

- ``best_epoch``: the epoch with the best ``monitor`` value (``val/acc`` by default, the one the
  checkpoint keeps and the test runs on);
- ``overfit_epoch``: the epoch of the lowest validation loss, when at least ``patience``
  epochs follow it over which the validation loss rises as a trend beyond its noise (a
  one-sided slope test) and the gap to the training loss grows (:func:`overfit_epoch`,
  docs/overfitting.md). Absent when that never happened;
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


def overfit_epoch(
    rows: Sequence[Row], patience: int = 3, min_delta: float = 0.0, alpha: float = 0.05
) -> int | None:
    """The epoch overfitting set in, or None. The rule (docs/overfitting.md):

    - the candidate is the epoch of the lowest validation loss;
    - at least ``patience`` epochs follow it;
    - from it to the end the validation loss rises as a trend, not as noise: a one-sided
      test of the least-squares slope (``scipy.stats.linregress``) at level ``alpha``, and
      by more than ``min_delta`` at the last epoch;
    - the gap (val loss - train loss) grows over the same epochs and ends positive: the
      model fits its training data better while it does worse on unseen data.

    One epoch's wobble, a plateau that goes up and down, a val loss under the train loss
    (heavy augmentation or mixup) or both losses rising together (divergence) are not
    overfitting."""
    rows = [r for r in rows if "val/loss" in r and "train/loss" in r]
    if len(rows) < 2:
        return None
    low = min(range(len(rows)), key=lambda i: rows[i]["val/loss"])
    after = rows[low:]
    if len(after) - 1 < max(patience, 2):  # a trend needs three points at least
        return None
    epochs = [float(r["epoch"]) for r in after]
    val = [r["val/loss"] for r in after]
    gap = [r["val/loss"] - r["train/loss"] for r in after]
    if val[-1] - val[0] <= min_delta or gap[-1] <= max(gap[0], 0.0):
        return None
    if not (_rises(epochs, val, alpha) and _slope(epochs, gap) > 0):
        return None
    return int(rows[low]["epoch"])


def _slope(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    den = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / den if den else 0.0


def _rises(x: list[float], y: list[float], alpha: float) -> bool:
    """Whether ``y`` rises with ``x`` beyond its scatter: one-sided slope test."""
    from scipy.stats import linregress

    if max(y) == min(y):
        return False
    fit = linregress(x, y, alternative="greater")
    return bool(fit.slope > 0 and fit.pvalue < alpha)


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
    """``patience``: epochs of rising val loss that count as overfitting (2 or more);
    ``min_delta``: the rise that counts; ``alpha``: the level of the test that the rise is a
    trend, not noise; ``monitor`` / ``mode``: what defines the best epoch."""

    def __init__(
        self,
        patience: int = 3,
        min_delta: float = 0.0,
        monitor: str = "val/acc",
        mode: str = "max",
        alpha: float = 0.05,
    ) -> None:
        if patience < 2:
            raise GauntletError(
                f"callbacks.overfitting.patience: expected at least 2 (a trend needs three "
                f"epochs), got {patience}"
            )
        if not 0 < alpha < 1:
            raise GauntletError(f"callbacks.overfitting.alpha: expected 0 < alpha < 1, got {alpha}")
        if mode not in ("min", "max"):
            raise GauntletError(f"callbacks.overfitting.mode: expected min or max, got {mode!r}")
        self.patience, self.min_delta, self.alpha = patience, min_delta, alpha
        self.monitor, self.mode = monitor, mode
        self.verdict: Verdict | None = None

    def judge(self, rows: Sequence[Row]) -> Verdict:
        return Verdict(
            best_epoch=best_epoch(rows, self.monitor, self.mode),
            overfit_epoch=overfit_epoch(rows, self.patience, self.min_delta, self.alpha),
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
