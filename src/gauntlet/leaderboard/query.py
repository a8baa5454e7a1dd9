"""Find a value in a run by key, and filter runs by ``KEY=VALUE`` conditions.

A key names, in this order of precedence: a manifest field (``status``, ``model``, ``seed``,
``user``...), a dotted key of the resolved config (``model.net.dropout``, ``data.fraction``), a
dotted path into the manifest (``git.commit``, ``config.seed``, ``metrics.test/acc``), or a metric
(``test/acc``).
"""

from __future__ import annotations

import difflib
import math
import re
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

_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches")


def smoke_reasons(run: Mapping[str, Any]) -> list[str]:
    """Why a run is a smoke run rather than a full one (empty when it is full): Lightning's
    ``fast_dev_run``, a ``limit_*_batches`` below the whole split (a fraction below 1.0, or any
    whole number of batches), ``max_steps`` set (it cuts the epochs short), or a ``debug=``
    preset. Reads a manifest or a leaderboard row; a run marked ``smoke`` at its start keeps
    that mark."""
    marked = run.get("smoke")
    if isinstance(marked, list) and marked:
        return [str(reason) for reason in marked]
    config = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    trainer = config.get("trainer") if isinstance(config.get("trainer"), Mapping) else {}
    reasons = []
    if trainer.get("fast_dev_run"):
        reasons.append(f"trainer.fast_dev_run={trainer['fast_dev_run']}")
    for name in _LIMITS:
        value = trainer.get(name)
        cut = isinstance(value, float) and value < 1.0
        cut |= isinstance(value, int) and not isinstance(value, bool)
        if value is not None and cut:
            reasons.append(f"trainer.{name}={value}")
    steps = trainer.get("max_steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0:
        reasons.append(f"trainer.max_steps={steps}")
    for item in run.get("overrides") or []:
        if str(item).lstrip("+").startswith("debug="):
            reasons.append(str(item).lstrip("+"))
    choices = run.get("choices") if isinstance(run.get("choices"), Mapping) else {}
    if choices.get("debug") and not any(r.startswith("debug=") for r in reasons):
        reasons.append(f"debug={choices['debug']}")
    return reasons


def sweep_of(cfg: Mapping[str, Any] | None = None) -> str | None:
    """The name of the sweep the running Hydra job belongs to, the same in every job of it.

    ``sweep=NAME`` names it (a single run too); an Optuna search is its study
    (``hydra.sweeper.study_name``); an unnamed multirun is called after its experiment and its
    start time (read from the sweep directory every job shares), ``cnn_digits-20261205-101500``.
    None for a single run without ``sweep``."""
    named = (cfg or {}).get("sweep") if isinstance(cfg, Mapping) else None
    if named:
        return str(named)
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
    except ImportError:
        return None
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return None
    sweeper = hydra.get("sweeper") or {}
    if "optuna" in str(sweeper.get("_target_", "")) and sweeper.get("study_name"):
        return str(sweeper.get("study_name"))
    from pathlib import Path

    directory = Path(str(hydra.sweep.dir)).name
    experiment = str((cfg or {}).get("experiment_name") or "sweep") if cfg else "sweep"
    return unnamed_sweep(experiment, directory)


def unnamed_sweep(experiment: str, directory: str) -> str:
    """``<experiment>-<YYYYmmdd-HHMMSS>`` from a sweep directory named by its start time
    (Hydra's ``${now:...}``); a directory named otherwise is kept as the second part."""
    digits = re.findall(r"\d+", directory)
    stamp = "".join(digits)
    if len(stamp) >= 14 and stamp[:2] in ("19", "20"):
        return f"{experiment}-{stamp[:8]}-{stamp[8:14]}"
    return f"{experiment}-{directory}" if directory else experiment


def run_labels(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """The fields a new manifest gets at its start so that leaderboards group and filter it:
    ``smoke`` (the reasons it is a smoke run, or an empty list) and ``sweep``."""
    smoke = smoke_reasons({"config": config, "overrides": list(overrides)})
    return {"smoke": smoke, "sweep": sweep_of(config)}


def wandb_fields(cfg: Mapping[str, Any], run_id: str | None) -> dict[str, Any]:
    """How a run appears in W&B, so that its runs table groups seeds as the leaderboard does:
    ``name`` ``<experiment>-s<seed>-<last 6 of run_id>``; ``group`` the study or sweep, else
    the experiment; ``tags`` the configured ones plus ``seed:N``, ``study:NAME``,
    ``sweep:NAME`` and ``smoke`` where they apply. The run's ``id`` stays its run_id."""
    experiment = str(cfg.get("experiment_name") or "run")
    seed = cfg.get("seed")
    study = cfg.get("study")
    sweep = sweep_of(cfg)
    tags = [str(tag) for tag in (cfg.get("tags") or [])]
    tags.append(f"seed:{seed}")
    if study:
        tags.append(f"study:{study}")
    if sweep:
        tags.append(f"sweep:{sweep}")
    if smoke_reasons({"config": cfg}):
        tags.append("smoke")
    return {
        "id": run_id,
        "name": f"{experiment}-s{seed}-{(run_id or '')[-6:]}".rstrip("-"),
        "group": str(study or sweep or experiment),
        "tags": list(dict.fromkeys(tags)),
    }
