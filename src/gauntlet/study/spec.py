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

Everything is checked when the file is read: the keys and their types by the structured-config
schemas of :mod:`gauntlet.study.schema`, what they say about each other here. A mistake raises
:class:`GauntletError` naming the file, the key, what was expected and the valid choices.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gauntlet.errors import GauntletError
from gauntlet.study import schema
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


# -- plots, claims, post steps ---------------------------------------------------------------


@dataclass(frozen=True)
class Along:
    """An x axis: a grid axis (``values`` None: its labels, in grid order), or a variable of
    metric names (``{eps: [0, 0.1]}`` reads ``robust/acc@eps={eps}`` at each value)."""

    name: str
    values: tuple[Any, ...] | None = None

    @property
    def is_axis(self) -> bool:
        return self.values is None


@dataclass(frozen=True)
class PlotSpec:
    """``x``: an :class:`Along`; ``y``: metric names (templates over a variable ``x``);
    ``lines``: an axis, one line per level (or None: one line); ``where``: fixed axis levels
    or config values."""

    name: str
    x: Along
    y: tuple[str, ...]
    lines: str | None
    where: dict[str, Any]
    title: str
    logx: bool


@dataclass(frozen=True)
class Side:
    """The right-hand side of a comparison: a constant, or a metric on a selection of runs."""

    metric: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    value: float | None = None


@dataclass(frozen=True)
class ClaimSpec:
    name: str
    metric: str
    where: dict[str, Any]
    for_each: tuple[str, ...]
    # a comparison: metric OP than
    op: str | None = None
    than: Side | None = None
    tol: float = 0.0
    # a trend: metric along an axis or a variable
    trend: str | None = None
    along: Along | None = None
    kind: str | None = None  # iqm or prob_improvement: across the tasks of across_tasks


@dataclass(frozen=True)
class AcrossTasks:
    """Which key names the tasks, each task's normalisation (``high`` a number, or the mean of
    the runs a selection picks in that task), the profile's metric and models."""

    task: str
    normalise: dict[str, tuple[float, float | dict[str, Any]]]
    metric: str
    models: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class PostStep:
    """``gauntlet COMMAND ARGS`` run on each completed run (``{ckpt}``, ``{run_dir}``,
    ``{run_id}``, ``{seed}``, an axis name or a config key are filled in), unless the run
    already recorded every metric in ``metrics``."""

    command: str
    metrics: tuple[str, ...]
    where: dict[str, Any]


@dataclass(frozen=True)
class Sequential:
    """The looks of ``--until-decided`` (None: derived from ``--max-seeds``) and the
    alpha-spending function."""

    looks: tuple[int, ...] | None = None
    spending: str = "pocock"


@dataclass(frozen=True)
class Quick:
    seeds: tuple[int, ...]
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Study:
    path: Path
    name: str
    description: str
    base: str | None
    overrides: tuple[str, ...]
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    quick: Quick
    post: tuple[PostStep, ...]
    plots: tuple[PlotSpec, ...]
    claims: tuple[ClaimSpec, ...]
    # the user's own config directory (``--config-dir``), relative to the study file
    config_dir: Path | None = None
    statistics: Settings = field(default_factory=Settings)
    sequential: Sequential = field(default_factory=Sequential)
    across_tasks: AcrossTasks | None = None

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
    """Read and check a study file: its keys and types by :mod:`gauntlet.study.schema`, then
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
    spec = schema.read(path, data)
    checks = _Checks(path)
    name = spec.name or path.stem
    if not _NAME.match(name):
        raise checks.fail("name", f"{name!r}: letters, digits, _ . - only")
    checks.axes = tuple(checks.axis(key, value) for key, value in (spec.grid or {}).items())
    if spec.vary:
        checks.axes += (_vary_axis(checks, spec.vary, spec.hold, spec.seeds),)
    overrides = checks.overrides(spec.overrides, "overrides")
    _check_keys_once(checks, spec.base, overrides, checks.axes)
    quick = spec.quick or schema.QuickSchema()
    plots = tuple(checks.plot(i, plot) for i, plot in enumerate(spec.plots or ()))
    if len({p.name for p in plots}) != len(plots):
        raise checks.fail("plots", "two plots have the same name; give each a name:")
    config_dir = None
    if spec.config_dir is not None:
        config_dir = (path.parent / spec.config_dir).resolve()
        if not config_dir.is_dir():
            raise checks.fail("config_dir", f"{config_dir} is not a directory")
    settings = spec.statistics or schema.StatisticsSchema()
    sequential = spec.sequential or schema.SequentialSchema()
    across = _across_tasks(checks, spec.across_tasks, spec.metrics)
    checks.across = across
    study = Study(
        path=path,
        name=name,
        description=(spec.description or "").strip(),
        base=spec.base,
        overrides=overrides,
        axes=checks.axes,
        seeds=tuple(spec.seeds),
        metrics=tuple(spec.metrics),
        quick=Quick(
            seeds=tuple(quick.seeds or spec.seeds[:1]),
            overrides=checks.overrides(quick.overrides, "quick.overrides"),
        ),
        post=tuple(checks.post(i, step) for i, step in enumerate(spec.post or ())),
        plots=plots,
        claims=tuple(checks.claim(i, claim) for i, claim in enumerate(spec.claims or ())),
        config_dir=config_dir,
        statistics=Settings(**asdict(settings)),
        sequential=Sequential(
            tuple(sequential.looks) if sequential.looks else None, sequential.spending
        ),
        across_tasks=across,
    )
    _check_cells_differ(checks, study)
    return study


def _across_tasks(checks: _Checks, spec: Any, metrics: Sequence[str]) -> AcrossTasks | None:
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
    return AcrossTasks(spec.task, normalise, spec.metric or metrics[0], models)


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

    def plot(self, index: int, spec: schema.PlotSchema) -> PlotSpec:
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
        return PlotSpec(
            name=name,
            x=x,
            y=y,
            lines=lines,
            where=self.where(spec.where, f"{key}.where"),
            title=spec.title or f"{', '.join(y)} vs {x.name}",
            logx=spec.logx,
        )

    def claim(self, index: int, spec: schema.ClaimSchema) -> ClaimSpec:
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
            return ClaimSpec(
                name, metric, where, for_each, trend=spec.trend, along=along, tol=spec.tol
            )
        if spec.op is None:
            raise self.fail(f"{key}.op", f"not given; expected {schema.ACCEPTS_OP}")
        metric = self.template(spec.metric, f"{key}.metric", None)
        if (spec.value is None) == (spec.than is None):
            raise self.fail(
                key, "a comparison needs exactly one of value: (a number) or than: (runs)"
            )
        if spec.than is None:
            than = Side(value=spec.value)
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
        return ClaimSpec(name, metric, where, for_each, op=spec.op, than=than, tol=spec.tol)

    def across_claim(
        self,
        key: str,
        name: str,
        where: dict[str, Any],
        for_each: tuple[str, ...],
        spec: schema.ClaimSchema,
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
            raise self.fail(f"{key}.op", f"not given; expected {schema.ACCEPTS_OP}")
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
            than = Side(value=spec.value)
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
        return ClaimSpec(
            name, metric, where, for_each, op=spec.op, than=than, tol=spec.tol, kind=spec.kind
        )

    def post(self, index: int, spec: schema.PostSchema) -> PostStep:
        where = self.where(spec.where, f"post[{index}].where")
        return PostStep(spec.command, tuple(spec.metrics), where)


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
