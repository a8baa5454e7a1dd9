"""The shape of a study file, as OmegaConf structured configs.

Each dataclass is one mapping of the file: its fields are the keys a user may write, with their
types and defaults. :func:`read` merges a file into them a key at a time, so that a misspelt key
or a wrong type names its full path (``claims[2].tol``), what the key accepts and what was
written. A field's ``accepts`` says what a value must be where its type alone says too little,
and ``ok`` the range a typed value must fall in. What a type cannot say (a grid axis is a list
or a mapping; ``x`` and ``along`` an axis or a variable) stays ``Any`` here and is checked in
:mod:`gauntlet.study.spec`, which also checks what keys say about each other.
"""

# OmegaConf 2.3 reads Optional[...] in dataclass schemas, not X | None; option() is a field()
# ruff: noqa: UP045, RUF009

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, ConfigTypeError, KeyValidationError, ValidationError

from gauntlet.errors import GauntletError
from gauntlet.study.statistics import Settings

# the gauntlet commands a post step may run on a finished run
POST_COMMANDS = ("explain", "attack", "eval")
COMPARISONS = (">", ">=", "<", "<=", "~=")
TRENDS = ("increasing", "decreasing")


def option(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    accepts: str | None = None,
    ok: Callable[[Any], bool] | None = None,
    many: bool = False,
) -> Any:
    """A field of a study schema. ``many``: one value may stand for a list of one."""
    metadata = {"accepts": accepts, "ok": ok, "many": many}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _seeds(seeds: list[int]) -> bool:
    return bool(seeds) and len(set(seeds)) == len(seeds)


def _command(command: str) -> bool:
    return bool(command.split()) and command.split()[0] in POST_COMMANDS


SEEDS = "a non-empty list of different whole numbers"
OVERRIDES = "Hydra overrides such as trainer.max_epochs=5 (a list, or one)"
METRIC = "a metric name such as test/acc"
WHERE = "a mapping of axis levels or config values, e.g. {augment: none}"
ALONG = (
    "an axis of the grid, or one variable of the metric name with its values, e.g. {eps: [0, 0.1]}"
)
ACCEPTS_OP = f"one of {', '.join(COMPARISONS)} (or trend: for a trend claim)"
GRID = "a mapping of axes, each a list of values or a mapping of named levels to overrides"


@dataclass
class StatisticsSchema:
    level: float = option(Settings.level, accepts="a number in (0, 0.5)", ok=lambda v: 0 < v < 0.5)
    resamples: int = option(
        Settings.resamples, accepts="a whole number >= 100", ok=lambda v: v >= 100
    )
    seed: int = option(Settings.seed, accepts="a whole number >= 0", ok=lambda v: v >= 0)
    power: float = option(Settings.power, accepts="a number in (0, 1)", ok=lambda v: 0 < v < 1)


def _looks(looks: list[int]) -> bool:
    return bool(looks) and looks[0] >= 2 and all(a < b for a, b in itertools.pairwise(looks))


@dataclass
class SequentialSchema:
    looks: Optional[list[int]] = option(
        None,
        accepts="increasing whole numbers of seeds per cell, the first at least 2, "
        "e.g. [3, 5, 8, 12]",
        ok=_looks,
        many=True,
    )
    spending: str = option(
        "pocock",
        accepts="pocock or obrien_fleming (the alpha-spending function)",
        ok=lambda v: v in ("pocock", "obrien_fleming"),
    )


@dataclass
class QuickSchema:
    seeds: Optional[list[int]] = option(None, accepts=SEEDS, ok=_seeds, many=True)  # the first
    overrides: Optional[list[str]] = option(factory=list, accepts=OVERRIDES, many=True)


@dataclass
class PostSchema:
    command: str = option(
        accepts="a command a post step may run (choose explain, attack, eval) and its arguments, "
        "e.g. 'explain ckpt_path={ckpt}'",
        ok=_command,
    )
    metrics: list[str] = option(
        accepts="the metrics the command records, so completed steps are not rerun",
        ok=bool,
        many=True,
    )
    where: Optional[dict[str, Any]] = option(None, accepts=WHERE)


@dataclass
class PlotSchema:
    name: Optional[str] = None  # default: from y, x and lines
    title: Optional[str] = None
    x: Any = option(accepts=ALONG)
    y: list[str] = option(accepts="a metric name, or a list of them", many=True)
    lines: Optional[str] = option(None, accepts="an axis of the grid, one line per level")
    where: Optional[dict[str, Any]] = option(None, accepts=WHERE)
    logx: bool = False


@dataclass
class SideSchema:
    metric: Optional[str] = option(None, accepts=METRIC)  # default: the claim's metric
    where: Optional[dict[str, Any]] = option(None, accepts=WHERE)


@dataclass
class ClaimSchema:
    name: Optional[str] = None  # default: "claim N"
    metric: str = option(accepts=METRIC)
    where: Optional[dict[str, Any]] = option(None, accepts=WHERE)
    for_each: Optional[list[str]] = option(
        None, accepts="an axis of the grid, or a list of them", many=True
    )
    # a comparison: metric OP value, or metric OP than
    op: Optional[str] = option(
        None,
        accepts=ACCEPTS_OP,
        ok=lambda v: v in COMPARISONS,
    )
    value: Optional[float] = option(None, accepts="a number")
    than: Optional[SideSchema] = option(
        None, accepts="the runs to compare with, {metric: ..., where: {...}} (or value: a number)"
    )
    tol: float = option(0.0, accepts="a number >= 0", ok=lambda v: v >= 0)
    # a trend: metric along an axis or a variable
    trend: Optional[str] = option(None, accepts=" or ".join(TRENDS), ok=lambda v: v in TRENDS)
    along: Any = option(None, accepts=ALONG)
    # across tasks: the IQM of normalised scores, or the probability of improvement
    kind: Optional[str] = option(
        None,
        accepts="iqm or prob_improvement (a comparison across the tasks of across_tasks:)",
        ok=lambda v: v in ("iqm", "prob_improvement"),
    )


