"""The one exception a user can cause; the CLI prints its message and exits non-zero."""


class GauntletError(Exception):
    """A problem the user can fix: a bad override, a missing file, a corrupt checkpoint.

    The message names the key or file, what was expected, and the valid choices.
    """
