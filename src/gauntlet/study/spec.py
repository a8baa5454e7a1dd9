"""The study file: what to run (a grid of overrides x seeds), what to draw and what to check.

A study file is YAML::

    name: data_scarcity                  # default: the file's stem
    description: Learning curves with and without augmentation.
    base: mnist1d_cnn                    # experiment preset (experiment=BASE); optional
    config_dir: conf                     # your own config groups (--config-dir), relative to
                                         #   this file; optional
    overrides: [trainer.max_epochs=15]   # every run gets these
    grid:                                # the axes; the runs are their product x seeds
      data.fraction: [0.1, 1.0]          #   a list: the config key takes each value
      regularization:                    #   a mapping: named levels, each a set of overrides
        none: {}
        dropout: {model.net.dropout: 0.3}
    seeds: [1, 2, 3]
    metrics: [test/acc, gap/acc]         # the table's columns (also duration_s, num_params)
    quick:                               # what --quick changes (these are the defaults)
      seeds: [1]                         #   the first seed
      overrides: [trainer.max_epochs=1]  #   added to QUICK_OVERRIDES
    post:                                # commands run on each completed run (see PostStep)
      - command: explain ckpt_path={ckpt} method=saliency
        metrics: [interpret/saliency/deletion_auc]
    plots:                               # see PlotSpec
      - {x: data.fraction, y: test/acc, lines: augment}
    claims:                              # see gauntlet.study.claims
      - {name: ..., metric: test/acc, where: {augment: strong}, op: ">", than: {where: {augment: none}}}
    statistics:                          # how the claims are judged (these are the defaults)
      level: 0.05                        #   significance after Holm's correction
      resamples: 9999                    #   bootstrap / permutation resamples
      seed: 0                            #   their random seed
      power: 0.8                         #   for "about N seeds would resolve it"
    sequential:                          # for --until-decided (see gauntlet.study.rounds)
      looks: [3, 5, 8, 12]               #   seeds per cell at each look; default: derived
                                         #   from the seeds up to --max-seeds
      spending: pocock                   #   or obrien_fleming

A run's overrides are, later ones winning: ``experiment=BASE``, ``overrides``, its cell's levels
and, with ``--quick``, the quick overrides.

The classes below are the file's one description: each mapping of the file is one class, its
fields the keys a user may write (with their types, defaults and what they accept), and the
same objects, checked and filled in, are what the runner, the claims and the report read.
Everything is checked when the file is read: each key's type and range by
:mod:`gauntlet.study.reader`, what the keys say about each other here. A mistake raises
:class:`GauntletError` naming the file, the key, what was expected and the valid choices.
"""

# option() is a dataclasses.field()
# ruff: noqa: RUF009

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from gauntlet.errors import GauntletError
from gauntlet.study import reader
from gauntlet.study.reader import option
from gauntlet.study.statistics import Settings

# --quick: one epoch of a few batches, CSV logs only; a study's own quick.overrides come after
QUICK_OVERRIDES = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "logger=csv",
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_VARIABLE = re.compile(r"\{([^{}]+)\}")


# -- the grid ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One value of an axis: what tables, plots and claims call it, and the overrides it sets."""

    label: Any
    overrides: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Axis:
    name: str
    levels: tuple[Level, ...]
    named: bool  # levels given as a mapping of label -> overrides

    def labels(self) -> list[Any]:
        return [level.label for level in self.levels]


@dataclass(frozen=True)
class Cell:
    """One point of the grid: each axis's label, and the overrides that make it."""

    labels: dict[str, Any]
    overrides: tuple[str, ...]

    def describe(self) -> str:
        return ", ".join(f"{axis}={format_label(label)}" for axis, label in self.labels.items())


@dataclass(frozen=True)
class Along:
    """An x axis: a grid axis (``values`` None: its labels, in grid order), or a variable of
    metric names (``{eps: [0, 0.1]}`` reads ``robust/acc@eps={eps}`` at each value)."""

    name: str
    values: tuple[Any, ...] | None = None

    @property
    def is_axis(self) -> bool:
        return self.values is None


