"""Continuing a run: which checkpoint a command resumes from, the config ``resume=RUN_DIR``
runs, whether the run directory's own manifest goes on (and what it recorded before), and a
requeued SLURM job finding its run.

Two ways, both continuing the same run (same run_id, manifest and leaderboard row):

- ``gauntlet train OVERRIDES ckpt_path=last hydra.run.dir=RUN_DIR``: the command composed again,
  resumed from ``RUN_DIR/checkpoints/last.ckpt``. Changed keys are logged as a warning.
- ``gauntlet train resume=RUN_DIR``: the config recorded in ``RUN_DIR/manifest.json`` (resolved,
  so later edits to ``conf/`` change nothing); only :data:`RESUME_OVERRIDES` may be given.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gauntlet.config import restore_project
from gauntlet.errors import GauntletError
from gauntlet.run import requeue
from gauntlet.run.launch import JobInfo
from gauntlet.run.liveness import lost_reason
from gauntlet.run.manifest import (
    MANIFEST,
    base_manifest,
    mark_lost_manifest,
    new_run_id,
    read_manifest,
    rebase_paths,
    resumed_manifest,
)

log = logging.getLogger(__name__)

# keys a `resume=RUN_DIR` may change: how long to train, how it shows and where it is recorded,
# never what is trained
RESUME_OVERRIDES = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.enable_progress_bar",
    "leaderboard.url",
    "leaderboard.enabled",
)
# accepted with resume= but not applied to the run: they place this command's own Hydra log
RESUME_IGNORED = ("paths.log_dir",)


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint ``trainer.fit`` resumes from: ``ckpt_path`` (``last``: the run
    directory's ``checkpoints/last.ckpt`` if there is one), or None for a fresh start."""
    from gauntlet.run.checkpoints import check_resumable

    if cfg.get("ckpt_path") == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        if not last.is_file():
            return None
        check_resumable(last, "ckpt_path=last")
        return str(last)
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        what = "is a directory" if Path(cfg.ckpt_path).is_dir() else "does not exist"
        raise GauntletError(
            f"ckpt_path={cfg.ckpt_path} {what}; give a checkpoint file, "
            "'last' (this run directory's checkpoints/last.ckpt) or null"
        )
    if cfg.get("ckpt_path"):
        check_resumable(Path(cfg.ckpt_path), f"ckpt_path={cfg.ckpt_path}")
    return cfg.get("ckpt_path")


