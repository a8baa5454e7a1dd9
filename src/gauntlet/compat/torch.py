"""torch internals (measured on torch 2.13.0).

``drop_hooks``: ``nn.Module`` has public ways to add a forward hook, not to remove one you did
not register. The FLOPs probe counts a deep copy of the user's network and must not run the
hooks the user (or a library) put on it. Test: ``tests/test_flops.py``.

``dynamo_graphs``: whether ``torch.compile`` captured a graph shows only in Dynamo's counters;
``model.compile=true`` falls back to eager when it captured none. Test:
``tests/test_compute.py`` (compile).

``uncompiled_keys``: a module wrapped by ``torch.compile`` (an ``OptimizedModule``) saves its
weights under the private attribute ``_orig_mod``; a checkpoint written that way loads into the
plain network once the prefix is dropped. gauntlet compiles a method in place
(``gauntlet.models.compile``), so only checkpoints of older runs carry it. Test:
``tests/test_checkpoint_reading.py``.
"""

from __future__ import annotations

from typing import Any

from torch import nn


def drop_hooks(net: nn.Module) -> None:
    """Remove every forward and forward-pre hook of ``net`` and its submodules (a copy's)."""
    for module in net.modules():
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()


def dynamo_graphs() -> int:
    """How many distinct graphs Dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


# where an OptimizedModule keeps the module it wraps, in its state-dict keys
_COMPILED_PREFIX = "_orig_mod."


def uncompiled_keys(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with every ``_orig_mod.`` of a compiled module's keys dropped."""
    return {key.replace(_COMPILED_PREFIX, ""): value for key, value in state.items()}
