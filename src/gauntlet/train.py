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
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, read_write

from gauntlet.compat.hydra_mode import install as install_hydra_mode_shortcut
from gauntlet.config import CONFIG_DIR, register_schemas, restore_project
from gauntlet.errors import GauntletError, RunFailed, exit_with
from gauntlet.leaderboard.query import wandb_fields
from gauntlet.run import requeue
from gauntlet.run.group_watch import forming_group
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
from gauntlet.run.record import RunRecord
from gauntlet.run.startup import FitMarks, StartupClock
from gauntlet.run.trainer_args import check_group_can_form, trainer_argument_errors
from gauntlet.sweep.gpu_slot import gpu_placement

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


def build(
    cfg: DictConfig,
    run_id: str | None = None,
    clock: StartupClock | None = None,
    marks: FitMarks | None = None,
    run_config: dict | None = None,
):
    """The datamodule (first: the network is built from its input spec), module, trainer.

    Errors that torch or Lightning raise from a user's value become a :class:`GauntletError`
    naming the key (see :mod:`gauntlet.run.user_errors`). ``clock`` times the three parts
    (data, network, trainer); ``marks`` adds the callback that times fit's set-up and end.
    ``run_config`` (the manifest's redacted config) goes into every checkpoint."""
    import pytorch_lightning as pl

    from gauntlet.console import quiet_dependencies
    from gauntlet.seeding import seed_training

    quiet_dependencies()
    clock = clock or StartupClock()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    with clock.phase("data"):
        datamodule = _build_data(cfg)
    with clock.phase("network"):
        module = _build_module(cfg, datamodule)
    seed_training(cfg)
    with clock.phase("trainer"):
        trainer = _build_trainer(cfg, run_id, marks, run_config)
    return datamodule, module, trainer


def _build_data(cfg: DictConfig) -> Any:
    from gauntlet.run.user_errors import from_constructor

    with from_constructor("data"):
        datamodule = hydra.utils.instantiate(cfg.data)
    if cfg.get("synthesize") and "_target_" in cfg.synthesize:
        with from_constructor("synthesize"):
            datamodule.synthesizer = hydra.utils.instantiate(cfg.synthesize)
    with from_constructor("data"):
        datamodule.setup("fit")
    return datamodule


def _build_module(cfg: DictConfig, datamodule: Any) -> Any:
    from gauntlet.run.user_errors import check_optimizer, from_constructor

    with from_constructor("model.net"):
        from gauntlet.models.build import build_network
        from gauntlet.seeding import build_network as seeded_network

        net = seeded_network(cfg, lambda: build_network(cfg.model.net, datamodule.spec))
    augment = None
    if cfg.get("augment") and "_target_" in cfg.augment:
        with from_constructor("augment"):
            augment = hydra.utils.instantiate(cfg.augment, spec=datamodule.spec)
    with from_constructor("model"):
        module = hydra.utils.instantiate(plain(cfg.model), net=net, augment=augment)
    check_optimizer(module)
    return module


def _build_trainer(
    cfg: DictConfig, run_id: str | None, marks: FitMarks | None, run_config: dict | None
) -> Any:
    import pytorch_lightning as pl

    from gauntlet.callbacks.async_checkpoint import AsyncCheckpointIO
    from gauntlet.run.user_errors import from_constructor

    callbacks = instantiate_all(cfg.get("callbacks"))
    if marks is not None:
        callbacks.append(marks.callback())
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, pl.callbacks.ProgressBar)]
    if run_config is not None:
        from gauntlet.callbacks.run_config import RunConfig

        callbacks.append(RunConfig(run_config))
    step_every = cfg.trainer.get("log_every_n_steps")
    if step_every is not None:  # else metrics are logged per epoch only
        from gauntlet.callbacks.step_loss import StepLoss

        callbacks.append(StepLoss())
    loggers = []
    for node in (cfg.get("logger") or {}).values():
        if not node or "_target_" not in node:
            continue
        extra = wandb_fields(cfg, run_id) if _is_wandb(node._target_) else {}
        loggers.append(hydra.utils.instantiate(node, **extra))
    with from_constructor("trainer"):
        make_trainer = hydra.utils.instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers or False, _partial_=True
        )
        # 0: Lightning neither gathers step metrics nor warns that an epoch is shorter than
        # its default interval of 50 steps
        return make_trainer(plugins=[AsyncCheckpointIO()], log_every_n_steps=step_every or 0)


