"""A mistake in what Hydra composes is a user error: one message and exit code 2.

Hydra reports its composition errors itself (its ``run_and_report`` prints them and exits with
status 1) before any gauntlet code runs. Here that function is wrapped: an error raised while
composing, outside the task function, is translated by
:func:`gauntlet.run.user_errors.composition_error` and leaves ``hydra.main`` as a
:class:`~gauntlet.errors.GauntletError`, which the CLI prints and turns into exit code 2.
A :class:`~gauntlet.errors.GauntletError` leaves the same way from anywhere (a resolver that
checks a path runs inside Hydra's ``run_job``); other errors from inside the task (a run's own
failures) go to Hydra unchanged. Measured on Hydra
1.3.8; tested by tests/test_first_hour.py.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from gauntlet.errors import GauntletError


class _Escape(BaseException):
    """Carries the user error past ``run_and_report``'s ``except Exception``."""

    def __init__(self, error: GauntletError) -> None:
        super().__init__(str(error))
        self.error = error


def passes_through(tb: TracebackType | None, function: str, module: str) -> bool:
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == function and frame.f_globals.get("__name__") == module:
            return True
        tb = tb.tb_next
    return False


def raised_in_task(tb: TracebackType | None) -> bool:
    """Whether the traceback passes through Hydra's ``run_job``: the task function ran."""
    return passes_through(tb, "run_job", "hydra.core.utils")


def gauntlet_error_in(err: BaseException) -> GauntletError | None:
    """The user error behind ``err``: itself, or one a resolver raised, which OmegaConf wraps
    in its own InterpolationResolutionError (as the exception it was handling, not its cause).
    Errors the task raises do not get here with one inside: the task reports its own."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, GauntletError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def install(translate: Callable[[BaseException], GauntletError | None]) -> None:
    """Wrap ``hydra._internal.utils.run_and_report`` (idempotent). ``translate`` turns a
    composition error into the user error it stands for, or None for an error that is not one
    (gauntlet's is :func:`gauntlet.run.user_errors.composition_error`; passed in, so that this
    module sits below the run layer)."""
    import hydra._internal.utils as hydra_utils

    original = hydra_utils.run_and_report
    if getattr(original, "_gauntlet_user_errors", False):
        return

    def run_and_report(func: Any) -> Any:
        def guarded() -> Any:
            try:
                return func()
            except SystemExit as stop:
                # ``--cfg job -p NAME`` naming no package: Hydra prints why and exits 1
                shown = passes_through(stop.__traceback__, "show_cfg", "hydra._internal.hydra")
                if stop.code == 1 and shown:
                    raise SystemExit(2) from None
                raise
            except Exception as err:
                own = gauntlet_error_in(err)
                if own is not None:  # gauntlet's own check, wherever it ran
                    raise _Escape(own) from None
                if raised_in_task(err.__traceback__):
                    raise
                user_error = translate(err)
                if user_error is None:
                    raise
                raise _Escape(user_error) from None

        try:
            return original(guarded)
        except _Escape as escape:
            raise escape.error from None

    run_and_report._gauntlet_user_errors = True  # type: ignore[attr-defined]
    hydra_utils.run_and_report = run_and_report
