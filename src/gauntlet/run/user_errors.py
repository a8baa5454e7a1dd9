"""Errors that torch, Lightning, a constructor or Hydra's composition raise from a user's value,
as gauntlet's user error: one paragraph naming the config key and what it accepts (exit code 2).

Building one config group is guarded by :func:`gauntlet.errors.from_constructor`; this module
adds the optimizer's check and Hydra's composition errors."""

from __future__ import annotations

import re
from typing import Any

from gauntlet.compat.messages import is_unknown_key, missing_config_path
from gauntlet.errors import GauntletError, from_constructor


def check_optimizer(module: Any) -> None:
    """Build the optimizer and scheduler once before training, so a bad value (a negative
    learning rate) is reported as the key it came from, not from inside ``fit``."""
    factory = getattr(module, "optimizer_factory", None)
    if factory is None:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    with from_constructor("model.optimizer"):
        factory(params=params)
    if getattr(module, "scheduler_factory", None) is not None:
        with from_constructor("model.scheduler"):
            module.configure_optimizers()


# -- errors Hydra raises while composing the config -------------------------------------------


def _type_name(kind: Any) -> str:
    """What a schema field's type accepts, in words."""
    import typing

    args = [a for a in typing.get_args(kind) if a is not type(None)]
    optional = len(args) < len(typing.get_args(kind))
    if optional and len(args) == 1:
        return f"{_type_name(args[0])} or null"
    words = {
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        str: "a string",
    }
    if kind in words:
        return words[kind]
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        return "a list, [a,b,...]"
    return getattr(kind, "__name__", str(kind))


def _schema_field(object_type: Any, key: str) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(object_type):
        for f in dataclasses.fields(object_type):
            if f.name == key:
                return f.type if not isinstance(f.type, str) else _resolve_type(object_type, key)
    return None


def _resolve_type(object_type: Any, key: str) -> Any:
    import typing

    return typing.get_type_hints(object_type).get(key)


def _keys_of(parent: Any, object_type: Any) -> list[str]:
    """The keys a node has: its own (when the error carries it), else its schema's fields."""
    import dataclasses

    from omegaconf import DictConfig

    if isinstance(parent, DictConfig):
        return [str(k) for k in parent]
    if dataclasses.is_dataclass(object_type):
        return [f.name for f in dataclasses.fields(object_type)]
    return []


def closest(word: str, choices: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(word, choices, n=3, cutoff=0.6)


def _suggest(word: str, choices: list[str], prefix: str = "") -> str:
    near = closest(word, choices)
    return f" (did you mean {' or '.join(prefix + n for n in near)}?)" if near else ""


def group_options(group: str, groups: bool = False) -> list[str]:
    """The options of ``group`` (or its sub-groups) that a user can choose."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.object_type import ObjectType

    if not GlobalHydra.instance().is_initialized():
        return []
    loader = GlobalHydra.instance().config_loader()
    kind = ObjectType.GROUP if groups else ObjectType.CONFIG
    return sorted(o for o in loader.get_group_options(group, kind) if o != "hydra")


def _missing_plugin(group: str, option: str) -> GauntletError | None:
    """``hydra/launcher/ray`` exists only once its Hydra plugin is installed: name the package,
    and gauntlet's extra that installs it (read from the installed package's metadata)."""
    from importlib import metadata

    if not group.startswith("hydra/") or group.count("/") != 1:
        return None
    kind = group.split("/")[1]  # launcher, sweeper
    package = f"hydra-{option.split('_')[0]}-{kind}"
    try:
        requirements = metadata.requires("gauntlet") or []
    except metadata.PackageNotFoundError:
        requirements = []
    extra = None
    listed = False
    for req in requirements:
        name, _, marker = req.partition(";")
        if name.strip().lower().startswith(package):
            listed = True
            found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            extra = found.group(1) if found else None
    from gauntlet.config import CONFIG_DIR

    chosen = f"{kind}={option}" if (CONFIG_DIR / kind / f"{option}.yaml").is_file() else None
    what = f"{chosen} ({group}={option})" if chosen else f"{group}={option}"
    if extra:
        how = f"pip install 'gauntlet[{extra}]'"
    elif listed:
        how = f"pip install {package} (a dependency of gauntlet: reinstall gauntlet)"
    else:
        how = f"pip install {package}"
    return GauntletError(
        f"{what} needs the Hydra plugin {package}, which is not installed; install it with: {how}"
    )


def _missing_config(err: Any) -> GauntletError:
    path = missing_config_path(err)
    if "/" not in path:  # a primary config (--config-name) that does not exist
        return GauntletError(str(err).strip().splitlines()[0])
    group, option = path.rsplit("/", 1)
    plugin = _missing_plugin(group, option)
    if plugin is not None:
        return plugin
    options = group_options(group)
    listed = f"; choose one of: {', '.join(options)}" if options else ""
    return GauntletError(f"{group}={option}: no such option{_suggest(option, options)}{listed}")


def _first_line(err: Any) -> str:
    text = str(getattr(err, "msg", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def composition_error(err: BaseException) -> GauntletError | None:
    """Hydra's composition errors (an unknown option or key, a value of the wrong type, a
    syntax error, an interpolation that does not resolve) as one user error naming the key or
    group, what it accepts and, for a misspelling, the closest valid names; None for others."""
    from hydra.errors import (
        ConfigCompositionException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        OmegaConfBaseException,
        ValidationError,
    )

    if isinstance(err, MissingConfigException):
        return _missing_config(err)
    if isinstance(err, OverrideParseException):
        first = str(err).strip().splitlines()[0]
        return GauntletError(
            f"cannot read the override: {first}; overrides are key=value, group=option, "
            "+key=value (add) or ~key (delete)"
        )
    cause = err.__cause__ if isinstance(err, ConfigCompositionException) else err
    if isinstance(err, ConfigCompositionException) and not isinstance(
        cause, OmegaConfBaseException
    ):
        return GauntletError(str(err).strip().replace("\n", "; "))
    if not isinstance(cause, OmegaConfBaseException):
        return None
    key = str(getattr(cause, "full_key", "") or "")
    leaf = str(getattr(cause, "key", "") or key.rsplit(".", 1)[-1])
    parent_key = key.rsplit(".", 1)[0] if "." in key else ""
    object_type = getattr(cause, "object_type", None)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and is_unknown_key(cause):
        keys = _keys_of(getattr(cause, "parent_node", None), object_type)
        if not parent_key:  # a top-level word: a group or a key of the primary config
            keys = sorted({*keys, *group_options("", groups=True)})
        prefix = f"{parent_key}." if parent_key else ""
        where = f"in {parent_key}" if parent_key else "at the top level (nor a config group)"
        listed = f"; its keys: {', '.join(sorted(keys))}" if keys else ""
        return GauntletError(
            f"{key}: no such key {where}{_suggest(leaf, keys, prefix)}{listed}. "
            f"To add a new key use +{key}=VALUE"
        )
    if isinstance(cause, ValidationError):
        kind = _schema_field(object_type, leaf)
        value = getattr(cause, "value", None)
        expected = f"expected {_type_name(kind)}" if kind is not None else "wrong type"
        return GauntletError(f"{key}={value}: {expected} ({_first_line(cause)})")
    first = _first_line(cause)
    return GauntletError(f"{key}: {first}" if key else first)
