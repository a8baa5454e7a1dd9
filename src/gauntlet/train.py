"""The training entry point: compose -> instantiate -> fit -> test -> record.

``gauntlet train`` runs :func:`main` (a Hydra app), so every Hydra flag and override works,
including ``-m`` multiruns and launchers.

Resuming, two ways, both continuing the same run (same run_id, manifest and leaderboard row):

- ``gauntlet train OVERRIDES ckpt_path=last hydra.run.dir=RUN_DIR``: the command composed again,
  resumed from ``RUN_DIR/checkpoints/last.ckpt``. Changed keys are logged as a warning.
- ``gauntlet train resume=RUN_DIR``: the config recorded in ``RUN_DIR/manifest.json`` (resolved,
  so later edits to ``conf/`` change nothing); only :data:`RESUME_OVERRIDES` may be given.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, read_write

from gauntlet.config import CONFIG_DIR, register_schemas
from gauntlet.errors import GauntletError, exit_with
from gauntlet.repro.manifest import (
    MANIFEST,
    base_manifest,
    new_run_id,
    now_iso,
    read_manifest,
    rebase_paths,
    resumed_manifest,
    write_manifest,
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
# torch intra-op threads per job; the parallel launcher presets set it so jobs share the cores
THREADS_ENV = "GAUNTLET_NUM_THREADS"


@dataclass
class JobInfo:
    """What a run records about how it was started (Hydra's view of the job, or a stand-in)."""

    overrides: list[str] = field(default_factory=list)
    choices: dict[str, Any] = field(default_factory=dict)
    multirun: bool = False
    launcher: str | None = None
    log_dir: str | None = None

    @classmethod
    def from_hydra(cls) -> JobInfo:
        from hydra.types import RunMode

        hc = HydraConfig.get()
        return cls(
            overrides=list(hc.overrides.task),
            choices=dict(hc.runtime.choices),
            multirun=hc.mode == RunMode.MULTIRUN,
            launcher=str(hc.launcher.get("_target_", "")),
            log_dir=str(hc.runtime.output_dir),
        )


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
    if cfg.get("synthesize") and "_target_" in cfg.synthesize:
        datamodule.synthesizer = hydra.utils.instantiate(cfg.synthesize)
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
    make_trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, _partial_=True
    )
    if cfg.trainer.get("profiler"):
        return datamodule, module, make_trainer()
    from gauntlet.profiler import NoProfiler  # the config's profiler is a name, not an object

    return datamodule, module, make_trainer(profiler=NoProfiler())


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """The checkpoint ``trainer.fit`` resumes from: ``ckpt_path`` (``last``: the run
    directory's ``checkpoints/last.ckpt`` if there is one), or None for a fresh start."""
    if cfg.get("ckpt_path") == "last":
        last = run_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise GauntletError(
            f"ckpt_path={cfg.ckpt_path} does not exist; give a checkpoint file, "
            "'last' (this run directory's checkpoints/last.ckpt) or null"
        )
    return cfg.get("ckpt_path")


