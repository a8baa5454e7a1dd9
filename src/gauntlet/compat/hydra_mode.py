"""Hydra composes a command's whole config twice: once only to read ``hydra.mode``.

``hydra.main`` asks ``Hydra.get_mode`` whether the config sets ``hydra.mode`` (RUN or MULTIRUN)
before it composes the config it runs, and that question costs a full composition (about
0.15 s of CPU for gauntlet's configs, measured on Hydra 1.3.2). The answer is None, as Hydra's
own is, unless a command-line override or a config file sets the key; only then is Hydra asked.
A file "sets" it when a line reads ``mode: RUN`` or ``mode: MULTIRUN`` (or ``searchpath:``,
which adds folders not scanned): a cheap scan of the config folders on the app's own search
path (its ``config_path`` and any ``--config-dir``) that errs only towards asking Hydra. Tested by tests/test_startup.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

# `mode: RUN|MULTIRUN`, or a `searchpath:` that adds folders this scan does not see
_SETS_MODE = re.compile(rb"^\s*(mode\s*:\s*['\"]?(RUN|MULTIRUN)\b|searchpath\s*:)", re.MULTILINE)


@cache
def _dir_sets_mode(directory: Path) -> bool:
    return any(_SETS_MODE.search(p.read_bytes()) for p in directory.rglob("*.yaml"))


def mode_may_be_set(overrides: Iterable[str], directories: Iterable[Path]) -> bool:
    """Whether ``hydra.mode`` may be set by these overrides or the configs in these folders."""
    for override in overrides:
        key = override.lstrip("~+").split("=", 1)[0]
        # another search path or config folder: its files were not scanned
        if key in ("hydra.mode", "hydra.searchpath") or key.startswith("hydra.mode."):
            return True
    return any(_dir_sets_mode(d) for d in directories if d.is_dir())


def _folders(hydra: Any) -> list[Path]:
    """The config folders on the search path of the app being started: its primary config
    folder and any ``--config-dir`` (packaged and structured configs are Hydra's and plugins')."""
    folders = []
    for element in hydra.config_loader.get_search_path().get_path():
        path = element.path
        if path.startswith("file://"):
            folders.append(Path(path.removeprefix("file://")))
        elif "://" not in path:  # an absolute config_path of hydra.main is kept without a scheme
            folders.append(Path(path))
    return folders


def install() -> None:
    """Answer ``Hydra.get_mode`` without composing when nothing can set ``hydra.mode``."""
    from hydra._internal.hydra import Hydra

    original = Hydra.get_mode
    if getattr(original, "_gauntlet_scans_first", False):
        return

    def get_mode(self: Any, config_name: str | None, overrides: list[str]) -> Any:
        if mode_may_be_set(overrides, _folders(self)):
            return original(self, config_name=config_name, overrides=overrides)
        return None

    get_mode._gauntlet_scans_first = True  # type: ignore[attr-defined]
    Hydra.get_mode = get_mode
