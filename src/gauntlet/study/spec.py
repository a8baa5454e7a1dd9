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

A run's overrides are, later ones winning: ``experiment=BASE``, ``overrides``, its cell's levels
and, with ``--quick``, the quick overrides.

Everything is checked when the file is read; a mistake raises :class:`GauntletError` naming the
file, the key, what was expected and the valid choices.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gauntlet.errors import GauntletError
from gauntlet.study.statistics import Settings

TOP_KEYS = (
    "name",
    "description",
    "base",
    "overrides",
    "grid",
    "seeds",
    "metrics",
    "quick",
    "post",
    "plots",
    "claims",
    "config_dir",
    "statistics",
)
STATISTICS_KEYS = ("level", "resamples", "seed", "power")
# --quick: one epoch of a few batches, CSV logs only; a study's own quick.overrides come after
QUICK_OVERRIDES = (
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "logger=csv",
)
# the gauntlet commands a post step may run on a finished run
POST_COMMANDS = ("explain", "attack", "eval")
COMPARISONS = (">", ">=", "<", "<=", "~=")
TRENDS = ("increasing", "decreasing")
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


@dataclass(frozen=True)
class PostStep:
    """``gauntlet COMMAND ARGS`` run on each completed run (``{ckpt}``, ``{run_dir}``,
    ``{run_id}``, ``{seed}``, an axis name or a config key are filled in), unless the run
    already recorded every metric in ``metrics``."""

    command: str
    metrics: tuple[str, ...]
    where: dict[str, Any]


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


