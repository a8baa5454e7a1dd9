"""Errors that torch, Lightning or a constructor raise from a user's value, as gauntlet's user
error: one paragraph naming the config key and what it accepts (exit code 2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gauntlet.errors import GauntletError

# words in torch's and Lightning's messages -> the key they are about, below the group
_KEY_WORDS = {
    "model.optimizer": (
        ("learning rate", "lr"),
        ("weight_decay", "weight_decay"),
        ("beta", "betas"),
        ("epsilon", "eps"),
        ("momentum", "momentum"),
        ("dampening", "dampening"),
    ),
    "trainer": (
        ("precision", "precision"),
        ("accelerator", "accelerator"),
        ("gpu", "accelerator"),
        ("cuda", "accelerator"),
        ("mps", "accelerator"),
        ("strategy", "strategy"),
        ("devices", "devices"),
        ("num_nodes", "num_nodes"),
        ("max_epochs", "max_epochs"),
        ("max_steps", "max_steps"),
        ("val_check_interval", "val_check_interval"),
        ("limit_", "limit_*_batches"),
        ("gradient_clip", "gradient_clip_val"),
        ("accumulate_grad_batches", "accumulate_grad_batches"),
        ("profiler", "profiler"),
    ),
}
_ACCEPTS = {
    "trainer.accelerator": "cpu, or auto (a GPU where one exists)",
    "trainer.strategy": "auto, or ddp/fsdp where several devices exist",
    "trainer.devices": "a count >= 1 of devices this machine has, or auto",
}


def _errors() -> tuple[type[BaseException], ...]:
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    return (ValueError, TypeError, MisconfigurationException)


def _root(err: BaseException) -> BaseException:
    from hydra.errors import InstantiationException

    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return err


def as_user_error(group: str, err: BaseException) -> GauntletError:
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    # a constructor's own check starts with its argument: "hidden=0: expected ..."
    if re.match(r"^[A-Za-z_]\w*=", message):
        return GauntletError(f"{group}.{message}")
    lowered = message.lower()
    for word, key in _KEY_WORDS.get(group, ()):
        if word in lowered:
            name = f"{group}.{key}"
            accepts = f"; it accepts {_ACCEPTS[name]}" if name in _ACCEPTS else ""
            return GauntletError(f"{name}: {message}{accepts}")
    return GauntletError(f"{group}: {message}; check the {group}.* keys of the command")


@contextmanager
def from_constructor(group: str) -> Iterator[None]:
    """Turn what building the config group ``group`` raises from a bad value into a user error."""
    try:
        yield
    except Exception as err:
        root = _root(err)
        if isinstance(root, GauntletError):
            raise root from None
        if isinstance(root, _errors()):
            raise as_user_error(group, root) from None
        raise


def check_optimizer(module: Any) -> None:
    """Build the optimizer and scheduler once before training, so a bad value (a negative
    learning rate) is reported as the key it came from, not from inside ``fit``."""
    factory = getattr(module, "optimizer_factory", None)
    if factory is None:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    with from_constructor("model.optimizer"):
        factory(params=params)
    if getattr(module, "scheduler_factory", None) is not None:
        with from_constructor("model.scheduler"):
            module.configure_optimizers()
