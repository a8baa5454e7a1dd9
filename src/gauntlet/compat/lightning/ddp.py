"""Whether the trainer's strategy starts its other ranks by re-running the command line.

Works around: Lightning says so only through private API. Its DDP launcher for scripts,
``_SubprocessScriptLauncher``, starts ranks 1.. by re-running ``sys.argv``, unless the cluster
environment creates the processes itself (SLURM, torchelastic). Inside a Hydra multirun that
re-run would start the whole sweep again in every child, so ``gauntlet.train`` rewrites the
command line for the job's duration when, and only when, this says the launcher re-runs it.

A fix, not a speed-up: it runs once a fit and has no per-step figure. Measured on
pytorch-lightning 2.6.6. Pinned by
``tests/test_launchers.py::test_ddp_inside_a_basic_multirun_runs_each_job_once``.
"""

from __future__ import annotations

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
