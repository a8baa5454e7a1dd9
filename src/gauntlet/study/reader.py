"""A mapping read into frozen dataclasses a key at a time, each key's type and range checked.

The dataclasses of :mod:`gauntlet.study.spec` are the one description of a study file: their
fields are the keys a user may write, with their types and defaults, and :func:`option` adds
what a key accepts in words (``accepts``), the range a typed value must fall in (``ok``), the
type the file gives where the checked object holds another (``file``: a plot's ``x`` is a string
or a mapping in the file, an ``Along`` once checked) and whether one value stands for a list of
one (``many``). A field marked ``derived`` is not a key: it is filled in when the file is read.

OmegaConf checks the types: from each class, :func:`file_keys` makes a structured config of its
keys alone, in their file types, so that a misspelt key or a wrong type names its full path
(``claims[2].tol``), what the key accepts and what was written.
"""

# OmegaConf 2.3 reads Optional[...] in structured configs, not X | None
# ruff: noqa: UP045

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ConfigTypeError, KeyValidationError, ValidationError

from gauntlet.errors import GauntletError

_NO_FILE_TYPE = object()


def option(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    accepts: str | None = None,
    ok: Callable[[Any], bool] | None = None,
    many: bool = False,
    file: Any = _NO_FILE_TYPE,
    derived: bool = False,
) -> Any:
    """A field of a study file's class (see the module's text)."""
    metadata = {"accepts": accepts, "ok": ok, "many": many, "file": file, "derived": derived}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def keys_of(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are keys of the file, in their order."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("derived")]


@cache
def file_keys(cls: type) -> type:
    """The structured config of ``cls``'s keys, each in the type the file gives it."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in keys_of(cls):
        given = f.metadata.get("file", _NO_FILE_TYPE)
        kind = _in_file(hints[f.name] if given is _NO_FILE_TYPE else given)
        default: dict[str, Any] = {"metadata": f.metadata}
        if f.default_factory is not dataclasses.MISSING:
            default["default_factory"] = _listed(f.default_factory)
        else:
            default["default"] = f.default
        fields.append((f.name, kind, dataclasses.field(**default)))
    made = dataclasses.make_dataclass(cls.__name__, fields)
    made.read_as = cls  # type: ignore[attr-defined]
    return made


def _listed(factory: Callable[[], Any]) -> Callable[[], Any]:
    """A default factory whose value is as the file gives it (see :func:`_as_file_value`)."""
    return lambda: _as_file_value(factory())


def _as_file_value(value: Any) -> Any:
    """A default as the file would give it: tuples as lists, a class's instance as its keys."""
    if isinstance(value, tuple):
        return [_as_file_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        keys = {f.name: _as_file_value(getattr(value, f.name)) for f in keys_of(type(value))}
        return file_keys(type(value))(**keys)
    return value


def _in_file(annotation: Any) -> Any:
    """``annotation`` as OmegaConf reads it: tuples as lists, ``X | None`` as Optional[X],
    a study file's class as its :func:`file_keys`."""
    if dataclasses.is_dataclass(annotation):
        return file_keys(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        kind = _in_file(inner[0]) if len(inner) == 1 else Any
        return Optional[kind] if type(None) in args else kind
    if origin is tuple:
        return list[_in_file(args[0])] if args else list
    if origin is list:
        return list[_in_file(args[0])]
    if origin is dict:
        return dict[args[0], _in_file(args[1])]
    return annotation


def read(path: Path, cls: type, data: Mapping[Any, Any], not_a_key: Mapping[type, str]) -> Any:
    """``data`` as an instance of ``cls``, every key, type and range checked. ``not_a_key``
    gives, per class, what an unknown key's message says after "KEY: " (``{}``: the keys)."""
    schema = file_keys(cls)
    cfg = _merge(path, schema, data, "", not_a_key)
    # OmegaConf.to_object (and missing_keys) would resolve ${...}, which belongs to the runs'
    # own configs: the objects are built from the unresolved values instead
    return _instance(path, schema, OmegaConf.to_container(cfg, resolve=False), "")


def _merge(
    path: Path, schema: type, data: Mapping[Any, Any], prefix: str, not_a_key: Mapping[type, str]
) -> DictConfig:
    """``data`` merged into ``schema``'s structured config a key at a time; a mapping inside it
    is merged into its own schema first, so each error knows the key's full path."""
    cfg = OmegaConf.structured(schema)
    types = typing.get_type_hints(schema)
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key in types:
            one = value is not None and not isinstance(value, (list, Mapping))
            if one and _field(schema, key).metadata.get("many"):
                value = [value]
            inner, many = _schema_in(types[key])
            if inner and not many and isinstance(value, Mapping):
                value = _merge(path, inner, value, f"{full}.", not_a_key)
            elif inner and many and isinstance(value, list):
                value = [
                    _merge(path, inner, item, f"{full}[{i}].", not_a_key)
                    if isinstance(item, Mapping)
                    else item
                    for i, item in enumerate(value)
                ]
        try:
            cfg[key] = value
        except ConfigKeyError:
            names = ", ".join(f.name for f in dataclasses.fields(schema))
            said = not_a_key[schema.read_as].format(names)
            raise GauntletError(f"{path}: {full}: {said}") from None
        except (ValidationError, KeyValidationError, ConfigTypeError):
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=False)
            accepts = _accepts(schema, key)
            raise GauntletError(f"{path}: {full}: expected {accepts}, got {value!r}") from None
    return cfg


def _instance(path: Path, schema: type, values: Mapping[str, Any], prefix: str) -> Any:
    """The study file's class behind ``schema``, holding ``values``, each given and within its
    range; lists where the class holds tuples become tuples."""
    types = typing.get_type_hints(schema)
    held = typing.get_type_hints(schema.read_as)
    fields = {}
    for key, value in values.items():
        full, ok = f"{prefix}{key}", _field(schema, key).metadata.get("ok")
        if value == MISSING:
            raise GauntletError(f"{path}: {full}: not given; expected {_accepts(schema, key)}")
        if ok is not None and value is not None and not (ok(value) and value == value):  # NaN
            raise GauntletError(f"{path}: {full}: expected {_accepts(schema, key)}, got {value!r}")
        inner, many = _schema_in(types[key])
        if inner and many and value is not None:
            value = [_instance(path, inner, v, f"{full}[{i}].") for i, v in enumerate(value)]
        elif inner and value is not None:
            value = _instance(path, inner, value, f"{full}.")
        if isinstance(value, list) and _holds_tuple(held[key]):
            value = tuple(value)
        fields[key] = value
    return schema.read_as(**fields)


def _holds_tuple(annotation: Any) -> bool:
    return any(typing.get_origin(a) is tuple for a in (annotation, *typing.get_args(annotation)))


def _schema_in(annotation: Any) -> tuple[type | None, bool]:
    """The class a field holds (Optional or not), and whether it holds a list of them."""
    for arg in (annotation, *typing.get_args(annotation)):
        if dataclasses.is_dataclass(arg):
            return arg, False
        if typing.get_origin(arg) is list and dataclasses.is_dataclass(typing.get_args(arg)[0]):
            return typing.get_args(arg)[0], True
    return None, False


def _field(schema: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(schema) if f.name == name)


def _accepts(schema: type, name: str) -> str:
    """What a field accepts: its own words, or its type's."""
    if _field(schema, name).metadata.get("accepts"):
        return _field(schema, name).metadata["accepts"]
    annotation = typing.get_type_hints(schema)[name]
    inner, many = _schema_in(annotation)
    if inner is not None:
        keys = ", ".join(f.name for f in dataclasses.fields(inner))
        return (
            f"a list of mappings with the keys {keys}"
            if many
            else f"a mapping with the keys {keys}"
        )
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # Optional[X]
        annotation = typing.get_args(annotation)[0]
    words = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    words |= {list: "a list", dict: "a mapping"}
    return words.get(typing.get_origin(annotation) or annotation, "a value")