def resume_config(cfg: DictConfig, job: JobInfo) -> tuple[DictConfig, JobInfo]:
    """The config and job of ``resume=RUN_DIR``: the run's recorded config, continued from its
    ``last.ckpt`` in its own directory. Overrides outside :data:`RESUME_OVERRIDES` are refused."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    run_dir = Path(str(cfg.resume)).expanduser().resolve()
    manifest = read_manifest(run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise GauntletError(
            f"resume={cfg.resume}: no checkpoints/last.ckpt in that run directory "
            "(it stopped before its first epoch ended); start it again instead"
        )
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


def cap_threads() -> None:
    """Apply ``$GAUNTLET_NUM_THREADS`` (set by the parallel launcher presets) to torch."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise GauntletError(f"{THREADS_ENV}={value!r}: expected a whole number >= 1")
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def ddp_child_command(trainer: Any, job: JobInfo) -> Iterator[None]:
    """Inside a multirun, make the DDP processes Lightning starts re-run this one job.

    Lightning starts ranks 1.. by re-running ``sys.argv`` with ``hydra.run.dir=<run.dir>``
    appended; under ``-m`` that would start the whole sweep again in every child, in the wrong
    directory. For the job's duration the command line becomes this job's own overrides and
    ``hydra.run.dir`` its output directory. Only Hydra's basic launcher runs jobs in a process
    whose command can be re-run; other launchers are refused with a way out.
    """
    launcher = getattr(trainer.strategy, "launcher", None)
    spawns = type(launcher).__name__ == "_SubprocessScriptLauncher" and not getattr(
        launcher.cluster_environment, "creates_processes_externally", False
    )
    if not (job.multirun and spawns):
        yield
        return
    if not (job.launcher or "").endswith("BasicLauncher"):
        raise GauntletError(
            f"trainer.strategy={type(trainer.strategy).__name__} with "
            f"{trainer.num_devices} devices starts its processes by re-running the command, "
            f"which the multirun launcher {job.launcher} cannot do. Use launcher=local for DDP "
            "sweeps on one machine, or launcher=submitit_slurm (one SLURM task per device)"
        )
    hc = HydraConfig.get()
    argv, run_dir = list(sys.argv), hc.run.dir
    sys.argv = [sys.argv[0], *job.overrides]
    with read_write(hc.run):
        hc.run.dir = hc.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        with read_write(hc.run):
            hc.run.dir = run_dir


# what Lightning's DDP launcher puts into this process's environment for its children
_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "WORLD_SIZE", "LOCAL_RANK")


@contextmanager
def job_scope(job: JobInfo) -> Iterator[None]:
    """Leave no distributed state behind a multirun job, so the next job in this process
    starts its own process group (on a fresh port) instead of reusing one whose peers exited."""
    saved = {key: os.environ.get(key) for key in _DDP_ENV}
    try:
        yield
    finally:
        if job.multirun:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def check_finite(metrics: dict[str, float]) -> None:
    for key in ("train/loss", "val/loss"):
        if key in metrics and not math.isfinite(metrics[key]):
            raise GauntletError(
                f"{key} is {metrics[key]} at the end of training: the run diverged; "
                "lower model.optimizer.lr, or set trainer.gradient_clip_val"
            )


def fit_and_test(
    cfg: DictConfig,
    run_dir: Path,
    manifest: dict[str, Any],
    ckpt_path: str | None,
    job: JobInfo,
) -> dict[str, float]:
    import torch

    from gauntlet.models.base import count_parameters

    datamodule, module, trainer = build(cfg, manifest["run_id"])
    module.run_config = manifest["config"]
    manifest["device"] = (
        f"{trainer.accelerator.__class__.__name__.replace('Accelerator', '').lower()}"
    )
    manifest["num_params"] = count_parameters(module.net)
    manifest["data_sizes"] = datamodule.sizes()
    manifest["data_fingerprint"] = datamodule.fingerprint()
    # CPU results depend on the thread count (the order of reductions): reproduce sets it again
    manifest["threads"] = torch.get_num_threads()
    for lg in trainer.loggers:
        if lg.__class__.__name__ == "WandbLogger":
            manifest["wandb"] = {"id": manifest["run_id"], "dir": str(run_dir / "wandb")}
            lg.log_hyperparams(manifest["config"])
    if trainer.is_global_zero:
        write_manifest(run_dir, manifest)

    if cfg.train:
        with ddp_child_command(trainer, job):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    check_finite(metrics)
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
    if cfg.get("robust") and cfg.robust.get("eval") and trainer.is_global_zero:
        from gauntlet.robust.accuracy import evaluate_robustness

        metrics.update(evaluate_robustness(module, datamodule, cfg.robust, run_dir))
    return metrics


