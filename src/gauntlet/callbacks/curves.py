"""Draws the per-epoch train/val loss and accuracy curves to a PNG in the run directory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger(__name__)


def plot_curves(history: list[dict[str, float]], path: Path, title: str = "") -> Path | None:
    """Two panels (loss, accuracy), train vs val, the best val-accuracy epoch marked."""
    rows = [r for r in history if "val/acc" in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] + 1 for r in rows]
    best = max(rows, key=lambda r: r["val/acc"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        ax.plot(epochs, [r[f"train/{metric}"] for r in rows], "o-", ms=3, label=f"train/{metric}")
        ax.plot(epochs, [r[f"val/{metric}"] for r in rows], "s-", ms=3, label=f"val/{metric}")
        ax.axvline(
            best["epoch"] + 1, color="grey", ls="--", lw=1, label=f"best epoch {best['epoch'] + 1}"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class CurvesPlot(pl.Callback):
    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = filename
        self.path: Path | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_rank != 0 or not trainer.default_root_dir:
            return
        history = getattr(pl_module, "history", [])
        self.path = plot_curves(history, Path(trainer.default_root_dir) / self.filename)
        if self.path:
            log.info("curves: %s", self.path)
