"""A tiny Hydra + Lightning app for the pruning tests: OptunaPruning inside a real Trainer."""

from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from gauntlet.callbacks.optuna_pruning import OptunaPruning


class FixedScore(pl.LightningModule):
    """Logs a val/acc fixed in advance, so which trial is bad does not depend on the sampler."""

    def __init__(self, score: float, lr: float, epochs_file: Path) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.score = score
        self.lr = lr
        self.epochs_file = epochs_file

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val/acc", self.score + 0.01 * self.current_epoch)

    def on_train_epoch_end(self) -> None:
        self.epochs_file.write_text(str(self.current_epoch + 1))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(8, 2, generator=g), torch.randn(8, 1, generator=g)))


def fit(score: float, lr: float, max_epochs: int, out: Path, callback: pl.Callback) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        limit_val_batches=1,
        callbacks=[callback],
    )
    trainer.fit(FixedScore(score, lr, out / "epochs.txt"), loader(), loader())
    return trainer


@hydra.main(version_base="1.3", config_path=".", config_name="lightning_task")
def main(cfg: DictConfig) -> float:
    job = HydraConfig.get().job.num
    out = Path(HydraConfig.get().runtime.output_dir)
    score = 0.1 if job in cfg.bad_jobs else 0.9
    trainer = fit(score, cfg.lr, cfg.max_epochs, out, OptunaPruning(monitor=cfg.monitor))
    return float(trainer.callback_metrics["val/acc"])


if __name__ == "__main__":
    main()
