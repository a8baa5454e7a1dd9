"""Lightning's DDP launcher inside a Hydra multirun: whether it re-runs the command line, the
command it re-runs, and the state it leaves behind.

``reruns_command``: Lightning says so only through private API. Its DDP launcher for scripts,
``_SubprocessScriptLauncher``, starts ranks 1.. by re-running ``sys.argv``, unless the cluster
environment creates the processes itself (SLURM, torchelastic). Inside a Hydra multirun that
re-run would start the whole sweep again in every child, so ``gauntlet.run.launch`` rewrites the
command line for the job's duration (``rerun_as_job``) when, and only when, this says the
launcher re-runs it.

``rerun_as_job``: the launcher starts ranks 1.. by re-running ``sys.argv`` with
``hydra.run.dir=<HydraConfig run.dir>`` appended; Lightning has no setting for the command it
runs. For the job's duration the command line becomes the job's own overrides and
``hydra.run.dir`` its output directory, both given back after.

``drop_process_group``: the launcher leaves its process group and ``MASTER_PORT`` (with the rest
of the environment it set for its children) in this process when fit returns. The next job of
the same multirun would join that group, whose peers have exited. After the job the group is
destroyed and the environment put back as it was, so the next job starts its own.

Fixes, not speed-ups: they run once a fit and have no per-step figure. Measured on
pytorch-lightning 2.6.6 (hydra-core 1.3.2, torch 2.13.0). Pinned by
``tests/test_launchers.py::test_ddp_inside_a_basic_multirun_runs_each_job_once`` (two DDP jobs in
one process: each runs once, in its own directory).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def reruns_command(trainer: Any) -> bool:
    """True when the trainer's launcher starts its other processes by re-running ``sys.argv``."""
    from pytorch_lightning.strategies.launchers.subprocess_script import (
        _SubprocessScriptLauncher,
    )

    launcher = getattr(trainer.strategy, "launcher", None)
    return isinstance(launcher, _SubprocessScriptLauncher) and not getattr(
        launcher.cluster_environment, "creates_processes_externally", False
    )


@contextmanager
def rerun_as_job(overrides: Sequence[str]) -> Iterator[None]:
    """Inside, the DDP children Lightning starts re-run this Hydra job alone, in its own
    output directory."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    hc = HydraConfig.get()
    argv, run_dir = list(sys.argv), hc.run.dir
    sys.argv = [sys.argv[0], *overrides]
    with read_write(hc.run):
        hc.run.dir = hc.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        with read_write(hc.run):
            hc.run.dir = run_dir


# what Lightning's DDP launcher puts into this process's environment for its children
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "WORLD_SIZE", "LOCAL_RANK")


@contextmanager
def drop_process_group(after: bool = True) -> Iterator[None]:
    """With ``after``, leave no process group and no launcher environment behind the block."""
    saved = {key: os.environ.get(key) for key in DDP_ENV}
    try:
        yield
    finally:
        if after:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
