"""The training entry point: compose -> instantiate -> fit -> test -> record.

``gauntlet train`` runs :func:`main` (a Hydra app), so every Hydra flag and override works,
including ``-m`` multiruns and launchers.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from gauntlet.config import CONFIG_DIR, register_schemas
from gauntlet.errors import GauntletError, exit_with
from gauntlet.repro.manifest import base_manifest, new_run_id, now_iso, write_manifest

log = logging.getLogger(__name__)


def plain(node: DictConfig) -> DictConfig:
    """An untyped copy of a config node, so objects (a built network) can be passed into it."""
    return OmegaConf.create(OmegaConf.to_container(node, resolve=True))


def instantiate_all(group: DictConfig | None, **kwargs: Any) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group such as ``callbacks`` or ``logger``."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(node, **kwargs)
        for node in group.values()
        if node and "_target_" in node
    ]


def build(cfg: DictConfig, run_id: str | None = None):
    """The datamodule (first: the network is built from its input spec), module, trainer."""
    import pytorch_lightning as pl

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    net = hydra.utils.instantiate(cfg.model.net, spec=datamodule.spec)
    augment = None
    if cfg.get("augment") and "_target_" in cfg.augment:
        augment = hydra.utils.instantiate(cfg.augment, spec=datamodule.spec)
    module = hydra.utils.instantiate(plain(cfg.model), net=net, augment=augment)
    callbacks = instantiate_all(cfg.get("callbacks"))
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if not node or "_target_" not in node:
            continue
        extra = {"id": run_id, "name": run_id} if node._target_.endswith("WandbLogger") else {}
        loggers.append(hydra.utils.instantiate(node, **extra))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return datamodule, module, trainer


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    if cfg.get("resume"):
        last = Path(cfg.resume) / "checkpoints" / "last.ckpt"
        if not last.is_file():
            raise GauntletError(
                f"resume={cfg.resume}: no checkpoints/last.ckpt in that run directory"
            )
        return str(last)
    if cfg.get("ckpt_path") == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise GauntletError(f"ckpt_path={cfg.ckpt_path} does not exist")
    return cfg.get("ckpt_path")


def fit_and_test(cfg: DictConfig, run_dir: Path, manifest: dict[str, Any]) -> dict[str, float]:
    from gauntlet.models.base import count_parameters

    datamodule, module, trainer = build(cfg, manifest["run_id"])
    module.run_config = manifest["config"]
    manifest["device"] = (
        f"{trainer.accelerator.__class__.__name__.replace('Accelerator', '').lower()}"
    )
    manifest["num_params"] = count_parameters(module.net)
    manifest["data_sizes"] = datamodule.sizes()
    manifest["data_fingerprint"] = datamodule.fingerprint()
    for lg in trainer.loggers:
        if lg.__class__.__name__ == "WandbLogger":
            manifest["wandb"] = {"id": manifest["run_id"], "dir": str(run_dir / "wandb")}
            lg.log_hyperparams(manifest["config"])
    if trainer.is_global_zero:
        write_manifest(run_dir, manifest)

    if cfg.train:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_checkpoint(cfg, run_dir))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if cfg.test:
        ckpt = None
        if (
            cfg.train
            and trainer.checkpoint_callback
            and trainer.checkpoint_callback.best_model_path
        ):
            ckpt = trainer.checkpoint_callback.best_model_path
        trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        )
    return metrics


def run(cfg: DictConfig) -> float | None:
    """Train one configured run, writing its manifest and leaderboard row at start and end."""
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    from gauntlet.leaderboard.record import record

    hc = HydraConfig.get()
    run_dir = Path(cfg.paths.output_dir)
    is_zero = rank_zero_only.rank == 0  # DDP children re-run this command with LOCAL_RANK set
    manifest = base_manifest(
        run_id=new_run_id(),
        run_dir=run_dir,
        config=OmegaConf.to_container(cfg, resolve=True),
        overrides=list(hc.overrides.task),
        choices=dict(hc.runtime.choices),
        seed=cfg.seed,
        experiment=cfg.experiment_name,
        study=cfg.get("study"),
        tags=list(cfg.get("tags") or []),
    )
    if is_zero:
        write_manifest(run_dir, manifest)
        record(manifest, cfg)
    started = time.perf_counter()
    try:
        metrics = fit_and_test(cfg, run_dir, manifest)
        bad = [
            k for k in ("train/loss", "val/loss") if k in metrics and not math.isfinite(metrics[k])
        ]
        if bad:
            raise FloatingPointError(f"{bad[0]} is {metrics[bad[0]]}: training diverged")
        manifest.update(status="completed", metrics=metrics)
    except BaseException as err:
        manifest.update(status="failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        manifest.update(finished=now_iso(), duration_s=round(time.perf_counter() - started, 3))
        if is_zero:
            write_manifest(run_dir, manifest)
            record(manifest, cfg)
        finish_wandb()
    value = manifest["metrics"].get(cfg.optimized_metric)
    log.info("run %s completed: %s", manifest["run_id"], _summary(manifest["metrics"]))
    return value


def finish_wandb() -> None:
    """Close this job's wandb run so the next multirun job starts its own."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def _summary(metrics: dict[str, float]) -> str:
    keys = [k for k in ("test/acc", "test/f1", "val/acc_best") if k in metrics]
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys)


register_schemas()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """One job. In a multirun a failed job is recorded and returns NaN, so the sweep goes on."""
    from hydra.types import RunMode

    os.environ.setdefault("WANDB_MODE", "offline")
    try:
        return run(cfg)
    except Exception as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            log.error("job %s failed: %s: %s", HydraConfig.get().job.num, type(err).__name__, err)
            return float("nan")
        if isinstance(err, GauntletError):
            exit_with(err)
        raise
