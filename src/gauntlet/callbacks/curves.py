"""Draws the per-epoch train/val loss and accuracy curves to a PNG in the run directory.

The picture answers "did this run overfit?" at a glance: the gap between the train and val
curves is shaded, the best epoch is a dashed line, the epochs after overfitting set in are
shaded red, and the title states the verdict with the final gaps. With a wandb logger the PNG
is also logged as an image (``curves``), so it sits in the run's media beside the charts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl

from gauntlet.callbacks.overfitting import OverfittingMonitor, Row, Verdict

log = logging.getLogger(__name__)

TRAIN, VAL, OVERFIT, FINE = "tab:blue", "tab:orange", "tab:red", "tab:green"


def plot_curves(
    history: Sequence[Row],
    path: Path,
    title: str = "",
    verdict: Verdict | None = None,
) -> Path | None:
    """Two panels (loss, accuracy), train vs val, the best epoch and any overfitting marked."""
    rows = [r for r in history if "val/acc" in r]
    if not rows:
        return None
    # a Figure of its own, not pyplot: no global state, no backend to pick, and a third less
    # of the time a run spends here (pyplot's import is about 0.2 s of CPU)
    from matplotlib.figure import Figure

    verdict = verdict or OverfittingMonitor().judge(rows)
    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    for ax, metric, name in zip(axes, ("loss", "acc"), ("loss", "accuracy"), strict=True):
        train = [r[f"train/{metric}"] for r in rows]
        val = [r[f"val/{metric}"] for r in rows]
        ax.plot(epochs, train, "o-", ms=3, color=TRAIN, label=f"train/{metric}")
        ax.plot(epochs, val, "s-", ms=3, color=VAL, label=f"val/{metric}")
        ax.fill_between(epochs, train, val, color="grey", alpha=0.15, label="gap")
        if verdict.overfit_epoch is not None:
            ax.axvspan(
                verdict.overfit_epoch,
                epochs[-1] + 0.5,
                color=OVERFIT,
                alpha=0.08,
                label=f"overfitting (from epoch {verdict.overfit_epoch})",
            )
        if verdict.best_epoch is not None:
            ax.axvline(
                verdict.best_epoch,
                color="k",
                ls="--",
                lw=1,
                label=f"best epoch {verdict.best_epoch}",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    last = rows[-1]
    gaps = (
        f"final gap: loss {last['gap/loss']:+.3f}, acc {last['gap/acc']:+.3f}"
        if ("gap/loss" in last)
        else ""
    )
    overfit = verdict.overfit_epoch is not None
    headline = verdict.describe()
    fig.suptitle(
        " | ".join(s for s in (title, headline, gaps) if s),
        color=OVERFIT if overfit else FINE,
        fontweight="bold",
    )
    fig.tight_layout()
    from gauntlet.run.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    return path


class CurvesPlot(pl.Callback):
    """Writes ``filename`` into the run directory at the end of fit (and logs it to wandb)."""

    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = filename
        self.path: Path | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0 or not trainer.default_root_dir:
            return
        history = getattr(pl_module, "history", [])
        # judge with the monitor's settings when one runs, so picture and metrics agree
        monitor = next(
            (c for c in trainer.callbacks if isinstance(c, OverfittingMonitor)),
            OverfittingMonitor(),
        )
        verdict = monitor.judge(history)
        title = type(getattr(pl_module, "net", pl_module)).__name__
        path = Path(trainer.default_root_dir) / self.filename
        self.path = plot_curves(history, path, title=title, verdict=verdict)
        if self.path is None:
            return
        log.info("curves: %s", self.path)
        from pytorch_lightning.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.experiment.log({"curves": wandb.Image(str(self.path))})
