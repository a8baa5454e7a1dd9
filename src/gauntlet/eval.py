"""Evaluate a checkpoint: its config travels inside it, so nothing else is needed."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from gauntlet.config import CONFIG_DIR
from gauntlet.config_schema import rename_former_keys, run_dir_of_checkpoint
from gauntlet.errors import GauntletError, exit_with
from gauntlet.run.checkpoints import network_weights, read_checkpoint

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    module: Any
    datamodule: Any
    cfg: DictConfig
    run_dir: Path
    checkpoint: dict[str, Any]


def load_run(ckpt_path: str | Path, data: dict[str, Any] | None = None) -> LoadedRun:
    """Rebuild the datamodule and module a checkpoint was trained with, weights loaded.
    ``data`` changes keys of its data config (``data.root`` of another folder)."""
    checkpoint = read_checkpoint(ckpt_path)
    cfg = OmegaConf.create(checkpoint["gauntlet_config"])
    rename_former_keys(cfg)  # a checkpoint written before a key was renamed
    if data:
        cfg.data = OmegaConf.merge(cfg.data, data)
    datamodule = hydra.utils.instantiate(cfg.data)
    # the datamodule's own state (its class map): the data is read against it
    state = checkpoint.get(type(datamodule).__qualname__)
    if state:
        datamodule.load_state_dict(state)
    datamodule.setup("test")
    from gauntlet.models.build import build_network

    net = build_network(cfg.model.net, datamodule.spec)
    module = hydra.utils.instantiate(cfg.model, net=net)  # cfg is untyped here
    state = network_weights(checkpoint)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise GauntletError(
            f"ckpt_path={ckpt_path}: weights do not match the model in its config ({first})"
        ) from err
    module.eval()
    run_dir = run_dir_of_checkpoint(ckpt_path)
    return LoadedRun(module, datamodule, cfg, run_dir, checkpoint)


def evaluate(
    ckpt_path: str | Path, split: str = "test", data: dict[str, Any] | None = None
) -> dict[str, float]:
    import pytorch_lightning as pl

    if split not in ("test", "val"):
        raise GauntletError(f"split={split!r}: choose 'test' or 'val'")
    from gauntlet.callbacks.progress import ProgressBar

    loaded = load_run(ckpt_path, data)
    trainer = pl.Trainer(
        accelerator="cpu" if not _cuda() else "auto",
        devices=1,
        logger=False,
        callbacks=[ProgressBar()],  # the bar `gauntlet train` shows
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    loader = (
        loaded.datamodule.test_dataloader()
        if split == "test"
        else loaded.datamodule.val_dataloader()
    )
    trainer.test(loaded.module, dataloaders=loader, verbose=False)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> dict[str, float]:
    from gauntlet.run.redact_files import redact_hydra_files

    redact_hydra_files(Path(cfg.paths.output_dir))
    try:
        given = OmegaConf.to_container(cfg.get("data") or {})
        data = {k: v for k, v in given.items() if v is not None}
        metrics = evaluate(cfg.ckpt_path, cfg.get("split", "test"), data)
    except GauntletError as err:
        from hydra.core.hydra_config import HydraConfig

        from gauntlet.run.stray import discard_if_stray

        discard_if_stray(Path(cfg.paths.output_dir), HydraConfig.get().job.name)
        exit_with(err)
    from gauntlet.run.files import atomic_write_text, disk_faults

    split = cfg.get("split", "test")
    out = Path(cfg.paths.output_dir) / f"{split}.json"
    with disk_faults("eval"):
        atomic_write_text(
            out, json.dumps({"ckpt_path": str(cfg.ckpt_path), "metrics": metrics}, indent=2)
        )
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{cfg.get('split', 'test')} split")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        table.add_row(key, f"{value:.4f}")
    console = Console()
    console.print(table)
    # a path is never folded into the table's width
    console.print(f"checkpoint {cfg.ckpt_path}; metrics in {out}", soft_wrap=True, markup=False)
    return metrics
