"""The exceptions a run ends with; the CLI prints their message (one paragraph) and exits."""


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
