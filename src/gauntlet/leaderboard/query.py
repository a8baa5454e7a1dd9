"""Find a value in a run by key, and filter runs by ``KEY=VALUE`` conditions.

A key names, in this order of precedence: a manifest field (``status``, ``model``, ``seed``,
``user``...), a dotted key of the resolved config (``model.net.dropout``, ``data.fraction``), a
dotted path into the manifest (``git.commit``, ``config.seed``, ``metrics.test/acc``), or a metric
(``test/acc``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gauntlet.errors import GauntletError

MISSING: Any = object()
"""What :func:`lookup` returns for a key the run does not have."""


def lookup(row: Mapping[str, Any], key: str) -> Any:
    """The value of ``key`` in a manifest-shaped run, or :data:`MISSING`."""
    if key in row:
        return row[key]
    parts = key.split(".")
    config = row.get("config")
    if isinstance(config, Mapping):
        value = _walk(config, parts)
        if value is not MISSING:
            return value
    value = _walk(row, parts)
    if value is not MISSING:
        return value
    metrics = row.get("metrics")
    if isinstance(metrics, Mapping) and key in metrics:
        return metrics[key]
    return MISSING


def _walk(tree: Mapping[str, Any], parts: list[str]) -> Any:
    node: Any = tree
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def parse_value(text: str) -> Any:
    """A command-line value as YAML (``0.1``, ``true``, ``null``, ``[64, 64]``), else the text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" as a string; the user means a number
            return float(value)
        except ValueError:
            return value
    return value


def same_value(wanted: Any, stored: Any, text: str | None = None) -> bool:
    """Whether a stored value equals a wanted one: numbers compare by value (``0.1`` matches
    ``0.1000000001`` within 1e-9 relative), booleans only with booleans, and a stored string also
    matches the wanted value's original ``text``."""
    if stored is MISSING:
        return False
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(wanted, bool) and isinstance(stored, bool) and wanted == stored
    if isinstance(wanted, (int, float)) and isinstance(stored, (int, float)):
        return math.isclose(wanted, stored, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(wanted, list) and isinstance(stored, list):
        return len(wanted) == len(stored) and all(map(same_value, wanted, stored))
    if wanted == stored:
        return True
    return text is not None and isinstance(stored, str) and stored == text


@dataclass(frozen=True)
class Condition:
    """``key == value``: one ``--where KEY=VALUE`` filter."""

    key: str
    value: Any
    text: str | None = None

    def matches(self, row: Mapping[str, Any]) -> bool:
        return same_value(self.value, lookup(row, self.key), self.text)

    def __str__(self) -> str:
        return f"{self.key}={self.text if self.text is not None else self.value!r}"


def parse_where(items: Iterable[str]) -> list[Condition]:
    """Conditions from ``KEY=VALUE`` strings (the value is read as YAML)."""
    conditions = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise GauntletError(
                f"--where {item!r}: expected KEY=VALUE, e.g. --where model.net.dropout=0.1 "
                "or --where status=completed"
            )
        conditions.append(Condition(key.strip(), parse_value(text.strip()), text.strip()))
    return conditions


def as_conditions(where: Mapping[str, Any] | Iterable[Condition | str] | None) -> list[Condition]:
    """Conditions from a mapping ``{key: value}``, ``KEY=VALUE`` strings or Conditions."""
    if where is None:
        return []
    if isinstance(where, Mapping):
        return [Condition(str(key), value) for key, value in where.items()]
    conditions = []
    for item in where:
        conditions.extend([item] if isinstance(item, Condition) else parse_where([item]))
    return conditions


def known_keys(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every key :func:`lookup` can resolve in at least one of the runs."""
    keys: set[str] = set()
    for row in rows:
        for name, value in row.items():
            if isinstance(value, Mapping) and name != "config":
                keys.update(f"{name}.{path}" for path in _paths(value))
            elif name != "config":
                keys.add(name)
        if isinstance(row.get("config"), Mapping):
            keys.update(_paths(row["config"]))
        if isinstance(row.get("metrics"), Mapping):
            keys.update(row["metrics"])
    return keys


def _paths(tree: Mapping[str, Any]) -> Iterable[str]:
    for name, value in tree.items():
        yield str(name)
        if isinstance(value, Mapping):
            yield from (f"{name}.{path}" for path in _paths(value))


def require_key(rows: list[Mapping[str, Any]], key: str, option: str) -> None:
    """Raise if no run has ``key`` (a likely typo), naming the closest keys that exist."""
    if not rows or any(lookup(row, key) is not MISSING for row in rows):
        return
    close = difflib.get_close_matches(key, sorted(known_keys(rows)), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise GauntletError(
        f"{option} {key!r}: no recorded run has this key. Expected a manifest field "
        f"(status, model, data, seed, ...) or a dotted config key (model.net.dropout){hint}"
    )


def require_metric(rows: list[Mapping[str, Any]], metric: str) -> None:
    """Raise if runs recorded metrics but none recorded ``metric`` (a likely typo), listing the
    metrics they have. Runs without any metrics yet (still running) raise nothing."""
    recorded = sorted({name for row in rows for name in (row.get("metrics") or {})})
    if not recorded or metric in recorded:
        return
    close = difflib.get_close_matches(metric, recorded, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise GauntletError(
        f"--metric {metric!r}: no matching run recorded this metric{hint}; "
        f"recorded metrics: {', '.join(recorded)}"
    )


# -- what kind of run a row is ---------------------------------------------------------------