def _is_wandb(target: str) -> bool:
    from pytorch_lightning.loggers import WandbLogger

    try:
        cls = hydra.utils.get_class(target)
    except Exception:  # an unknown target fails when instantiated, with Hydra's message
        return False
    return isinstance(cls, type) and issubclass(cls, WandbLogger)


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


def check_leaderboard_url(cfg: DictConfig) -> None:
    """A database that cannot keep the run's row is refused before anything trains."""
    from gauntlet.leaderboard.location import refuse_in_memory

    settings = cfg.get("leaderboard") or {}
    if settings.get("enabled", True):
        url = settings.get("url") or os.environ.get("GAUNTLET_LEADERBOARD_URL", "").strip()
        if url:
            try:
                refuse_in_memory(str(url))
            except GauntletError as err:
                raise GauntletError(f"leaderboard.url: {err}") from None


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
    from gauntlet.compat.lightning.ddp import reruns_command

    if not (job.multirun and reruns_command(trainer)):
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


def describe(
    record: RunRecord,
    trainer: Any,
    module: Any,
    datamodule: Any,
    run_dir: Path,
    clock: StartupClock | None = None,
) -> None:
    """What the built run is: device, size, data; the wandb run it logs to (its start timed
    as ``wandb`` on ``clock``)."""
    import torch
    from pytorch_lightning.loggers import WandbLogger

    from gauntlet.models.base import count_parameters
    from gauntlet.redaction import scrub_secrets

    fields: dict[str, Any] = {
        "device": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
        "num_params": count_parameters(module.net),
        "data_sizes": datamodule.sizes(),
        "data_fingerprint": datamodule.fingerprint(),
        # labels mean these classes; eval on other data is checked against the checkpoint's map
        "class_map": {name: i for i, name in enumerate(datamodule.spec.class_names or ())},
        # CPU results depend on the thread count (the order of reductions): reproduce sets it
        "threads": torch.get_num_threads(),
    }
    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger):
            fields["wandb"] = {"id": record.manifest["run_id"], "dir": str(run_dir / "wandb")}
            # wandb records the command line of the process that starts its run
            argv, sys.argv = sys.argv, scrub_secrets(sys.argv)
            try:
                with clock.phase("wandb") if clock else nullcontext():
                    lg.log_hyperparams(record.manifest["config"])
            finally:
                sys.argv = argv
    record.update(**fields)


def fit(
    cfg: DictConfig,
    trainer: Any,
    module: Any,
    datamodule: Any,
    ckpt,
    job,
    marks: FitMarks | None = None,
) -> dict:
    if cfg.train:
        with (
            ddp_child_command(trainer, job),
            marks.fitting() if marks else nullcontext(),
            trainer_argument_errors(cfg.trainer),
        ):
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
    return logged_metrics(trainer)


def logged_metrics(trainer: Any) -> dict[str, float]:
    """Every scalar the run has logged so far (what a stopped run keeps too)."""
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


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


