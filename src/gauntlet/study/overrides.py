"""Hydra override strings read as (key, value), so two spellings of one run compare equal.

A multirun records each job's overrides as Hydra re-writes them (``enable_progress_bar=False``
for ``=false``, ``0.1`` for ``0.10``); a run is the same run when its overrides mean the same
keys and values, whatever the spelling.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from gauntlet.errors import GauntletError

# Overrides that say where and how a run is launched, not what it computes: ignored when a
# recorded run is matched against a study's planned run.
PLACEMENT_PREFIXES = ("hydra.", "hydra/", "paths.", "leaderboard.")
# experiment_name labels a run (runs made before it followed the naming rule carry their
# study's name in it): it changes nothing computed
PLACEMENT_KEYS = ("launcher", "trainer.enable_progress_bar", "experiment_name")

_parser: Any = None


def _overrides_parser() -> Any:
    global _parser
    if _parser is None:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        _parser = OverridesParser.create()
    return _parser


def parse_one(text: str) -> tuple[str, Any] | None:
    """``(key, value)`` of one override (the key with its ``+``/``@package``), or None when
    it is a sweep (``a=1,2``); GauntletError when Hydra cannot read it."""
    from hydra.errors import HydraException

    try:
        (parsed,) = _overrides_parser().parse_overrides([text])
    except HydraException as err:
        message = str(err).strip().splitlines()[0]
        raise GauntletError(f"{text!r} is not a Hydra override: {message}") from None
    if parsed.is_sweep_override():
        return None
    return parsed.get_key_element(), _plain(parsed.value())


def key_of(text: str) -> str:
    parsed = parse_one(text)
    if parsed is None:
        return text.split("=", 1)[0]
    return parsed[0]


def is_placement(key: str) -> bool:
    bare = key.lstrip("+~")
    return bare.startswith(PLACEMENT_PREFIXES) or bare in PLACEMENT_KEYS


def identity(overrides: Iterable[str]) -> frozenset[tuple[str, str]]:
    """What a list of overrides computes: each key (placement keys left out) with its value in
    a canonical spelling. Unreadable or sweep overrides are kept as their text."""
    items = set()
    for text in overrides:
        try:
            parsed = parse_one(text)
        except GauntletError:
            parsed = None
        if parsed is None:
            items.add((text, ""))
            continue
        key, value = parsed
        if not is_placement(key):
            items.add((key, canonical(value)))
    return frozenset(items)


def canonical(value: Any) -> str:
    return json.dumps(_normal(value), sort_keys=True)


def _normal(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        number = float(value)
        return repr(number) if not math.isfinite(number) else number
    if isinstance(value, (list, tuple)):
        return [_normal(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _normal(item) for key, item in value.items()}
    return str(value)


def _plain(value: Any) -> Any:
    """Hydra's parsed value as plain Python (its quoted strings and containers)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
