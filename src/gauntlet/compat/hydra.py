"""Hydra internals (measured on hydra-core 1.3.8).

``filter_group_options``: Hydra lists a group's options (``--help``, tab completion, the
choices in its errors, ``glob``) through ``ConfigRepository.get_group_options`` alone, and has
no public hook to leave some out. gauntlet wraps that one method so internal configs
(``model/base``, ``schema/*``) stay loadable but unlisted. Test:
``tests/test_first_hour.py::test_help_completion_and_choice_lists_show_only_what_a_user_can_choose``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def filter_group_options(keep: Callable[[str, list[str]], list[str]]) -> None:
    """Pass every option listing of a group through ``keep(group, names)``; idempotent."""
    from hydra._internal.config_repository import ConfigRepository

    original = ConfigRepository.get_group_options
    if getattr(original, "_gauntlet_filters", False):
        return

    def get_group_options(self: Any, group_name: str, *args: Any, **kwargs: Any) -> list[str]:
        return keep(group_name, original(self, group_name, *args, **kwargs))

    get_group_options._gauntlet_filters = True  # type: ignore[attr-defined]
    ConfigRepository.get_group_options = get_group_options