def run(cfg: DictConfig, job: JobInfo | None = None) -> float | None:
    """Train one configured run: compose (done by Hydra) -> build -> fit -> test -> robust.

    Its record (manifest, leaderboard row, lock, heartbeat, exit code) is the RunRecord's
    business. ``job`` says how the run was started; by default Hydra's view of the job.
    """
    import time

    started = time.perf_counter()
    requeue.stop_on_sigterm_until_recorded()
    import pytorch_lightning  # noqa: F401  (first here: its import is timed apart)
    from pytorch_lightning.utilities.rank_zero import rank_zero_only

    clock = StartupClock(libraries_s=time.perf_counter() - started)

    from gauntlet.config_schema import rename_former_keys, validate
    from gauntlet.hidden_configs import refuse_hidden_choices
    from gauntlet.run.redact_files import redact_hydra_files

    job = job or JobInfo.from_hydra()
    marks = FitMarks(clock)
    run_dir = Path(cfg.paths.output_dir)
    with clock.phase("compose"):
        redact_hydra_files(run_dir)  # Hydra wrote them before any check could run
        cap_threads()
        refuse_hidden_choices(job.choices)
        rename_former_keys(cfg)
        validate(cfg)
        check_group_can_form(cfg.trainer)
        check_leaderboard_url(cfg)
        finished = requeue.finished_before_requeue(run_dir)
        if finished is not None:
            log.info("run %s had completed before SLURM requeued its job", finished["run_id"])
            return finished["metrics"].get(cfg.optimized_metric)
        continue_requeued_job(cfg, run_dir)
        ckpt_path = resume_checkpoint(cfg, run_dir)
    with clock.phase("manifest"):
        manifest, previous = start_manifest(cfg, run_dir, ckpt_path, job)
        manifest.update(gpu_placement(), **requeue.job_fields())
    datamodule, module, trainer = build(
        cfg, manifest["run_id"], clock, marks, run_config=manifest["config"]
    )
    if ckpt_path:
        from gauntlet.run.checkpoints import check_same_model

        check_same_model(Path(ckpt_path), module, str(ckpt_path))
    # DDP children re-run this command with LOCAL_RANK set; rank 0 keeps the record
    is_zero = rank_zero_only.rank == 0
    rec = RunRecord(cfg, run_dir, manifest, writer=is_zero, previous_metrics=previous)
    try:
        with job_scope(job), ExitStack() as stack:
            with clock.phase("record"):
                stack.enter_context(rec)
            rec.measure_with(lambda: {**clock.metrics(), **logged_metrics(trainer)})
            describe(rec, trainer, module, datamodule, run_dir, clock)
            with forming_group(trainer, rec.abandon):
                metrics = fit(cfg, trainer, module, datamodule, ckpt_path, job, marks)
            rec.update(epochs=trainer.current_epoch, steps=trainer.global_step)
            rec.measured(metrics)
            metrics.update(test(cfg, trainer, module, datamodule))
            rec.measured(metrics)
            metrics.update(robust(cfg, trainer, module, datamodule, run_dir))
            metrics.update(clock.metrics())
            rec.finish(metrics)
    finally:
        finish_wandb()
    if is_zero:
        log.info(
            "run %s completed: %s; written to %s",
            manifest["run_id"],
            _summary(rec.manifest["metrics"]),
            run_dir,
        )
    return rec.manifest["metrics"].get(cfg.optimized_metric)


def start_wandb_runs(trainer: Any) -> None:
    """Start the wandb run of each wandb logger now, not at its first metric inside fit."""
    from pytorch_lightning.loggers import WandbLogger

    for lg in trainer.loggers:
        if isinstance(lg, WandbLogger):
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


def _summary(metrics: dict[str, float]) -> str:
    keys = [k for k in ("test/acc", "test/f1", "val/acc_best") if k in metrics]
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys)


register_schemas()
install_hydra_mode_shortcut()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """One job. In a multirun a failed job is recorded and returns NaN, so the sweep goes on
    (the Optuna sweeper records NaN as a FAILED trial); the sweep's summary names it.
    Alone, a job ends with one message and its exit code (see :mod:`gauntlet.run.record`)."""
    from gauntlet.run.record import EXIT_FAILED, EXIT_USER_ERROR, RunStopped, is_pruned

    os.environ.setdefault("WANDB_MODE", "offline")
    job = JobInfo.from_hydra()
    if job.multirun:
        from gauntlet.run.redact_files import redact_yaml

        redact_yaml(Path(HydraConfig.get().sweep.dir) / "multirun.yaml")
    try:
        if cfg.get("resume"):
            cfg, job = resume_config(cfg, job)
        return run(cfg, job)
    except RunStopped as stop:
        # recorded; the way to continue is the last line the user sees
        print(stop.line, file=sys.stderr)
        raise SystemExit(stop.code) from None
    except Exception as err:
        if job.multirun:
            num = HydraConfig.get().job.num
            if is_pruned(err):
                log.info("job %s pruned: %s", num, err)
            else:
                log.error("job %s failed: %s: %s", num, type(err).__name__, err)
            return float("nan")
        # Hydra wraps errors raised while building an object in an InstantiationException
        user_error = err if isinstance(err, GauntletError) else err.__cause__
        if isinstance(user_error, GauntletError):
            from gauntlet.run.stray import discard_if_stray

            hc = HydraConfig.get()
            discard_if_stray(Path(hc.runtime.output_dir), hc.job.name)
            exit_with(user_error, EXIT_USER_ERROR)
        if isinstance(err, RunFailed):
            exit_with(err, EXIT_FAILED)
        raise
