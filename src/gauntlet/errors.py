"""The one exception a user can cause; the CLI prints its message and exits non-zero."""


class GauntletError(Exception):
    """A problem the user can fix: a bad override, a missing file, a corrupt checkpoint.

    The message names the key or file, what was expected, and the valid choices.
    """


def exit_with(err: GauntletError, code: int = 2) -> None:
    """Leave a command with the error's message and no traceback (inside Hydra apps too,
    whose error handler would otherwise print one)."""
    import sys

    print(f"gauntlet: error: {err}", file=sys.stderr)
    raise SystemExit(code) from None
