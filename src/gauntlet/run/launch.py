"""How a run was launched, and what its launcher asks of it: the job Hydra started (alone or
one of a multirun), the torch threads a parallel launcher allots it, the DDP children it starts
by re-running its command, and the distributed state it leaves for the next job."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gauntlet.errors import GauntletError

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
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        return cls(
            overrides=list(hc.overrides.task),
            choices=dict(hc.runtime.choices),
            multirun=hc.mode == RunMode.MULTIRUN,
            launcher=str(hc.launcher.get("_target_", "")),
            log_dir=str(hc.runtime.output_dir),
        )


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
    """Inside a multirun, make the DDP processes Lightning starts re-run this one job
    (:func:`gauntlet.compat.lightning.ddp.rerun_as_job`). Only Hydra's basic launcher runs jobs
    in a process whose command can be re-run; other launchers are refused with a way out."""
    from gauntlet.compat.lightning.ddp import rerun_as_job, reruns_command

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
    with rerun_as_job(job.overrides):
        yield


@contextmanager
def job_scope(job: JobInfo) -> Iterator[None]:
    """Leave no distributed state behind a multirun job, so the next job in this process
    starts its own process group (on a fresh port) instead of reusing one whose peers exited."""
    from gauntlet.compat.lightning.ddp import drop_process_group

    with drop_process_group(after=job.multirun):
        yield
