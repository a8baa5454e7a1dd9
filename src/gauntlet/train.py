"""The training entry point: seed -> build -> fit -> test -> record.

``gauntlet train`` runs :func:`main` (a Hydra app), so every Hydra flag and override works,
including ``-m`` multiruns and launchers. ``resume=RUN_DIR`` and ``ckpt_path=last`` continue a
run (:mod:`gauntlet.run.resume`). The bookkeeping around the flow (checks, manifest, record,
start-up timing, W&B, exit codes) is :mod:`gauntlet.task_wrapper`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from gauntlet.config import CONFIG_DIR
from gauntlet.run import startup
from gauntlet.run.build import build
from gauntlet.run.launch import JobInfo, ddp_child_command
from gauntlet.run.resume import resume_config
from gauntlet.run.trainer_args import trainer_argument_errors
from gauntlet.task_wrapper import hydra_job, logged_metrics, recorded_run


def run(cfg: DictConfig, job: JobInfo | None = None) -> float | None:
    """Train one configured run; returns its ``optimized_metric``. ``job`` says how the run
    was started; by default Hydra's view of the job."""
    with recorded_run(cfg, job) as task:
        if task.completed_before_requeue:  # a restarted SLURM job: the run had completed
            return task.result
        datamodule, module, trainer = build(cfg, task.run_id, run_config=task.config)  # seeded
        task.begin(trainer, module, datamodule)
        with task.fitting(trainer):
            metrics = fit(cfg, trainer, module, datamodule, task.ckpt_path, task.job)
        task.measured(metrics)
        task.measured(test(cfg, trainer, module, datamodule))
        task.finish(robust(cfg, trainer, module, datamodule, task.run_dir))
    return task.result


def fit(cfg: DictConfig, trainer: Any, module: Any, datamodule: Any, ckpt, job) -> dict:
    if cfg.train:
        with (
            ddp_child_command(trainer, job),
            startup.fitting(),
            trainer_argument_errors(cfg.trainer),
        ):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
    return logged_metrics(trainer)


def test(cfg: DictConfig, trainer: Any, module: Any, datamodule: Any) -> dict[str, float]:
    if not cfg.test:
        return {}
    best = getattr(trainer.checkpoint_callback, "best_model_path", None)
    trainer.test(
        module, datamodule=datamodule, ckpt_path=best if cfg.train and best else None, verbose=False
    )
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}


def robust(cfg: DictConfig, trainer: Any, module: Any, datamodule: Any, run_dir: Path) -> dict:
    if not (cfg.get("robust") and cfg.robust.get("eval") and trainer.is_global_zero):
        return {}
    from gauntlet.robust.accuracy import evaluate_robustness

    return evaluate_robustness(module, datamodule, cfg.robust, run_dir)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
@hydra_job
def main(cfg: DictConfig, job: JobInfo) -> float | None:
    """One job: the run ``resume=RUN_DIR`` names, or the one composed."""
    if cfg.get("resume"):
        cfg, job = resume_config(cfg, job)
    return run(cfg, job)
