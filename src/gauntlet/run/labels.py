"""What kind of run a run is, read from its config: a smoke run (and why), and the sweep it
belongs to. A new manifest carries them from its start (:func:`run_labels`); the leaderboard
groups and filters runs by them, and W&B names its runs after them
(:func:`gauntlet.loggers.wandb_fields`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

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
