"""The run's loggers: the ones gauntlet configures in place of Lightning's own, and all that
concerns W&B (how a run is named there, its start before fit, its end after the run)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger as LightningCSVLogger
from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from gauntlet.compat.lightning.csv_writer import ContinuingWriter, continuing_experiment
from gauntlet.compat.lightning.wandb_logger import drop_anonymous, run_started
from gauntlet.run.files import atomic_write_text
from gauntlet.run.labels import smoke_reasons, sweep_of

log = logging.getLogger(__name__)


class CSVLogger(LightningCSVLogger):
    """Lightning's CSVLogger, writing through :class:`ContinuingWriter`."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingWriter:
        return continuing_experiment(self, atomic_write_text)


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger, except that it does not pass ``anonymous`` to ``wandb.init``
    (wandb 0.31 ignores the setting and warns about it at every run; Lightning 2.6.6), and that
    the run it starts skips W&B Launch where nothing was staged for it
    (:func:`gauntlet.compat.wandb.skip_unstaged_launch_inputs`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        drop_anonymous(self)

    @property
    def experiment(self) -> Any:
        if not run_started(self):
            from gauntlet.compat.wandb import skip_unstaged_launch_inputs

            skip_unstaged_launch_inputs()
        return super().experiment


def build_loggers(group: Mapping[str, Any] | None, run_id: str | None, cfg: Any) -> list[Any]:
    """Every logger of the config's ``logger`` group; a W&B logger gets the run's name, group
    and tags (:func:`wandb_fields`)."""
    import hydra

    from gauntlet.compat.wandb import forget_inherited_service

    loggers = []
    for node in (group or {}).values():
        if not node or "_target_" not in node:
            continue
        extra = {}
        if is_wandb(node._target_):
            # the run's wandb service is its own process's, never one it inherited
            forget_inherited_service()
            extra = wandb_fields(cfg, run_id)
        loggers.append(hydra.utils.instantiate(node, **extra))
    return loggers


def is_wandb(target: str) -> bool:
    import hydra

    try:
        cls = hydra.utils.get_class(target)
    except Exception:  # an unknown target fails when instantiated, with Hydra's message
        return False
    return isinstance(cls, type) and issubclass(cls, LightningWandbLogger)


def wandb_fields(cfg: Mapping[str, Any], run_id: str | None) -> dict[str, Any]:
    """How a run appears in W&B, so that its runs table groups seeds as the leaderboard does:
    ``name`` ``<experiment>-s<seed>-<last 6 of run_id>``; ``group`` the study or sweep, else
    the experiment; ``tags`` the configured ones plus ``seed:N``, ``study:NAME``,
    ``sweep:NAME`` and ``smoke`` where they apply. The run's ``id`` stays its run_id."""
    experiment = str(cfg.get("experiment_name") or "run")
    seed = cfg.get("seed")
    study = cfg.get("study")
    sweep = sweep_of(cfg)
    tags = [str(tag) for tag in (cfg.get("tags") or [])]
    tags.append(f"seed:{seed}")
    if study:
        tags.append(f"study:{study}")
    if sweep:
        tags.append(f"sweep:{sweep}")
    if smoke_reasons({"config": cfg}):
        tags.append("smoke")
    return {
        "id": run_id,
        "name": f"{experiment}-s{seed}-{(run_id or '')[-6:]}".rstrip("-"),
        "group": str(study or sweep or experiment),
        "tags": list(dict.fromkeys(tags)),
    }


def start_wandb(
    trainer: Any, run_id: str, config: Mapping[str, Any], run_dir: Path
) -> dict[str, Any] | None:
    """Start the wandb run of the trainer's W&B logger with the run's (redacted) config; what
    the manifest records of it (``id``, ``dir``), or None without a W&B logger."""
    from gauntlet.redaction import scrub_secrets

    recorded = None
    for lg in trainer.loggers:
        if isinstance(lg, LightningWandbLogger):
            recorded = {"id": run_id, "dir": str(run_dir / "wandb")}
            # wandb records the command line of the process that starts its run
            argv, sys.argv = sys.argv, scrub_secrets(sys.argv)
            try:
                lg.log_hyperparams(config)
            finally:
                sys.argv = argv
    return recorded


def has_wandb(trainer: Any) -> bool:
    return any(isinstance(lg, LightningWandbLogger) for lg in trainer.loggers)


def start_wandb_runs(trainer: Any) -> None:
    """Start the wandb run of each wandb logger now, not at its first metric inside fit."""
    for lg in trainer.loggers:
        if isinstance(lg, LightningWandbLogger):
            lg.experiment  # noqa: B018  (the property starts the run)


def finish_wandb() -> None:
    """Close this job's wandb run so the next multirun job starts its own."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            try:
                wandb.finish()
            except Exception as err:  # its service died (a requeued SLURM job's SIGTERM)
                log.warning("wandb run not closed cleanly: %s", err)
                try:  # else wandb's exit hook meets the dead service again, with a traceback
                    wandb.teardown()
                except Exception as again:
                    log.debug("wandb's service already gone: %s", again)
