"""What the commands on a trained network (``explain``, ``attack``) and their libraries share.

Their ``key=value`` arguments, checked against defaults; the device they run on; the
network's state while a gradient is taken with respect to its input (eval mode; cuDNN for
recurrent layers is :mod:`gauntlet.models.gradients`); and the padding mask of token
inputs, which every call of ``forward_embedded`` on a perturbed input carries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from gauntlet.errors import GauntletError

# -- key=value arguments -------------------------------------------------------------------

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


# -- the device ----------------------------------------------------------------------------


def pick_device(name: str) -> torch.device:
    """The ``device=auto|cpu|cuda`` argument; auto takes a GPU where there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise GauntletError(f"device={name!r}: expected one of auto, cpu, cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise GauntletError("device=cuda: no CUDA device is available here; use device=cpu")
    return torch.device(name)


# -- the network's mode while taking input gradients ---------------------------------------


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration of the block; every submodule's own flag comes back afterwards."""
    modes = {module: module.training for module in net.modules()}
    net.eval()
    try:
        yield net
    finally:
        for module, training in modes.items():
            module.training = training


def device_of(net: nn.Module) -> torch.device:
    """The device holding the network's parameters (CPU for a network without any)."""
    for param in net.parameters():
        return param.device
    return torch.device("cpu")


def padding_mask(net: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The network's padding mask of ``x`` (True at real tokens), or None where it has none:
    images, real-valued sequences, or a module outside the network contract."""
    make = getattr(net, "padding_mask", None)
    return make(x) if callable(make) else None