# -- the file's mappings: each class's fields are its keys (see gauntlet.study.reader) -------
# A field the checks fill in (a default, a resolved name) holds None only until the file is read.

POST_COMMANDS = ("explain", "attack", "eval")  # what a post step may run on a finished run
COMPARISONS = (">", ">=", "<", "<=", "~=")
TRENDS = ("increasing", "decreasing")
SEEDS = "a non-empty list of different whole numbers"
OVERRIDES = "Hydra overrides such as trainer.max_epochs=5 (a list, or one)"
METRIC = "a metric name such as test/acc"
WHERE = "a mapping of axis levels or config values, e.g. {augment: none}"
ALONG = (
    "an axis of the grid, or one variable of the metric name with its values, e.g. {eps: [0, 0.1]}"
)
ACCEPTS_OP = f"one of {', '.join(COMPARISONS)} (or trend: for a trend claim)"
GRID = "a mapping of axes, each a list of values or a mapping of named levels to overrides"


def _seeds(seeds: list[int]) -> bool:
    return bool(seeds) and len(set(seeds)) == len(seeds)


def _command(command: str) -> bool:
    return bool(command.split()) and command.split()[0] in POST_COMMANDS


def _looks(looks: list[int]) -> bool:
    return bool(looks) and looks[0] >= 2 and all(a < b for a, b in itertools.pairwise(looks))


@dataclass(frozen=True)
class PlotSpec:
    """``x``: an :class:`Along`; ``y``: metric names (templates over a variable ``x``);
    ``lines``: an axis, one line per level (or None: one line); ``where``: fixed axis levels
    or config values."""

    name: str | None = None  # default: from y, x and lines
    title: str | None = None  # default: y vs x
    x: Along = option(file=Any, accepts=ALONG)
    y: tuple[str, ...] = option(accepts="a metric name, or a list of them", many=True)
    lines: str | None = option(None, accepts="an axis of the grid, one line per level")
    where: dict[str, Any] | None = option(None, accepts=WHERE)
    logx: bool = False


@dataclass(frozen=True)
class Side:
    """The right-hand side of a comparison: a constant, or a metric on a selection of runs."""

    metric: str | None = option(None, accepts=METRIC)  # default: the claim's metric
    where: dict[str, Any] | None = option(None, accepts=WHERE)
    value: float | None = option(None, derived=True)  # the claim's value:


@dataclass(frozen=True)
class ClaimSpec:
    name: str | None = None  # default: "claim N"
    metric: str = option(accepts=METRIC)
    where: dict[str, Any] | None = option(None, accepts=WHERE)
    for_each: tuple[str, ...] | None = option(
        None, accepts="an axis of the grid, or a list of them", many=True
    )
    # a comparison: metric OP value, or metric OP than
    op: str | None = option(None, accepts=ACCEPTS_OP, ok=lambda v: v in COMPARISONS)
    value: float | None = option(None, accepts="a number")
    than: Side | None = option(
        None, accepts="the runs to compare with, {metric: ..., where: {...}} (or value: a number)"
    )
    tol: float = option(0.0, accepts="a number >= 0", ok=lambda v: v >= 0)
    # a trend: metric along an axis or a variable
    trend: str | None = option(None, accepts=" or ".join(TRENDS), ok=lambda v: v in TRENDS)
    along: Along | None = option(None, file=Any, accepts=ALONG)
    # across tasks: the IQM of normalised scores, or the probability of improvement
    kind: str | None = option(
        None,
        accepts="iqm or prob_improvement (a comparison across the tasks of across_tasks:)",
        ok=lambda v: v in ("iqm", "prob_improvement"),
    )