def resume_config(cfg: DictConfig, job: JobInfo) -> tuple[DictConfig, JobInfo]:
    """The config and job of ``resume=RUN_DIR``: the run's recorded config, continued from its
    ``last.ckpt`` in its own directory. Overrides outside :data:`RESUME_OVERRIDES` are refused."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from gauntlet.run.checkpoints import check_resumable

    run_dir = Path(str(cfg.resume)).expanduser().resolve()
    manifest = read_manifest(run_dir)
    restore_project(manifest.get("project"))
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise GauntletError(
            f"resume={cfg.resume}: no checkpoints/last.ckpt in that run directory "
            "(it stopped before its first epoch ended); start it again instead"
        )
    check_resumable(last, f"resume={cfg.resume}")
    parsed = OverridesParser.create().parse_overrides(job.overrides)
    refused = [
        o.input_line
        for o in parsed
        if o.key_or_group not in ("resume", *RESUME_OVERRIDES, *RESUME_IGNORED)
    ]
    if refused:
        raise GauntletError(
            f"resume={cfg.resume} continues the run with its recorded config; cannot apply "
            f"{', '.join(refused)}. Allowed with resume=: {', '.join(RESUME_OVERRIDES)}. "
            f"To train on from that checkpoint with other settings, start a new run: "
            f"gauntlet train OVERRIDES ckpt_path={last}"
        )
    config = OmegaConf.create(manifest.get("config") or {})
    if "paths" not in config or "output_dir" not in config.paths:
        raise GauntletError(f"{run_dir / MANIFEST}: its config has no paths.output_dir")
    # the directory may have moved (copied from another machine): its paths follow it
    for old in {str(config.paths.output_dir), str(manifest.get("run_dir") or "")} - {""}:
        config = OmegaConf.create(rebase_paths(OmegaConf.to_container(config), old, run_dir))
    if "***" in str(config.get("leaderboard", {}).get("url") or ""):
        config.leaderboard.url = cfg.leaderboard.url  # the manifest keeps it redacted
    for o in parsed:
        if o.key_or_group in RESUME_OVERRIDES:
            OmegaConf.update(config, o.key_or_group, o.value(), merge=False)
    config.ckpt_path = str(last)
    config.resume = None
    resumed = JobInfo(
        overrides=list(manifest.get("overrides") or []),
        choices=dict(manifest.get("choices") or {}),
        multirun=job.multirun,
        launcher=job.launcher,
        log_dir=job.log_dir,
    )
    log.info("resuming run %s in %s from %s", manifest["run_id"], run_dir, last)
    return config, resumed


def start_manifest(
    cfg: DictConfig, run_dir: Path, ckpt_path: str | None, job: JobInfo
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new manifest, or the run directory's own one when this command continues that run
    (``ckpt_path=last``, or a checkpoint inside the directory, and a manifest already there),
    with the metrics it recorded before (kept unless this run measures them again)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    existing = run_dir / MANIFEST
    continues = existing.is_file() and (
        cfg.get("ckpt_path") == "last"
        or (ckpt_path is not None and Path(ckpt_path).resolve().parent.parent == run_dir.resolve())
        or requeue.is_requeue_of(read_manifest(existing))
    )
    if continues:
        previous = read_manifest(existing)
        reason = lost_reason(previous)
        if reason:  # killed without recording an end: this resume says so
            mark_lost_manifest(run_dir, reason)
            previous = {**previous, "status": "lost", "error": reason}
        refuse_less(previous, cfg, ckpt_path)
        manifest = resumed_manifest(
            previous, config=config, checkpoint=ckpt_path, log_dir=job.log_dir
        )
        return manifest, dict(previous.get("metrics") or {})
    manifest = base_manifest(
        run_id=new_run_id(),
        run_dir=run_dir,
        config=config,
        overrides=job.overrides,
        choices=job.choices,
        seed=cfg.seed,
        experiment=cfg.experiment_name,
        study=cfg.get("study"),
        tags=list(cfg.get("tags") or []),
    )
    return manifest, {}


def continue_requeued_job(cfg: DictConfig, run_dir: Path) -> None:
    """A SLURM job requeued (preempted, or ``scontrol requeue``) starts again in the same run
    directory: it continues that run from its newest checkpoint (see :mod:`gauntlet.run.requeue`),
    as ``ckpt_path`` would, without the user giving one."""
    if cfg.get("ckpt_path") or not (run_dir / MANIFEST).is_file():
        return
    previous = read_manifest(run_dir)
    if not requeue.is_requeue_of(previous):
        return
    checkpoint = requeue.requeue_checkpoint(run_dir)
    log.info(
        "SLURM job %s restarted: run %s continues from %s",
        requeue.slurm_job(),
        previous.get("run_id"),
        checkpoint or "the start (it had no checkpoint yet)",
    )
    if checkpoint is not None:
        cfg.ckpt_path = str(checkpoint)


def refuse_less(previous: dict[str, Any], cfg: DictConfig, ckpt_path: str | None) -> None:
    """A completed run continues only to train more: more epochs (or steps) than it ran."""
    if previous.get("status") != "completed" or ckpt_path is None:
        return
    from gauntlet.run.checkpoints import trained_so_far

    epochs, steps = trained_so_far(Path(ckpt_path))
    epochs, steps = previous.get("epochs", epochs), previous.get("steps", steps)
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps") or -1
    more_epochs = max_epochs is not None and (max_epochs == -1 or max_epochs > epochs)
    if max_steps > steps or (max_steps == -1 and more_epochs):
        return
    raise GauntletError(
        f"run {previous['run_id']} already completed ({epochs} epochs, {steps} steps); "
        "resuming it would only repeat its test and overwrite its metrics. To train it "
        f"further ask for more: trainer.max_epochs={epochs + 5} (anything above {epochs})"
    )
