"""Building a configured component: a network by the contract, any optimizer or scheduler.

A ``_target_`` may name any class; what the config passes it is checked against the class's own
signature first, so a wrong key fails before training with a message that names the class, the
key and the arguments the class does take.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any

from torch import nn

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.models.base import ContractNetwork, Network
from gauntlet.settings import check_settings

HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")


def locate(target: str, key: str) -> Callable[..., Any]:
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception as err:  # hydra wraps ImportError/AttributeError in its own exceptions
        module = target.rpartition(".")[0]
        raise GauntletError(
            f"{key}._target_={target}: cannot import it ({str(err).splitlines()[0]}). A module "
            f"of your own ({module}.py) is found in the directory the command runs from, or "
            "beside the --config-dir directory"
        ) from err


def parameters(fn: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool]:
    """The named parameters ``fn`` accepts, and whether it takes ``**kwargs`` as well."""
    signature = inspect.signature(fn)
    named = {
        name: p
        for name, p in signature.parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name != "self"
    }
    open_ended = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    return named, open_ended


def check_arguments(
    fn: Callable[..., Any],
    given: Collection[str],
    key: str,
    supplied: Collection[str] = (),
) -> None:
    """Refuse a configured argument ``fn`` does not take, or a required one left out.

    ``supplied`` are the arguments gauntlet passes itself (``spec``, ``params``, ``optimizer``).
    """
    name = getattr(fn, "__qualname__", repr(fn))
    named, open_ended = parameters(fn)
    own = [n for n in named if n not in supplied]
    unknown = [k for k in given if k not in named and k not in HYDRA_KEYS]
    if unknown and not open_ended:
        raise GauntletError(
            f"{key}.{unknown[0]}: {fn.__module__}.{name} takes no argument {unknown[0]!r}; "
            f"it takes: {', '.join(own) or 'none'}"
        )
    missing = [
        n for n, p in named.items() if p.default is p.empty and n not in given and n not in supplied
    ]
    if missing:
        raise GauntletError(
            f"{key}: {fn.__module__}.{name} needs {', '.join(missing)}; "
            f"set {key}.{missing[0]}=VALUE (it takes: {', '.join(own)})"
        )


def check_factory(factory: Any, key: str, supplied: Collection[str]) -> None:
    """Check a ``_partial_: true`` optimizer or scheduler before it is called."""
    if isinstance(factory, functools.partial):
        check_arguments(factory.func, factory.keywords, key, supplied)


def build_network(node: Mapping[str, Any], spec: InputSpec, key: str = "model.net") -> Network:
    """Instantiate ``node`` for ``spec`` and return it under the network contract.

    The class needs ``spec`` plus its own keyword hyperparameters; ``forward(x)`` returns logits.
    """
    import hydra

    target = node.get("_target_")
    if not target:
        raise GauntletError(f"{key}: no _target_; name the network class, e.g. my_nets.TinyMLP")
    cls = locate(str(target), key)
    named, open_ended = parameters(cls)
    if "spec" not in named and not open_ended:
        raise GauntletError(
            f"{key}._target_={target}: its constructor must take `spec` (gauntlet's InputSpec: "
            "modality, shape, num_classes, vocab_size) before its own hyperparameters"
        )
    check_arguments(cls, [k for k in node if k not in HYDRA_KEYS], key, supplied=("spec",))
    check_settings(cls, node, key)  # the ranges its signature annotates, a user's class too
    net = hydra.utils.instantiate(node, spec=spec)
    if not isinstance(net, nn.Module):
        raise GauntletError(
            f"{key}._target_={target}: built a {type(net).__name__}, not a nn.Module"
        )
    return as_network(net, spec, str(target))


def as_network(net: nn.Module, spec: InputSpec, target: str = "") -> Network:
    """gauntlet's own networks as they are; any other module behind the contract's interface."""
    if isinstance(net, Network):
        return net
    return ContractNetwork(net, spec, target or type(net).__qualname__)