@dataclass
class AcrossTasksSchema:
    task: str = option(
        accepts="the key whose values are the tasks: an axis or a run key such as data"
    )
    normalise: dict[str, Any] = option(
        accepts="a mapping of each task to its {low: N, high: N} (or high: {where: {...}}, "
        "the mean of reference runs), e.g. {digits: {low: 0.1, high: 1.0}}",
        ok=bool,
    )
    metric: Optional[str] = option(None, accepts=METRIC)  # for the profile; default metrics[0]
    models: Optional[dict[str, Any]] = option(
        None, accepts="a mapping of model names to selections, e.g. {cnn: {model: cnn}}"
    )


@dataclass
class StudySchema:
    name: Optional[str] = None  # default: the file's stem
    description: Optional[str] = None
    base: Optional[str] = option(None, accepts="an experiment preset name")
    overrides: Optional[list[str]] = option(factory=list, accepts=OVERRIDES, many=True)
    grid: Optional[dict[str, Any]] = option(factory=dict, accepts=GRID)
    seeds: list[int] = option(factory=lambda: [1, 2, 3], accepts=SEEDS, ok=_seeds, many=True)
    metrics: list[str] = option(
        factory=lambda: ["test/acc"],
        accepts="at least one metric name for the results table, such as test/acc",
        ok=bool,
        many=True,
    )
    quick: Optional[QuickSchema] = option(factory=QuickSchema)
    post: Optional[list[PostSchema]] = option(factory=list)
    plots: Optional[list[PlotSchema]] = option(factory=list)
    claims: Optional[list[ClaimSchema]] = option(factory=list)
    config_dir: Optional[str] = option(None, accepts="a directory, relative to the study file")
    statistics: Optional[StatisticsSchema] = option(factory=StatisticsSchema)
    sequential: Optional[SequentialSchema] = option(factory=SequentialSchema)
    across_tasks: Optional[AcrossTasksSchema] = option(None)
    vary: Optional[list[Any]] = option(
        None,
        accepts="sources of randomness to vary one group at a time (split, init, order, "
        "augment), each a name or a list of names, e.g. [init, [split, order]]",
        many=True,
    )
    hold: int = option(
        0, accepts="a whole number >= 0 that is not one of the seeds", ok=lambda v: v >= 0
    )


# what an unknown key's message says, after "KEY: "
NOT_A_KEY = {
    StudySchema: "not a study key; valid: {}",
    PlotSchema: "not a plot key; valid: {}",
    ClaimSchema: "not a claim key; valid: {}",
    SideSchema: "valid keys: {} (or use value:)",
    PostSchema: "valid keys: {}",
    QuickSchema: "valid keys: {}",
    StatisticsSchema: "valid keys: {}",
    SequentialSchema: "valid keys: {}",
    AcrossTasksSchema: "valid keys: {}",
}


def read(path: Path, data: Mapping[Any, Any]) -> StudySchema:
    """A study file's data as a :class:`StudySchema`, every key, type and range checked."""
    cfg = _merge(path, StudySchema, data, "")
    # OmegaConf.to_object (and missing_keys) would resolve ${...}, which belongs to the runs'
    # own configs: the schema objects are built from the unresolved values instead
    return _instance(path, StudySchema, OmegaConf.to_container(cfg, resolve=False), "")


def _merge(path: Path, schema: type, data: Mapping[Any, Any], prefix: str) -> DictConfig:
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
                value = _merge(path, inner, value, f"{full}.")
            elif inner and many and isinstance(value, list):
                value = [
                    _merge(path, inner, item, f"{full}[{i}].")
                    if isinstance(item, Mapping)
                    else item
                    for i, item in enumerate(value)
                ]
        try:
            cfg[key] = value
        except ConfigKeyError:
            names = ", ".join(f.name for f in dataclasses.fields(schema))
            raise GauntletError(f"{path}: {full}: {NOT_A_KEY[schema].format(names)}") from None
        except (ValidationError, KeyValidationError, ConfigTypeError):
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=False)
            accepts = _accepts(schema, key)
            raise GauntletError(f"{path}: {full}: expected {accepts}, got {value!r}") from None
    return cfg


def _instance(path: Path, schema: type, values: Mapping[str, Any], prefix: str) -> Any:
    """The dataclass of ``schema`` holding ``values``, each given and within its range."""
    types = typing.get_type_hints(schema)
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
        fields[key] = value
    return schema(**fields)


def _schema_in(annotation: Any) -> tuple[type | None, bool]:
    """The dataclass a field holds (Optional or not), and whether it holds a list of them."""
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
    if typing.get_origin(annotation) is typing.Union:  # Optional[X]
        annotation = typing.get_args(annotation)[0]
    words = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    words |= {list: "a list", dict: "a mapping"}
    return words.get(typing.get_origin(annotation) or annotation, "a value")
