"""``key=value`` arguments of the ``explain`` and ``attack`` commands, checked against defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gauntlet.errors import GauntletError

REQUIRED = object()  # a default that says the key must be given


def parse_key_values(argv: list[str], defaults: Mapping[str, Any], command: str) -> dict[str, Any]:
    """``["n=4", "eps=[0,0.1]"]`` -> a dict of every key in ``defaults``, typed like its default.

    Unknown or missing keys, and values of the wrong type, raise GauntletError naming the key.
    """
    usage = " ".join(
        f"{key}=..." if default is REQUIRED else f"[{key}={default}]"
        for key, default in defaults.items()
    )
    for item in argv:
        if "=" not in item:
            raise GauntletError(
                f"{command}: expected key=value arguments, got {item!r}; usage: {usage}"
            )
    try:
        given = OmegaConf.to_container(OmegaConf.from_dotlist(argv))
    except OmegaConfBaseException as err:
        raise GauntletError(f"{command}: cannot parse {argv}: {err}") from err
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise GauntletError(
            f"{unknown[0]}: not an option of {command}; valid keys: {', '.join(defaults)}"
        )
    args = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        if value is REQUIRED:
            raise GauntletError(f"{key}: required by {command}; usage: {usage}")
        args[key] = _typed(key, value, default)
    return args


def _typed(key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if default is REQUIRED or default is None or isinstance(value, kind):
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    raise GauntletError(f"{key}={value!r}: expected {kind.__name__} like {default!r}")
