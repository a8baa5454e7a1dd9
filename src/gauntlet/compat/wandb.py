"""wandb internals (measured on wandb 0.31.0).

``skip_unstaged_launch_inputs``: a run's start imports W&B Launch (about 0.5 s of CPU, pydantic
models of the whole public API) only to apply inputs staged by Launch's
``manage_config_file``/``manage_wandb_config``. Those import the module that stages them, so
where it is not imported yet nothing can have been staged and there is nothing to apply. wandb
has no setting for it. Test: ``tests/test_startup.py``.

``forget_inherited_service``: the process that starts a wandb service records it in its own
environment (``WANDB_SERVICE``, "VERSION-PID-unix-SOCKET" or "VERSION-PID-tcp-localhost-PORT",
PID the process that started it), and every process it starts afterwards, a SLURM job submitted
from it included, connects to that service instead of starting its own. A run then depends on a
process that is not its own: a job on another node cannot reach the socket, and a requeued
job's restart meets its first attempt's stream, still open in the shared service ("run ID ...
is in use"). The token's format is wandb's own (``wandb.sdk.lib.service.service_token``). Test:
``tests/test_wandb_service.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

LAUNCH_INPUTS = "wandb.sdk.launch.inputs.internal"


def skip_unstaged_launch_inputs() -> None:
    import wandb.sdk.wandb_run as wandb_run

    original = getattr(wandb_run.Run, "_detect_and_apply_job_inputs", None)
    if original is None or getattr(original, "_gauntlet_skips_unstaged", False):
        return

    def detect_and_apply_job_inputs(self: Any) -> None:
        if LAUNCH_INPUTS in sys.modules:
            original(self)

    detect_and_apply_job_inputs._gauntlet_skips_unstaged = True  # type: ignore[attr-defined]
    wandb_run.Run._detect_and_apply_job_inputs = detect_and_apply_job_inputs


SERVICE = "WANDB_SERVICE"


def forget_inherited_service() -> None:
    """Leave out of this process's environment a wandb service that another process started,
    so the run starts a service of its own; one that this process started stays."""
    token = os.environ.get(SERVICE)
    if not token:
        return
    fields = token.split("-")
    if len(fields) < 3 or fields[1] != str(os.getpid()):
        del os.environ[SERVICE]
