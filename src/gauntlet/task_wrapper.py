"""The bookkeeping around a training run, kept out of its flow (as lightning-hydra-template's
``task_wrapper``): :func:`hydra_job` ends a Hydra job (exit codes, a failed multirun job's NaN);
:func:`recorded_run` surrounds one run, from the checks before anything is built to its last
row:

- the config checked (types, ranges, hidden choices, the leaderboard's URL) and the checkpoint
  to resume from chosen (:mod:`gauntlet.run.resume`); a restarted SLURM job whose run had
  completed trains nothing again (:mod:`gauntlet.run.requeue`);
- the manifest started, a new one or the run directory's own;
- the run's record (:class:`~gauntlet.run.record.RunRecord`: lock, heartbeat, rows into the
  :class:`~gauntlet.leaderboard.record.LeaderboardSink`) entered once the run is built;
- the start-up clock set around it all (:mod:`gauntlet.run.startup`);
- W&B started with the run's config and closed after it (:mod:`gauntlet.loggers`);
- no distributed state left for the next job of a multirun (:mod:`gauntlet.run.launch`).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from gauntlet.errors import GauntletError, RunFailed, exit_with
from gauntlet.run.launch import JobInfo

log = logging.getLogger(__name__)


def hydra_job(
    task: Callable[[DictConfig, JobInfo], float | None],
) -> Callable[[DictConfig], float | None]:
    """The Hydra task function that runs ``task(cfg, job)``. In a multirun a failed job is
    recorded and returns NaN, so the sweep goes on (the Optuna sweeper records NaN as a FAILED
    trial); the sweep's summary names it. Alone, a job ends with one message and its exit code
    (see :mod:`gauntlet.run.record`)."""

    @functools.wraps(task)
    def job_function(cfg: DictConfig) -> float | None:
        from hydra.core.hydra_config import HydraConfig

        from gauntlet.config import register_schemas
        from gauntlet.run.record import EXIT_FAILED, EXIT_USER_ERROR, RunStopped, is_pruned

        # a launcher's worker process runs the job without the CLI: the config's resolvers
        register_schemas()
        os.environ.setdefault("WANDB_MODE", "offline")
        job = JobInfo.from_hydra()
        if job.multirun:
            from gauntlet.run.redact_files import redact_yaml

            redact_yaml(Path(HydraConfig.get().sweep.dir) / "multirun.yaml")
        try:
            return task(cfg, job)
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

    return job_function


class RunTask:
    """One run's bookkeeping, as :func:`recorded_run` hands it to the run's flow."""

    def __init__(self, cfg: DictConfig, job: JobInfo, clock: Any) -> None:
        self.cfg, self.job, self.clock = cfg, job, clock
        self.run_dir = Path(cfg.paths.output_dir)
        self.metrics: dict[str, float] = {}
        self.sink: Any = None  # where the rows go: None with leaderboard.enabled=false
        self.ckpt_path: str | None = None
        self.manifest: dict[str, Any] = {}
        self.previous: dict[str, Any] = {}  # metrics an earlier attempt of the run recorded
        # the run's manifest, when this restarted SLURM job had already completed it
        self.completed_before_requeue: dict[str, Any] | None = None
        self.record: Any = None
        self._stack: ExitStack | None = None

    def check(self) -> None:
        """Everything that can be refused before anything is built; the checkpoint chosen."""
        from gauntlet.config_schema import rename_former_keys, validate
        from gauntlet.hidden_configs import refuse_hidden_choices
        from gauntlet.leaderboard.record import LeaderboardSink
        from gauntlet.run import requeue
        from gauntlet.run.launch import cap_threads
        from gauntlet.run.redact_files import redact_hydra_files
        from gauntlet.run.resume import continue_requeued_job, resume_checkpoint
        from gauntlet.run.trainer_args import check_group_can_form

        cfg = self.cfg
        redact_hydra_files(self.run_dir)  # Hydra wrote them before any check could run
        cap_threads()
        refuse_hidden_choices(self.job.choices)
        rename_former_keys(cfg)
        validate(cfg)
        check_group_can_form(cfg.trainer)
        self.sink = LeaderboardSink.for_run(cfg)
        finished = requeue.finished_before_requeue(self.run_dir)
        if finished is not None:
            log.info("run %s had completed before SLURM requeued its job", finished["run_id"])
            self.completed_before_requeue = finished
            return
        continue_requeued_job(cfg, self.run_dir)
        self.ckpt_path = resume_checkpoint(cfg, self.run_dir)

    def start_manifest(self) -> None:
        from gauntlet.run import requeue
        from gauntlet.run.resume import start_manifest
        from gauntlet.sweep.gpu_slot import gpu_placement

        self.manifest, self.previous = start_manifest(
            self.cfg, self.run_dir, self.ckpt_path, self.job
        )
        self.manifest.update(gpu_placement(), **requeue.job_fields())

    @property
    def run_id(self) -> str:
        return self.manifest["run_id"]

    @property
    def config(self) -> dict[str, Any]:
        """The run's resolved config as its manifest keeps it (credentials masked)."""
        return self.manifest["config"]

    def begin(self, trainer: Any, module: Any, datamodule: Any) -> None:
        """The run is built: its record starts (lock, manifest, start row, heartbeat), with
        what it is (device, size, data) and its W&B run."""
        from pytorch_lightning.utilities.rank_zero import rank_zero_only

        from gauntlet.loggers import has_wandb, start_wandb
        from gauntlet.run.record import RunRecord

        if self.ckpt_path:
            from gauntlet.run.checkpoints import check_same_model

            check_same_model(Path(self.ckpt_path), module, str(self.ckpt_path))
        # DDP children re-run this command with LOCAL_RANK set; rank 0 keeps the record
        self.record = RunRecord(
            self.run_dir,
            self.manifest,
            sink=self.sink,
            writer=rank_zero_only.rank == 0,
            previous_metrics=self.previous,
        )
        assert self._stack is not None
        with self.clock.phase("record"):
            self._stack.enter_context(self.record)
        self.record.measure_with(lambda: {**self.clock.metrics(), **logged_metrics(trainer)})
        fields = describe(trainer, module, datamodule)
        with self.clock.phase("wandb") if has_wandb(trainer) else nullcontext():
            wandb = start_wandb(trainer, self.run_id, self.config, self.run_dir)
        self.record.update(**fields, **({"wandb": wandb} if wandb else {}))

    @contextmanager
    def fitting(self, trainer: Any) -> Iterator[None]:
        """Around fit: a DDP group that cannot form ends the run, recorded; the epochs and steps
        trained are recorded after."""
        from gauntlet.run.group_watch import forming_group

        with forming_group(trainer, self.record.abandon):
            yield
        self.record.update(epochs=trainer.current_epoch, steps=trainer.global_step)

    def measured(self, metrics: dict[str, float]) -> None:
        """The metrics of a phase that ended, recorded at once."""
        self.metrics.update(metrics)
        self.record.measured(self.metrics)

    def finish(self, metrics: dict[str, float]) -> None:
        """The run completed, with the last phase's metrics and the start-up's."""
        self.metrics.update(metrics)
        self.metrics.update(self.clock.metrics())
        self.record.finish(self.metrics)

    @property
    def result(self) -> float | None:
        """The recorded value of ``optimized_metric`` (what a sweep optimizes)."""
        manifest = self.completed_before_requeue or self.record.manifest
        return manifest["metrics"].get(self.cfg.optimized_metric)