@dataclass(frozen=True)
class AcrossTasks:
    """Which key names the tasks, each task's normalisation (``high`` a number, or the mean of
    the runs a selection picks in that task), the profile's metric and models."""

    task: str = option(
        accepts="the key whose values are the tasks: an axis or a run key such as data"
    )
    # task -> (low, high), once read
    normalise: dict[str, Any] = option(
        accepts="a mapping of each task to its {low: N, high: N} (or high: {where: {...}}, "
        "the mean of reference runs), e.g. {digits: {low: 0.1, high: 1.0}}",
        ok=bool,
    )
    metric: str | None = option(None, accepts=METRIC)  # for the profile; default metrics[0]
    models: dict[str, Any] | None = option(
        None, accepts="a mapping of model names to selections, e.g. {cnn: {model: cnn}}"
    )


@dataclass(frozen=True)
class PostStep:
    """``gauntlet COMMAND ARGS`` run on each completed run (``{ckpt}``, ``{run_dir}``,
    ``{run_id}``, ``{seed}``, an axis name or a config key are filled in), unless the run
    already recorded every metric in ``metrics``."""

    command: str = option(
        accepts="a command a post step may run (choose explain, attack, eval) and its arguments, "
        "e.g. 'explain ckpt_path={ckpt}'",
        ok=_command,
    )
    metrics: tuple[str, ...] = option(
        accepts="the metrics the command records, so completed steps are not rerun",
        ok=bool,
        many=True,
    )
    where: dict[str, Any] | None = option(None, accepts=WHERE)


