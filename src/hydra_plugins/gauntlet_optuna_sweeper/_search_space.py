"""Turn Hydra overrides into an Optuna search space and trial params back into overrides.

| override                         | Optuna distribution                                  |
|----------------------------------|------------------------------------------------------|
| ``interval(a, b)``               | float in [a, b]                                      |
| ``tag(log, interval(a, b))``     | float in [a, b], log scale                           |
| ``tag(int, interval(a, b))``     | int in [a, b] (both ends included)                   |
| ``range(a, b[, step])``          | the values Hydra's range gives: a, a+step, ... < b   |
| ``tag(log, range(a, b))``        | ints a .. b-1, log scale                             |
| ``choice(a, b)``, ``a,b``        | categorical (also ``glob(...)`` over config groups)  |
| ``x`` (no sweep)                 | fixed for every trial                                |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.types import (
    IntervalSweep,
    Override,
    QuotedString,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from gauntlet.errors import GauntletError

KNOWN_TAGS = ("int", "log")


@dataclass(frozen=True)
class Dimension:
    """One searched key: its Optuna name and distribution, and how a value becomes an override."""

    name: str
    key: str  # the override's key with its prefix, e.g. "model.optimizer.lr" or "+foo"
    distribution: BaseDistribution
    # for categorical dimensions: the override text of each choice, in the choices' order
    choice_texts: tuple[str, ...] = ()

    def override(self, value: Any) -> str:
        if isinstance(self.distribution, CategoricalDistribution):
            text = self.choice_texts[self.distribution.to_internal_repr(value)]
        else:
            text = repr(value)
        return f"{self.key}={text}"


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]
    fixed: tuple[str, ...]  # overrides every job gets as they are

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {d.name: d.distribution for d in self.dimensions}

    def job_overrides(self, params: Mapping[str, Any]) -> list[str]:
        return [*self.fixed, *(d.override(params[d.name]) for d in self.dimensions)]


def build_search_space(overrides: Sequence[Override]) -> SearchSpace:
    """A later override of a key replaces an earlier one (the command line beats the preset)."""
    latest: dict[str, Override] = {}
    for override in overrides:
        latest[_param_name(override)] = override
    dimensions = []
    fixed = []
    for name, override in latest.items():
        if override.is_sweep_override():
            dimensions.append(dimension_from_override(name, override))
        else:
            fixed.append(_fixed_text(override))
    return SearchSpace(dimensions=tuple(dimensions), fixed=tuple(fixed))


def dimension_from_override(name: str, override: Override) -> Dimension:
    key = override.get_key_element()
    value = override.value()
    try:
        if override.is_interval_sweep():
            assert isinstance(value, IntervalSweep)
            return Dimension(name, key, _interval(value, override))
        if override.is_range_sweep():
            assert isinstance(value, RangeSweep)
            return Dimension(name, key, _range(value, override))
        if override.is_choice_sweep():
            _check_tags(getattr(value, "tags", set()), override, allowed=())
            return _categorical(name, key, override)
    except ValueError as e:  # Optuna's own checks on bounds and steps
        raise GauntletError(f"Search dimension '{override.input_line}': {e}") from e
    raise GauntletError(
        f"Search dimension '{override.input_line}': unsupported sweep; use interval(a,b), "
        "tag(log, interval(a,b)), tag(int, interval(a,b)), range(a,b[,step]), choice(a,b,...) "
        "or a,b,..."
    )


def _param_name(override: Override) -> str:
    return override.get_key_element().lstrip("~+")


def _fixed_text(override: Override) -> str:
    if override.input_line is not None:
        return override.input_line
    return f"{override.get_key_element()}={override.get_value_element_as_str()}"


def _check_tags(tags: set[str], override: Override, allowed: Sequence[str]) -> None:
    unknown = sorted(set(tags) - set(allowed))
    if unknown:
        raise GauntletError(
            f"Search dimension '{override.input_line}': tag {', '.join(unknown)} is not "
            f"understood here; valid tags: {', '.join(allowed) or 'none for choices'}"
        )


def _interval(sweep: IntervalSweep, override: Override) -> BaseDistribution:
    _check_tags(sweep.tags, override, allowed=KNOWN_TAGS)
    assert sweep.start is not None and sweep.end is not None
    log = "log" in sweep.tags
    if "int" in sweep.tags:
        low, high = int(sweep.start), int(sweep.end)
        if (low, high) != (sweep.start, sweep.end):
            raise GauntletError(
                f"Search dimension '{override.input_line}': tag(int, ...) needs whole-number "
                f"bounds, got {sweep.start} and {sweep.end}"
            )
        return IntDistribution(low, high, log=log)
    return FloatDistribution(sweep.start, sweep.end, log=log)


def _range(sweep: RangeSweep, override: Override) -> BaseDistribution:
    _check_tags(sweep.tags, override, allowed=("log",))
    values = list(sweep.range())
    if not values:
        raise GauntletError(
            f"Search dimension '{override.input_line}': the range holds no values "
            "(Hydra's range excludes its end, like Python's)"
        )
    log = "log" in sweep.tags
    step = abs(sweep.step)
    if all(isinstance(v, int) for v in values) and isinstance(step, int):
        if log and step != 1:
            raise GauntletError(
                f"Search dimension '{override.input_line}': a log-scale range needs step 1, "
                f"got {sweep.step}"
            )
        return IntDistribution(min(values), max(values), log=log, step=step)
    if log:
        raise GauntletError(
            f"Search dimension '{override.input_line}': a float range cannot be log-scale; "
            "use tag(log, interval(a,b)) for a continuous log-scale float"
        )
    return FloatDistribution(min(values), max(values), step=float(step))


def _categorical(name: str, key: str, override: Override) -> Dimension:
    choices: list[Any] = []
    texts: list[str] = []
    for element in override.sweep_iterator(transformer=Transformer.identity):
        text = Transformer.str(element)
        if text not in texts:
            # Optuna stores None, bool, int, float and str; a list or dict choice is kept as text
            value = element.text if isinstance(element, QuotedString) else element
            choices.append(Transformer.encode(value))
            texts.append(text)
    return Dimension(name, key, CategoricalDistribution(choices), tuple(texts))
