"""The exceptions a run ends with; the CLI prints their message (one paragraph) and exits.

:func:`from_constructor` turns what torch, Lightning or a constructor raise from a user's value
into a :class:`GauntletError` naming the config key; it sits here, below every layer, because
building a datamodule (``gauntlet data pack``) reports a bad value the way training does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from gauntlet.compat.messages import key_named_in


class GauntletError(Exception):
    """A problem the user can fix: a bad override, a missing file, a corrupt checkpoint.

    The message names the key or file, what was expected, and the valid choices. Exit code 2.
    """


class RunFailed(Exception):
    """A run that started and could not finish for a reason the message gives: the disk
    filled, the loss diverged. It is recorded ``failed`` with that message. Exit code 1."""


def exit_with(err: BaseException, code: int = 2) -> None:
    """Leave a command with the error's message and no traceback (inside Hydra apps too,
    whose error handler would otherwise print one)."""
    import sys

    print(f"gauntlet: error: {err}", file=sys.stderr)
    raise SystemExit(code) from None


# what a Lightning key accepts, added to the error that names it
_ACCEPTS = {
    "trainer.accelerator": "cpu, or auto (a GPU where one exists)",
    "trainer.strategy": "auto, or ddp/fsdp where several devices exist",
    "trainer.devices": "a count >= 1 of devices this machine has, or auto",
}


def _value_errors() -> tuple[type[BaseException], ...]:
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    return (ValueError, TypeError, MisconfigurationException)


def _root(err: BaseException) -> BaseException:
    from hydra.errors import InstantiationException

    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return err


def as_user_error(group: str, err: BaseException) -> GauntletError:
    """``err``, raised while building the config group ``group``, as one line naming its key."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    # a constructor's own check starts with its argument: "hidden=0: expected ..."
    if re.match(r"^[A-Za-z_]\w*=", message):
        return GauntletError(f"{group}.{message}")
    key = key_named_in(group, message)
    if key is not None:
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
        if isinstance(root, _value_errors()):
            raise as_user_error(group, root) from None
        raise
