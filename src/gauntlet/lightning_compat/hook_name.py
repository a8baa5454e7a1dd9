"""The hook name Lightning writes on the module, set without ``nn.Module``'s checks.

Works around: Lightning records the running hook's name in ``LightningModule._current_fx_name``
before and after every hook it calls, some forty times a training step. The name is a plain
string, yet each write goes through ``nn.Module.__setattr__``, whose parameter, module and
buffer checks cost microseconds each time.

Measured on pytorch-lightning 2.6.6. Pinned by
``tests/test_compute.py::test_hook_name_bookkeeping_skips_module_checks_and_nothing_else``.
"""

from __future__ import annotations

from typing import Any


class HookNameShortcut:
    """Mixed in before ``pl.LightningModule``: ``_current_fx_name`` goes straight to the
    instance dict; every other attribute takes ``nn.Module``'s path."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name":
            self.__dict__[name] = value
        else:
            super().__setattr__(name, value)