class _Reader:
    """Checks one study file's pieces, naming the file and key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> GauntletError:
        return GauntletError(f"{self.path}: {key}: {message}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__} {value!r}")
        return {str(k): v for k, v in value.items()}

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def seeds(self, value: Any, key: str) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise self.fail(key, f"expected a non-empty list of whole numbers, got {value!r}")
        if len(set(value)) != len(value):
            raise self.fail(key, f"seeds repeat: {value}")
        return tuple(value)

    def overrides(self, value: Any, key: str) -> tuple[str, ...]:
        from gauntlet.study.overrides import parse_one

        items = self.strings(value, key)
        for item in items:
            try:
                parsed = parse_one(item)
            except GauntletError as err:
                raise self.fail(key, str(err)) from None
            if parsed is None:
                raise self.fail(
                    key, f"{item!r} is a sweep; put the values that vary under grid: instead"
                )
        return items

    def axis(self, name: str, value: Any) -> Axis:
        key = f"grid.{name}"
        if isinstance(value, list):
            if not value:
                raise self.fail(key, "expected at least one value")
            if name.startswith(("hydra", "seed")) or name in ("study", "experiment_name"):
                raise self.fail(key, "the study sets this key itself; it cannot be an axis")
            levels = tuple(Level(v, ((name, v),)) for v in value)
            named = False
        elif isinstance(value, Mapping):
            if not value:
                raise self.fail(key, "expected at least one named level")
            levels = []
            for label, overrides in value.items():
                settings = self.mapping(overrides, f"{key}.{label}")
                levels.append(Level(label, tuple(settings.items())))
            levels = tuple(levels)
            named = True
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
        return Axis(name, levels, named)

    def along(self, value: Any, key: str, axes: Sequence[Axis]) -> Along:
        names = [axis.name for axis in axes]
        if isinstance(value, str):
            if value not in names:
                raise self.fail(
                    key,
                    f"{value!r} is not an axis of the grid; axes: {', '.join(names) or 'none'}, "
                    "or a variable of the metric name as {NAME: [values]}",
                )
            return Along(value)
        if isinstance(value, Mapping) and len(value) == 1:
            (name, values), *_ = value.items()
            if not isinstance(values, list) or not values:
                raise self.fail(key, f"{name}: expected a non-empty list of values")
            return Along(str(name), tuple(values))
        raise self.fail(
            key,
            f"expected an axis name ({', '.join(names)}) or one variable with its values, "
            f"e.g. {{eps: [0, 0.05, 0.1]}}; got {value!r}",
        )

    def where(self, value: Any, key: str, axes: Sequence[Axis]) -> dict[str, Any]:
        from gauntlet.leaderboard.query import same_value

        where = self.mapping(value, key)
        for name, wanted in where.items():
            axis = next((a for a in axes if a.name == name), None)
            if axis and not any(same_value(wanted, label) for label in axis.labels()):
                choices = ", ".join(format_label(label) for label in axis.labels())
                raise self.fail(
                    f"{key}.{name}", f"{wanted!r} is not a level of that axis; levels: {choices}"
                )
        return where

    def template(self, metric: Any, key: str, along: Along | None) -> str:
        if not isinstance(metric, str) or not metric:
            raise self.fail(key, f"expected a metric name such as test/acc, got {metric!r}")
        variables = set(_VARIABLE.findall(metric))
        allowed = {along.name} if along is not None and not along.is_axis else set()
        if variables - allowed:
            hint = (
                f"only {{{along.name}}}" if allowed else "no variable (declare one as the x/along)"
            )
            raise self.fail(key, f"{metric!r} names {sorted(variables - allowed)}; {hint}")
        return metric

    def axis_name(self, value: Any, key: str, axes: Sequence[Axis]) -> str:
        names = [axis.name for axis in axes]
        if value not in names:
            raise self.fail(key, f"{value!r} is not an axis; axes: {', '.join(names) or 'none'}")
        return str(value)

    def plot(self, index: int, value: Any, axes: Sequence[Axis]) -> PlotSpec:
        key = f"plots[{index}]"
        spec = self.mapping(value, key)
        unknown = set(spec) - {"name", "title", "x", "y", "lines", "where", "logx"}
        if unknown:
            raise self.fail(
                f"{key}.{sorted(unknown)[0]}",
                "not a plot key; valid: name, title, x, y, lines, where, logx",
            )
        if "x" not in spec or "y" not in spec:
            raise self.fail(key, "a plot needs x (an axis or {VARIABLE: [values]}) and y")
        x = self.along(spec["x"], f"{key}.x", axes)
        ys = spec["y"] if isinstance(spec["y"], list) else [spec["y"]]
        y = tuple(self.template(m, f"{key}.y", x) for m in ys)
        lines = spec.get("lines")
        if lines is not None:
            lines = self.axis_name(lines, f"{key}.lines", axes)
            if lines == x.name:
                raise self.fail(f"{key}.lines", "must differ from x")
        name = spec.get("name") or slug(f"{y[0]}_vs_{x.name}" + (f"_by_{lines}" if lines else ""))
        if not _NAME.match(str(name)):
            raise self.fail(f"{key}.name", f"{name!r}: letters, digits, _ . - only")
        title = str(spec.get("title") or f"{', '.join(y)} vs {x.name}")
        return PlotSpec(
            name=str(name),
            x=x,
            y=y,
            lines=lines,
            where=self.where(spec.get("where"), f"{key}.where", axes),
            title=title,
            logx=bool(spec.get("logx", False)),
        )

    def claim(self, index: int, value: Any, axes: Sequence[Axis]) -> ClaimSpec:
        key = f"claims[{index}]"
        spec = self.mapping(value, key)
        valid = {"name", "metric", "where", "for_each", "op", "than", "value", "tol"}
        valid |= {"trend", "along"}
        unknown = set(spec) - valid
        if unknown:
            raise self.fail(
                f"{key}.{sorted(unknown)[0]}",
                f"not a claim key; valid: {', '.join(sorted(valid))}",
            )
        name = str(spec.get("name") or f"claim {index + 1}")
        for_each_value = spec.get("for_each") or []
        if isinstance(for_each_value, str):
            for_each_value = [for_each_value]
        for_each = tuple(self.axis_name(v, f"{key}.for_each", axes) for v in list(for_each_value))
        where = self.where(spec.get("where"), f"{key}.where", axes)
        tol = spec.get("tol", 0.0)
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or tol < 0:
            raise self.fail(f"{key}.tol", f"expected a number >= 0, got {tol!r}")
        if "trend" in spec:
            if spec["trend"] not in TRENDS:
                raise self.fail(f"{key}.trend", f"{spec['trend']!r}; choose {' or '.join(TRENDS)}")
            if "along" not in spec:
                raise self.fail(key, "a trend claim needs along: an axis or {VARIABLE: [values]}")
            if {"op", "than", "value"} & set(spec):
                raise self.fail(key, "a claim is either a trend or a comparison (op), not both")
            along = self.along(spec["along"], f"{key}.along", axes)
            if along.name in for_each or along.name in where:
                raise self.fail(f"{key}.along", f"{along.name!r} is also in where/for_each")
            metric = self.template(spec.get("metric"), f"{key}.metric", along)
            return ClaimSpec(
                name, metric, where, for_each, trend=spec["trend"], along=along, tol=float(tol)
            )
        op = spec.get("op")
        if op not in COMPARISONS:
            raise self.fail(
                f"{key}.op",
                f"{op!r}; choose one of {', '.join(COMPARISONS)} (or trend: for a trend claim)",
            )
        metric = self.template(spec.get("metric"), f"{key}.metric", None)
        if ("value" in spec) == ("than" in spec):
            raise self.fail(
                key, "a comparison needs exactly one of value: (a number) or than: (runs)"
            )
        if "value" in spec:
            number = spec["value"]
            if not isinstance(number, (int, float)) or isinstance(number, bool):
                raise self.fail(f"{key}.value", f"expected a number, got {number!r}")
            than = Side(value=float(number))
        else:
            other = self.mapping(spec["than"], f"{key}.than")
            extra = set(other) - {"metric", "where"}
            if extra:
                raise self.fail(
                    f"{key}.than.{sorted(extra)[0]}", "valid keys: metric, where (or use value:)"
                )
            than = Side(
                metric=self.template(other.get("metric", metric), f"{key}.than.metric", None),
                where=self.where(other.get("where"), f"{key}.than.where", axes),
            )
            if than.metric == metric and not than.where:
                raise self.fail(f"{key}.than", "compares the runs with themselves; give where:")
        if op in (">", "<") and tol:
            raise self.fail(f"{key}.tol", f"tol loosens >=, <= and ~= only, not {op}")
        if op == "~=" and not tol:
            raise self.fail(f"{key}.tol", "~= needs a tolerance, e.g. tol: 0.02")
        return ClaimSpec(name, metric, where, for_each, op=op, than=than, tol=float(tol))

    def statistics(self, value: Any) -> Settings:
        spec = self.mapping(value, "statistics")
        unknown = set(spec) - set(STATISTICS_KEYS)
        if unknown:
            raise self.fail(
                f"statistics.{sorted(unknown)[0]}", f"valid keys: {', '.join(STATISTICS_KEYS)}"
            )
        default = Settings()
        level = spec.get("level", default.level)
        if not _number(level) or not 0 < level < 0.5:
            raise self.fail("statistics.level", f"expected a number in (0, 0.5), got {level!r}")
        resamples = spec.get("resamples", default.resamples)
        if not _whole(resamples) or resamples < 100:
            raise self.fail(
                "statistics.resamples", f"expected a whole number >= 100, got {resamples!r}"
            )
        seed = spec.get("seed", default.seed)
        if not _whole(seed) or seed < 0:
            raise self.fail("statistics.seed", f"expected a whole number >= 0, got {seed!r}")
        power = spec.get("power", default.power)
        if not _number(power) or not 0 < power < 1:
            raise self.fail("statistics.power", f"expected a number in (0, 1), got {power!r}")
        return Settings(level=float(level), resamples=resamples, seed=seed, power=float(power))

    def post(self, index: int, value: Any, axes: Sequence[Axis]) -> PostStep:
        key = f"post[{index}]"
        spec = self.mapping(value, key)
        unknown = set(spec) - {"command", "metrics", "where"}
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", "valid keys: command, metrics, where")
        command = spec.get("command")
        if not isinstance(command, str) or not command.split():
            raise self.fail(f"{key}.command", "expected a command such as 'explain ckpt_path=...'")
        if command.split()[0] not in POST_COMMANDS:
            raise self.fail(
                f"{key}.command",
                f"{command.split()[0]!r} is not a command a post step may run; "
                f"choose {', '.join(POST_COMMANDS)}",
            )
        metrics = self.strings(spec.get("metrics"), f"{key}.metrics")
        if not metrics:
            raise self.fail(
                f"{key}.metrics",
                "name the metrics the command records, so completed steps are not rerun",
            )
        return PostStep(command, metrics, self.where(spec.get("where"), f"{key}.where", axes))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "plot"


def load_study(path: str | Path) -> Study:
    """Read and check a study file."""
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
    reader = _Reader(path)
    if data is None or data == {}:
        raise GauntletError(
            f"{path}: the study file is empty; a study names at least its runs (base:, "
            "overrides: or grid:) and seeds:, and usually the claims: it checks"
        )
    data = reader.mapping(data, "top level")
    unknown = set(data) - set(TOP_KEYS)
    if unknown:
        raise reader.fail(sorted(unknown)[0], f"not a study key; valid: {', '.join(TOP_KEYS)}")

    name = str(data.get("name") or path.stem)
    if not _NAME.match(name):
        raise reader.fail("name", f"{name!r}: letters, digits, _ . - only")
    base = data.get("base")
    if base is not None and not isinstance(base, str):
        raise reader.fail("base", f"expected an experiment preset name, got {base!r}")
    grid = reader.mapping(data.get("grid"), "grid")
    axes = tuple(reader.axis(axis_name, values) for axis_name, values in grid.items())
    overrides = reader.overrides(data.get("overrides"), "overrides")
    _check_keys_once(reader, base, overrides, axes)

    quick_spec = reader.mapping(data.get("quick"), "quick")
    if set(quick_spec) - {"seeds", "overrides"}:
        raise reader.fail("quick", "valid keys: seeds, overrides")
    seeds = reader.seeds(data.get("seeds", [1, 2, 3]), "seeds")
    quick = Quick(
        seeds=reader.seeds(quick_spec.get("seeds", [seeds[0]]), "quick.seeds"),
        overrides=reader.overrides(quick_spec.get("overrides"), "quick.overrides"),
    )
    metrics = reader.strings(data.get("metrics", ["test/acc"]), "metrics")
    if not metrics:
        raise reader.fail("metrics", "name at least one metric for the results table")
    plots = tuple(reader.plot(i, p, axes) for i, p in enumerate(_as_list(reader, data, "plots")))
    if len({p.name for p in plots}) != len(plots):
        raise reader.fail("plots", "two plots have the same name; give each a name:")
    claims = tuple(reader.claim(i, c, axes) for i, c in enumerate(_as_list(reader, data, "claims")))
    post = tuple(reader.post(i, p, axes) for i, p in enumerate(_as_list(reader, data, "post")))
    config_dir = None
    if data.get("config_dir") is not None:
        config_dir = (path.parent / str(data["config_dir"])).resolve()
        if not config_dir.is_dir():
            raise reader.fail("config_dir", f"{config_dir} is not a directory")
    study = Study(
        path=path,
        name=name,
        description=str(data.get("description") or "").strip(),
        base=base,
        overrides=overrides,
        axes=axes,
        seeds=seeds,
        metrics=metrics,
        quick=quick,
        post=post,
        plots=plots,
        claims=claims,
        config_dir=config_dir,
        statistics=reader.statistics(data.get("statistics")),
    )
    _check_cells_differ(reader, study)
    return study


def _as_list(reader: _Reader, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise reader.fail(key, f"expected a list, got {type(value).__name__}")
    return value


def _check_keys_once(
    reader: _Reader, base: str | None, overrides: Sequence[str], axes: Sequence[Axis]
) -> None:
    """A key is set once in ``overrides`` and by at most one axis (whose levels may change
    an ``overrides`` value); ``experiment`` by ``base`` or an axis, not both."""
    from gauntlet.study.overrides import key_of

    seen: set[str] = set()
    for item in overrides:
        key = key_of(item)
        if key in seen:
            raise reader.fail("overrides", f"{key} is set twice")
        seen.add(key)
        if key == "experiment" and base:
            raise reader.fail("overrides", "experiment is the base: key; set it there")
    owner: dict[str, str] = {}
    for axis in axes:
        keys = {key_of(override(k, v)) for level in axis.levels for k, v in level.overrides}
        for key in sorted(keys):
            if key in owner:
                raise reader.fail(f"grid.{axis.name}", f"{key} is also set by grid.{owner[key]}")
            if key == "experiment" and base:
                raise reader.fail(f"grid.{axis.name}", "sets experiment, which base: sets too")
            owner[key] = axis.name


def _check_cells_differ(reader: _Reader, study: Study) -> None:
    from gauntlet.study.overrides import identity

    seen: dict[frozenset, Cell] = {}
    for cell in study.cells():
        ident = identity(cell.overrides)
        if ident in seen:
            raise reader.fail(
                "grid",
                f"cells {seen[ident].describe()} and {cell.describe()} run the same overrides; "
                "give each named level its own settings",
            )
        seen[ident] = cell
