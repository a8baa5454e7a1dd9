"""Inside a joblib worker: run one Hydra job in a process of its own and wait for it.

loky, joblib's process pool, treats the death of a worker as the death of the pool: it kills
every other worker and fails every job still queued (``TerminatedWorkerError``). So the worker
never runs a job itself. It forks a child for the job and reads the job's result from a pipe;
a child killed by a signal only leaves the pipe empty, and the worker reports that job as lost
(manifest and leaderboard row ``lost``, the value NaN, as gauntlet's failed jobs return) while
the pool carries on.
"""

from __future__ import annotations

import importlib
import logging
import math
import multiprocessing
import os
import pickle
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from hydra_plugins.gauntlet_launchers._gpu_slots import Slot, SlotLock

log = logging.getLogger(__name__)


def execute_job(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    slots: list[Slot],
    preload: Sequence[str],
) -> JobReturn:
    setup_globals()
    Singleton.set_state(singleton_state)
    for module in preload:
        importlib.import_module(module)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    job_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)

    lock = SlotLock(Path(str(sweep_config.hydra.sweep.dir)), slots) if slots else None
    environment = lock.acquire().environment() if lock else {}
    try:
        payload, exitcode = _run_in_child(hydra_context, sweep_config, task_function, environment)
    finally:
        if lock:
            lock.release()
    if payload is not None:
        return pickle.loads(payload)
    reason = _why_lost(exitcode)
    log.error("job %d (%s) was lost: %s", idx, " ".join(overrides), reason)
    _record_lost(job_dir, reason, sweep_config)
    return _lost_return(overrides, sweep_config, job_dir)


def _run_in_child(
    hydra_context: HydraContext,
    sweep_config: DictConfig,
    task_function: TaskFunction,
    environment: dict[str, str],
) -> tuple[bytes | None, int | None]:
    """The pickled JobReturn the child sent (None if it died first) and its exit code."""
    # fork: the job inherits Hydra's state and the preloaded modules without pickling them
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_child_main,
        args=(send, hydra_context, sweep_config, task_function, environment),
        name=f"hydra-job-{sweep_config.hydra.job.num}",
    )
    child.start()
    send.close()
    payload = None
    try:
        payload = receive.recv_bytes()
    except EOFError:
        pass
    finally:
        receive.close()
    child.join()
    return payload, child.exitcode


def _child_main(
    send: Any,
    hydra_context: HydraContext,
    sweep_config: DictConfig,
    task_function: TaskFunction,
    environment: dict[str, str],
) -> None:
    os.environ.update(environment)  # before the job can start CUDA: its GPU, and no other
    ret = run_job(
        hydra_context=hydra_context,
        config=sweep_config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    send.send_bytes(_dumps(ret))
    send.close()


def _dumps(ret: JobReturn) -> bytes:
    # cloudpickle, as joblib itself: the job's config holds dataclasses that Hydra's plugin
    # scan re-created, which plain pickle refuses to look up by name
    import cloudpickle

    try:
        return cloudpickle.dumps(ret)
    except Exception:
        # an exception object that does not pickle travels as its text
        from gauntlet.compat.hydra import job_error, replace_job_error

        error = job_error(ret)
        replace_job_error(ret, RuntimeError(f"{type(error).__name__}: {error}"))
        return cloudpickle.dumps(ret)


def _why_lost(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "an unknown signal"
        return f"its process was killed by signal {-exitcode} ({name})"
    return f"its process exited with status {exitcode} before the job returned"


def _record_lost(job_dir: Path, reason: str, sweep_config: DictConfig) -> None:
    """Mark the job's run ``lost`` (manifest and leaderboard row) if it had started one."""
    try:
        from gauntlet.sweep.lost import record_lost
    except ImportError:  # a Hydra app of its own, run without gauntlet's run record
        return
    task_config = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config if k != "hydra"])
    try:
        record_lost(job_dir, reason, task_config)
    except Exception as err:  # the sweep goes on; the next leaderboard command marks it
        log.warning("could not record the lost job in %s: %s", job_dir, err)


def _lost_return(overrides: Sequence[str], sweep_config: DictConfig, job_dir: Path) -> JobReturn:
    ret = JobReturn()
    ret.overrides = list(overrides)
    ret.cfg = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config if k != "hydra"])
    ret.hydra_cfg = sweep_config
    ret.working_dir = str(job_dir)
    ret.task_name = str(sweep_config.hydra.job.name)
    # completed with NaN, as gauntlet's failed jobs return, so Hydra's own sweeper goes on to
    # the sweep's end (it stops at the first FAILED job) and Optuna records the trial failed
    ret.status = JobStatus.COMPLETED
    ret.return_value = math.nan
    return ret
