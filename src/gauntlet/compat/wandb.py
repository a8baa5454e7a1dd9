"""wandb internals (measured on wandb 0.31.0).

``skip_unstaged_launch_inputs``: a run's start imports W&B Launch (about 0.5 s of CPU, pydantic
models of the whole public API) only to apply inputs staged by Launch's
``manage_config_file``/``manage_wandb_config``. Those import the module that stages them, so
where it is not imported yet nothing can have been staged and there is nothing to apply. wandb
has no setting for it. Test: ``tests/test_startup.py``.
"""

from __future__ import annotations

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