@dataclass(frozen=True)
class Sequential:
    """The looks of ``--until-decided`` (None: derived from ``--max-seeds``) and the
    alpha-spending function."""

    looks: tuple[int, ...] | None = option(
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


@dataclass(frozen=True)
class Quick:
    seeds: tuple[int, ...] | None = option(None, accepts=SEEDS, ok=_seeds, many=True)  # the first
    overrides: tuple[str, ...] | None = option(factory=tuple, accepts=OVERRIDES, many=True)


@dataclass(frozen=True)
class Study:
    name: str | None = None  # default: the file's stem
    description: str | None = None
    base: str | None = option(None, accepts="an experiment preset name")
    overrides: tuple[str, ...] | None = option(factory=tuple, accepts=OVERRIDES, many=True)
    grid: dict[str, Any] | None = option(factory=dict, accepts=GRID)
    seeds: tuple[int, ...] = option(factory=lambda: (1, 2, 3), accepts=SEEDS, ok=_seeds, many=True)
    metrics: tuple[str, ...] = option(
        factory=lambda: ("test/acc",),
        accepts="at least one metric name for the results table, such as test/acc",
        ok=bool,
        many=True,
    )
    quick: Quick = option(factory=Quick, file=Quick | None)
    post: tuple[PostStep, ...] = option(factory=tuple, file=list[PostStep] | None)
    plots: tuple[PlotSpec, ...] = option(factory=tuple, file=list[PlotSpec] | None)
    claims: tuple[ClaimSpec, ...] = option(factory=tuple, file=list[ClaimSpec] | None)
    # the user's own config directory (``--config-dir``), relative to the study file
    config_dir: Path | None = option(
        None, file=str | None, accepts="a directory, relative to the study file"
    )
    statistics: Settings = option(factory=Settings, file=Settings | None)
    sequential: Sequential = option(factory=Sequential, file=Sequential | None)
    across_tasks: AcrossTasks | None = None
    vary: tuple[Any, ...] | None = option(
        None,
        accepts="sources of randomness to vary one group at a time (split, init, order, "
        "augment), each a name or a list of names, e.g. [init, [split, order]]",
        many=True,
    )
    hold: int = option(
        0, accepts="a whole number >= 0 that is not one of the seeds", ok=lambda v: v >= 0
    )
    # filled in when the file is read: where it is, and the grid's (and vary's) axes
    path: Path = option(Path(), derived=True)
    axes: tuple[Axis, ...] = option(factory=tuple, derived=True)

    def axis(self, name: str) -> Axis | None:
        return next((axis for axis in self.axes if axis.name == name), None)

    def cells(self) -> list[Cell]:
        """The product of the axes, first axis slowest."""
        cells = []
        for levels in itertools.product(*(axis.levels for axis in self.axes)):
            labels = {axis.name: level.label for axis, level in zip(self.axes, levels, strict=True)}
            overrides = tuple(
                override(key, value) for level in levels for key, value in level.overrides
            )
            cells.append(Cell(labels, overrides))
        return cells

    def all_metrics(self) -> list[str]:
        """The table's metrics, then every other metric a plot or claim reads (templates
        filled in), each once."""
        names = list(self.metrics)
        for plot in self.plots:
            for y in plot.y:
                names += expand(y, plot.x)
        for claim in self.claims:
            names += expand(claim.metric, claim.along)
            if claim.than and claim.than.metric:
                names += expand(claim.than.metric, claim.along)
        return list(dict.fromkeys(names))


# what an unknown key's message says, after "KEY: "
NOT_A_KEY = {
    Study: "not a study key; valid: {}",
    PlotSpec: "not a plot key; valid: {}",
    ClaimSpec: "not a claim key; valid: {}",
    Side: "valid keys: {} (or use value:)",
    PostStep: "valid keys: {}",
    Quick: "valid keys: {}",
    Settings: "valid keys: {}",
    Sequential: "valid keys: {}",
    AcrossTasks: "valid keys: {}",
}


def expand(template: str, along: Along | None) -> list[str]:
    """A metric name for each value of a variable ``along`` (the name itself otherwise)."""
    if along is None or along.is_axis or "{" not in template:
        return [template]
    return [fill(template, {along.name: value}) for value in along.values or ()]


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``robust/acc@eps={eps}`` with ``eps=0.05`` -> ``robust/acc@eps=0.05`` (numbers as
    ``%g``, the way metric names spell them)."""

    def value_of(match: re.Match[str]) -> str:
        return format_label(values[match.group(1)])

    return _VARIABLE.sub(value_of, template)


def format_label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{float(value):g}"
    if value is None:
        return "null"
    return str(value)


# -- Hydra override strings ------------------------------------------------------------------


def override(key: str, value: Any) -> str:
    """``key=value`` as a Hydra override, the value written so that Hydra reads it back as
    the same YAML value (strings quoted when they would read as something else)."""
    return f"{key}={hydra_value(value)}"


def hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _reads_back(text):
        return text
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _reads_back(text: str) -> bool:
    from gauntlet.study.overrides import parse_one

    try:
        parsed = parse_one(f"k={text}")
    except GauntletError:
        return False
    return parsed is not None and parsed[1] == text


# -- reading ---------------------------------------------------------------------------------


def load_study(path: str | Path) -> Study:
    """Read and check a study file: its keys and types by :mod:`gauntlet.study.reader`, then
    what they say about each other (axes, levels, metric names, claims)."""
    path = Path(path)
    if not path.is_file():
        folder = path.parent if str(path.parent) not in ("", ".") else Path("experiments")
        shipped = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        hint = f"; studies in {folder}: {', '.join(shipped)}" if shipped else ""
        raise GauntletError(f"study file {path} does not exist{hint}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise GauntletError(f"{path}: not a readable YAML file ({err})") from None
    if data is None or data == {}:
        raise GauntletError(
            f"{path}: the study file is empty; a study names at least its runs (base:, "
            "overrides: or grid:) and seeds:, and usually the claims: it checks"
        )
    if not isinstance(data, Mapping):
        raise GauntletError(
            f"{path}: top level: expected a mapping of study keys, got {type(data).__name__} "
            f"{data!r}"
        )
    spec: Study = reader.read(path, Study, data, NOT_A_KEY)
    checks = _Checks(path)
    name = spec.name or path.stem
    if not _NAME.match(name):
        raise checks.fail("name", f"{name!r}: letters, digits, _ . - only")
    checks.axes = tuple(checks.axis(key, value) for key, value in (spec.grid or {}).items())
    if spec.vary:
        checks.axes += (_vary_axis(checks, spec.vary, spec.hold, spec.seeds),)
    overrides = checks.overrides(spec.overrides, "overrides")
    _check_keys_once(checks, spec.base, overrides, checks.axes)
    quick = spec.quick or Quick()
    plots = tuple(checks.plot(i, plot) for i, plot in enumerate(spec.plots or ()))
    if len({p.name for p in plots}) != len(plots):
        raise checks.fail("plots", "two plots have the same name; give each a name:")
    config_dir = None
    if spec.config_dir is not None:
        config_dir = (path.parent / spec.config_dir).resolve()
        if not config_dir.is_dir():
            raise checks.fail("config_dir", f"{config_dir} is not a directory")
    checks.across = _across_tasks(checks, spec.across_tasks, spec.metrics)
    quick = Quick(
        seeds=quick.seeds or spec.seeds[:1],
        overrides=checks.overrides(quick.overrides, "quick.overrides"),
    )
    post = tuple(checks.post(i, step) for i, step in enumerate(spec.post or ()))
    claims = tuple(checks.claim(i, claim) for i, claim in enumerate(spec.claims or ()))
    study = replace(
        spec,
        path=path,
        name=name,
        description=(spec.description or "").strip(),
        overrides=overrides,
        axes=checks.axes,
        quick=quick,
        post=post,
        plots=plots,
        claims=claims,
        config_dir=config_dir,
        statistics=spec.statistics or Settings(),
        sequential=spec.sequential or Sequential(),
        across_tasks=checks.across,
    )
    _check_cells_differ(checks, study)
    return study


def _across_tasks(
    checks: _Checks, spec: AcrossTasks | None, metrics: Sequence[str]
) -> AcrossTasks | None:
    if spec is None:
        return None
    normalise: dict[str, tuple[float, float | dict[str, Any]]] = {}
    for task, bounds in spec.normalise.items():
        key = f"across_tasks.normalise.{task}"
        if not isinstance(bounds, Mapping) or set(bounds) != {"low", "high"}:
            raise checks.fail(
                key, f"expected {{low: N, high: N or {{where: ...}}}}, got {bounds!r}"
            )
        low, high = bounds["low"], bounds["high"]
        if not _number(low):
            raise checks.fail(f"{key}.low", f"expected a number, got {low!r}")
        if isinstance(high, Mapping) and set(high) == {"where"}:
            high = {"where": checks.where(high["where"], f"{key}.high.where")}
        elif not _number(high) or float(high) == float(low):
            raise checks.fail(
                f"{key}.high",
                f"expected a number other than low, or {{where: {{...}}}} (reference runs), "
                f"got {high!r}",
            )
        else:
            high = float(high)
        normalise[format_label(task)] = (float(low), high)
    models = {}
    for name, where in (spec.models or {}).items():
        if not isinstance(where, Mapping):
            raise checks.fail(f"across_tasks.models.{name}", f"expected a mapping, got {where!r}")
        models[str(name)] = checks.where(where, f"across_tasks.models.{name}")
    return replace(spec, normalise=normalise, metric=spec.metric or metrics[0], models=models)


VARY = "vary"  # the axis a study's vary: adds


def _vary_axis(checks: _Checks, vary: Sequence[Any], hold: int, seeds: Sequence[int]) -> Axis:
    """One level per group of sources: they follow the run's seed, every other source is held
    at ``hold``. (A held source equal to the run's seed would follow the seed's own stream, not
    a reseeded one, so ``hold`` may not be a seed.)"""
    from gauntlet.seeding import SOURCES

    if any(axis.name == VARY for axis in checks.axes):
        raise checks.fail("grid.vary", "vary is the axis that vary: makes; name yours otherwise")
    if hold in seeds:
        raise checks.fail("hold", f"{hold} is one of the seeds {list(seeds)}; pick another")
    levels = []
    for index, item in enumerate(vary):
        group = [item] if isinstance(item, str) else list(item)
        bad = [name for name in group if name not in SOURCES]
        if not group or bad:
            raise checks.fail(
                f"vary[{index}]", f"{bad or group!r}: expected sources among {', '.join(SOURCES)}"
            )
        label = "+".join(group)
        settings = tuple(
            (f"seeds.{name}", "${seed}" if name in group else hold) for name in SOURCES
        )
        levels.append(Level(label, settings))
    labels = [level.label for level in levels]
    if len(set(labels)) != len(labels):
        raise checks.fail("vary", f"groups repeat: {labels}")
    return Axis(VARY, tuple(levels), named=True)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Checks:
    """What a study file's keys say about each other: overrides that parse, axes with distinct
    levels, plots and claims that name those axes and levels. Errors name the file and key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.axes: tuple[Axis, ...] = ()
        self.across: AcrossTasks | None = None

    def fail(self, key: str, message: str) -> GauntletError:
        return GauntletError(f"{self.path}: {key}: {message}")

    def overrides(self, items: Sequence[str] | None, key: str) -> tuple[str, ...]:
        from gauntlet.study.overrides import parse_one

        for item in items or ():
            try:
                parsed = parse_one(item)
            except GauntletError as err:
                raise self.fail(key, str(err)) from None
            if parsed is None:
                raise self.fail(
                    key, f"{item!r} is a sweep; put the values that vary under grid: instead"
                )
        return tuple(items or ())

    def axis(self, name: str, value: Any) -> Axis:
        key = f"grid.{name}"
        if isinstance(value, list):
            if not value:
                raise self.fail(key, "expected at least one value")
            if name.startswith(("hydra", "seed")) or name in ("study", "experiment_name"):
                raise self.fail(key, "the study sets this key itself; it cannot be an axis")
            levels = tuple(Level(v, ((name, v),)) for v in value)
        elif isinstance(value, Mapping):
            if not value:
                raise self.fail(key, "expected at least one named level")
            for label, settings in value.items():
                if settings is not None and not isinstance(settings, Mapping):
                    raise self.fail(
                        f"{key}.{label}",
                        f"expected a mapping of config keys to values, got {settings!r}",
                    )
            levels = tuple(
                Level(label, tuple((str(k), v) for k, v in (settings or {}).items()))
                for label, settings in value.items()
            )
        else:
            raise self.fail(
                key,
                "expected a list of values (the key takes each) or a mapping of named "
                f"levels to overrides, e.g. {{none: {{}}, dropout: {{model.net.dropout: 0.3}}}}; "
                f"got {value!r}",
            )
        labels = [format_label(level.label) for level in levels]
        if len(set(labels)) != len(labels):
            raise self.fail(key, f"levels repeat: {labels}")
        return Axis(name, levels, named=isinstance(value, Mapping))

    def along(self, value: Any, key: str) -> Along:
        names = [axis.name for axis in self.axes]
        if isinstance(value, str):
            if value not in names:
                raise self.fail(
                    key,
                    f"{value!r} is not an axis of the grid; axes: {', '.join(names) or 'none'}, "
                    "or a variable of the metric name as {NAME: [values]}",
                )
            return Along(value)
        if isinstance(value, Mapping) and len(value) == 1:
            ((name, values),) = value.items()
            if not isinstance(values, list) or not values:
                raise self.fail(key, f"{name}: expected a non-empty list of values")
            return Along(str(name), tuple(values))
        raise self.fail(
            key,
            f"expected an axis name ({', '.join(names)}) or one variable with its values, "
            f"e.g. {{eps: [0, 0.05, 0.1]}}; got {value!r}",
        )

    def where(self, where: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
        from gauntlet.leaderboard.query import same_value

        for name, wanted in (where or {}).items():
            axis = next((a for a in self.axes if a.name == name), None)
            if axis and not any(same_value(wanted, label) for label in axis.labels()):
                choices = ", ".join(format_label(label) for label in axis.labels())
                raise self.fail(
                    f"{key}.{name}", f"{wanted!r} is not a level of that axis; levels: {choices}"
                )
        return dict(where or {})

    def template(self, metric: str, key: str, along: Along | None) -> str:
        if not metric:
            raise self.fail(key, f"expected a metric name such as test/acc, got {metric!r}")
        variables = set(_VARIABLE.findall(metric))
        allowed = {along.name} if along is not None and not along.is_axis else set()
        if variables - allowed:
            hint = (
                f"only {{{along.name}}}" if allowed else "no variable (declare one as the x/along)"
            )
            raise self.fail(key, f"{metric!r} names {sorted(variables - allowed)}; {hint}")
        return metric

    def axis_name(self, value: str, key: str) -> str:
        names = [axis.name for axis in self.axes]
        if value not in names:
            raise self.fail(key, f"{value!r} is not an axis; axes: {', '.join(names) or 'none'}")
        return value

    def plot(self, index: int, spec: PlotSpec) -> PlotSpec:
        key = f"plots[{index}]"
        x = self.along(spec.x, f"{key}.x")
        y = tuple(self.template(metric, f"{key}.y", x) for metric in spec.y)
        lines = spec.lines
        if lines is not None:
            lines = self.axis_name(lines, f"{key}.lines")
            if lines == x.name:
                raise self.fail(f"{key}.lines", "must differ from x")
        name = spec.name or slug(f"{y[0]}_vs_{x.name}" + (f"_by_{lines}" if lines else ""))
        if not _NAME.match(name):
            raise self.fail(f"{key}.name", f"{name!r}: letters, digits, _ . - only")
        return replace(
            spec,
            name=name,
            x=x,
            y=y,
            lines=lines,
            where=self.where(spec.where, f"{key}.where"),
            title=spec.title or f"{', '.join(y)} vs {x.name}",
        )

    def claim(self, index: int, spec: ClaimSpec) -> ClaimSpec:
        key = f"claims[{index}]"
        name = spec.name or f"claim {index + 1}"
        for_each = tuple(self.axis_name(v, f"{key}.for_each") for v in spec.for_each or ())
        where = self.where(spec.where, f"{key}.where")
        if spec.kind is not None:
            return self.across_claim(key, name, where, for_each, spec)
        if spec.trend is not None:
            if spec.along is None:
                raise self.fail(key, "a trend claim needs along: an axis or {VARIABLE: [values]}")
            if spec.op is not None or spec.than is not None or spec.value is not None:
                raise self.fail(key, "a claim is either a trend or a comparison (op), not both")
            along = self.along(spec.along, f"{key}.along")
            if along.name in for_each or along.name in where:
                raise self.fail(f"{key}.along", f"{along.name!r} is also in where/for_each")
            metric = self.template(spec.metric, f"{key}.metric", along)
            return replace(
                spec, name=name, metric=metric, where=where, for_each=for_each, along=along
            )
        if spec.op is None:
            raise self.fail(f"{key}.op", f"not given; expected {ACCEPTS_OP}")
        metric = self.template(spec.metric, f"{key}.metric", None)
        if (spec.value is None) == (spec.than is None):
            raise self.fail(
                key, "a comparison needs exactly one of value: (a number) or than: (runs)"
            )
        if spec.than is None:
            than = Side(where={}, value=spec.value)
        else:
            than = Side(
                metric=self.template(spec.than.metric or metric, f"{key}.than.metric", None),
                where=self.where(spec.than.where, f"{key}.than.where"),
            )
            if than.metric == metric and not than.where:
                raise self.fail(f"{key}.than", "compares the runs with themselves; give where:")
        if spec.op in (">", "<") and spec.tol:
            raise self.fail(f"{key}.tol", f"tol loosens >=, <= and ~= only, not {spec.op}")
        if spec.op == "~=" and not spec.tol:
            raise self.fail(f"{key}.tol", "~= needs a tolerance, e.g. tol: 0.02")
        # an along: on a comparison is not read
        fields = {"name": name, "metric": metric, "where": where, "for_each": for_each}
        return replace(spec, **fields, than=than, along=None)

    def across_claim(
        self,
        key: str,
        name: str,
        where: dict[str, Any],
        for_each: tuple[str, ...],
        spec: ClaimSpec,
    ) -> ClaimSpec:
        if self.across is None:
            raise self.fail(
                f"{key}.kind",
                f"{spec.kind} compares across tasks; declare across_tasks: {{task: KEY, "
                "normalise: {TASK: {low: N, high: N}}}",
            )
        if spec.trend is not None or spec.along is not None:
            raise self.fail(key, f"a {spec.kind} claim is a comparison (op), not a trend")
        if spec.op is None:
            raise self.fail(f"{key}.op", f"not given; expected {ACCEPTS_OP}")
        if self.across.task in where or self.across.task in for_each:
            raise self.fail(
                f"{key}.where", f"{self.across.task} is the task key; the claim spans the tasks"
            )
        metric = self.template(spec.metric, f"{key}.metric", None)
        if spec.kind == "prob_improvement" and spec.than is None:
            raise self.fail(key, "prob_improvement compares two selections: give than: {where}")
        if spec.kind == "iqm" and (spec.value is None) == (spec.than is None):
            raise self.fail(key, "an iqm claim needs exactly one of value: or than:")
        if spec.than is None:
            than = Side(where={}, value=spec.value)
        else:
            than = Side(
                metric=metric,
                where=self.where(spec.than.where, f"{key}.than.where"),
                value=spec.value,
            )
            if spec.than.metric not in (None, metric):
                raise self.fail(f"{key}.than.metric", "compares the claim's own metric only")
            if not than.where:
                raise self.fail(f"{key}.than", "compares the runs with themselves; give where:")
        if spec.op == "~=" and not spec.tol:
            raise self.fail(f"{key}.tol", "~= needs a tolerance, e.g. tol: 0.02")
        fields = {"name": name, "metric": metric, "where": where, "for_each": for_each}
        return replace(spec, **fields, than=than)

    def post(self, index: int, spec: PostStep) -> PostStep:
        return replace(spec, where=self.where(spec.where, f"post[{index}].where"))


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "plot"


def _check_keys_once(
    checks: _Checks, base: str | None, overrides: Sequence[str], axes: Sequence[Axis]
) -> None:
    """A key is set once in ``overrides`` and by at most one axis (whose levels may change
    an ``overrides`` value); ``experiment`` by ``base`` or an axis, not both."""
    from gauntlet.study.overrides import key_of

    seen: set[str] = set()
    for item in overrides:
        key = key_of(item)
        if key in seen:
            raise checks.fail("overrides", f"{key} is set twice")
        seen.add(key)
        if key == "experiment" and base:
            raise checks.fail("overrides", "experiment is the base: key; set it there")
    owner: dict[str, str] = {}
    for axis in axes:
        keys = {key_of(override(k, v)) for level in axis.levels for k, v in level.overrides}
        for key in sorted(keys):
            if key in owner:
                raise checks.fail(f"grid.{axis.name}", f"{key} is also set by grid.{owner[key]}")
            if key == "experiment" and base:
                raise checks.fail(f"grid.{axis.name}", "sets experiment, which base: sets too")
            owner[key] = axis.name


def _check_cells_differ(checks: _Checks, study: Study) -> None:
    from gauntlet.study.overrides import identity

    seen: dict[frozenset, Cell] = {}
    for cell in study.cells():
        ident = identity(cell.overrides)
        if ident in seen:
            raise checks.fail(
                "grid",
                f"cells {seen[ident].describe()} and {cell.describe()} run the same overrides; "
                "give each named level its own settings",
            )
        seen[ident] = cell