@contextmanager
def recorded_run(cfg: DictConfig, job: JobInfo | None = None) -> Iterator[RunTask]:
    """Around one run (see the module doc); ``job`` says how it was started, by default
    Hydra's view of the job."""
    from gauntlet.run import requeue
    from gauntlet.run.launch import job_scope
    from gauntlet.run.startup import StartupClock

    started = time.perf_counter()
    requeue.stop_on_sigterm_until_recorded()
    import pytorch_lightning  # noqa: F401  (first here: its import is timed apart)

    from gauntlet.loggers import finish_wandb

    clock = StartupClock(libraries_s=time.perf_counter() - started)
    task = RunTask(cfg, job or JobInfo.from_hydra(), clock)
    with clock.timing():
        with clock.phase("compose"):
            task.check()
        if task.completed_before_requeue is not None:  # nothing to train: the flow returns
            yield task
            return
        with clock.phase("manifest"):
            task.start_manifest()
        try:
            with job_scope(task.job), ExitStack() as stack:
                task._stack = stack
                yield task
        finally:
            finish_wandb()
    if task.record is not None and task.record.writer:
        log.info(
            "run %s completed: %s; written to %s",
            task.run_id,
            _summary(task.record.manifest["metrics"]),
            task.run_dir,
        )


def describe(trainer: Any, module: Any, datamodule: Any) -> dict[str, Any]:
    """What the built run is: device, size, data."""
    import torch

    from gauntlet.models.base import count_parameters

    return {
        "device": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
        "num_params": count_parameters(module.net),
        "data_sizes": datamodule.sizes(),
        "data_fingerprint": datamodule.fingerprint(),
        # labels mean these classes; eval on other data is checked against the checkpoint's map
        "class_map": {name: i for i, name in enumerate(datamodule.spec.class_names or ())},
        # CPU results depend on the thread count (the order of reductions): reproduce sets it
        "threads": torch.get_num_threads(),
    }


def logged_metrics(trainer: Any) -> dict[str, float]:
    """Every scalar the run has logged so far (what a stopped run keeps too)."""
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def _summary(metrics: dict[str, float]) -> str:
    keys = [k for k in ("test/acc", "test/f1", "val/acc_best") if k in metrics]
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys)