def start_manifest(
    cfg: DictConfig, run_dir: Path, ckpt_path: str | None, job: JobInfo
) -> dict[str, Any]:
    """A new manifest, or the run directory's own one when this command continues that run
    (``ckpt_path=last``, or a checkpoint inside the directory, and a manifest already there)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    existing = run_dir / MANIFEST
    continues = existing.is_file() and (
        cfg.get("ckpt_path") == "last"
        or (ckpt_path is not None and Path(ckpt_path).resolve().parent.parent == run_dir.resolve())
    )
    if continues:
        return resumed_manifest(
            read_manifest(existing), config=config, checkpoint=ckpt_path, log_dir=job.log_dir
        )
    return base_manifest(
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


def run(cfg: DictConfig, job: JobInfo | None = None) -> float | None:
    """Train one configured run, writing its manifest and leaderboard row at start and end.

    ``job`` says how the run was started; by default Hydra's view of the current job.
    """
    from pytorch_lightning.utilities.exceptions import SIGTERMException
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    from gauntlet.leaderboard.record import record

    job = job or JobInfo.from_hydra()
    cap_threads()
    run_dir = Path(cfg.paths.output_dir)
    is_zero = rank_zero_only.rank == 0  # DDP children re-run this command with LOCAL_RANK set
    ckpt_path = resume_checkpoint(cfg, run_dir)
    manifest = start_manifest(cfg, run_dir, ckpt_path, job)
    if is_zero:
        write_manifest(run_dir, manifest)
        record(manifest, cfg)
    started = time.perf_counter()
    try:
        with job_scope(job):
            metrics = fit_and_test(cfg, run_dir, manifest, ckpt_path, job)
        manifest.update(status="completed", metrics=metrics, error=None)
    except BaseException as err:
        # optuna.TrialPruned: the sweep stopped a hopeless trial on purpose
        pruned = type(err).__name__ == "TrialPruned"
        manifest.update(
            status="pruned" if pruned else "failed", error=f"{type(err).__name__}: {err}"
        )
        resume = f"continue it with: gauntlet train resume={run_dir}"
        if isinstance(err, SIGTERMException):
            # Lightning stops at the end of the step and raises a SystemExit without a code,
            # which would exit 0: a scheduler or script would take the run for a success
            manifest["error"] = f"stopped by SIGTERM; {resume}"
            raise SystemExit(128 + signal.SIGTERM) from err
        if isinstance(err, KeyboardInterrupt) or isinstance(err.__context__, KeyboardInterrupt):
            manifest["error"] = f"interrupted (Ctrl-C); {resume}"  # Lightning exits 1 on it
        raise
    finally:
        manifest.update(finished=now_iso(), duration_s=round(time.perf_counter() - started, 3))
        if is_zero:
            write_manifest(run_dir, manifest)
            record(manifest, cfg)
        finish_wandb()
    value = manifest["metrics"].get(cfg.optimized_metric)
    if is_zero:
        log.info("run %s completed: %s", manifest["run_id"], _summary(manifest["metrics"]))
    return value


def finish_wandb() -> None:
    """Close this job's wandb run so the next multirun job starts its own."""
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
    """One job. In a multirun a failed job is recorded and returns NaN, so the sweep goes on
    (the Optuna sweeper records NaN as a FAILED trial); the sweep's summary names it."""
    os.environ.setdefault("WANDB_MODE", "offline")
    job = JobInfo.from_hydra()
    try:
        if cfg.get("resume"):
            cfg, job = resume_config(cfg, job)
        return run(cfg, job)
    except Exception as err:
        if job.multirun:
            num = HydraConfig.get().job.num
            if type(err).__name__ == "TrialPruned":
                log.info("job %s pruned: %s", num, err)
            else:
                log.error("job %s failed: %s: %s", num, type(err).__name__, err)
            return float("nan")
        # Hydra wraps errors raised while building an object in an InstantiationException
        user_error = err if isinstance(err, GauntletError) else err.__cause__
        if isinstance(user_error, GauntletError):
            exit_with(user_error)
        raise
