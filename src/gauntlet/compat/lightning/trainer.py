"""The trainer a LightningModule is attached to, or None when it is not attached yet.

Works around: ``LightningModule.trainer`` raises when no trainer is attached, and Lightning keeps
the attached one in the private ``_trainer``. gauntlet builds the optimizer and scheduler once
before ``fit`` (to report a bad value as its config key), where OneCycleLR's total steps cannot
come from a trainer yet.

A fix, not a speed-up. Measured on pytorch-lightning 2.6.6. Pinned by
``tests/test_contract.py::test_any_torch_optimizer_and_scheduler_trains_with_only_its_own_arguments``
(OneCycleLR without ``total_steps``).
"""

from __future__ import annotations

from typing import Any


def attached_trainer(module: Any) -> Any:
    """``module``'s trainer, or None before it is attached to one."""
    return getattr(module, "_trainer", None)
