"""A run's training identity: what was trained, without the seed and without bookkeeping.

Two runs with the same identity trained the same thing with (perhaps) different seeds, so their
metrics may be pooled; runs of different identities never are, unless the user asks with
``--group-by``. The identity is the resolved config minus the keys that :data:`NOT_TRAINING`
names (and any the run's config adds under ``leaderboard.identity_ignore``); its hash,
``config_key``, is stored with each leaderboard row and groups the default view.

A pattern names a dotted config key or a subtree (``paths`` drops ``paths.log_dir`` too), with
``*`` matching any part of a name (``*.seed``, ``callbacks.*.dirpath``), as :mod:`fnmatch` reads
it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import translate
from functools import lru_cache
from typing import Any

# The keys that do not change what is trained. Extend it per run with
# ``leaderboard.identity_ignore=[KEY,...]`` (conf/leaderboard/*.yaml).
NOT_TRAINING: tuple[str, ...] = (
    # the seed, and every key derived from it (data.seed, data.datasets.0.seed...), and each
    # source of randomness seeded on its own (seeds.init, seeds.order..., data.split_seed)
    "seed",
    "*.seed",
    "seeds",
    "*_seed",
    # where things are written, how they are logged and launched, what they are called
    "paths",
    "hydra",
    "logger",
    "launcher",
    "leaderboard",
    "study",
    "sweep",
    "tags",
    "task_name",
    "experiment_name",
    "optimized_metric",
    "ckpt_path",
    "resume",
    "trainer.default_root_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "trainer.logger",
    "callbacks.*.dirpath",
    # callbacks that measure or draw, and change no weight
    "callbacks.progress_bar",
    "callbacks.curves",
    "callbacks.throughput",
    "callbacks.flops",
    "callbacks.history",
    "data.num_workers",
    "data.data_dir",
)
IGNORE_KEY = "identity_ignore"


def ignored_patterns(config: Mapping[str, Any] | None) -> list[str]:
    """:data:`NOT_TRAINING` plus what the config adds under ``leaderboard.identity_ignore``."""
    extra: Any = None
    if isinstance(config, Mapping) and isinstance(config.get("leaderboard"), Mapping):
        extra = config["leaderboard"].get(IGNORE_KEY)
    if isinstance(extra, str):
        extra = [extra]
    return [*NOT_TRAINING, *(str(p) for p in (extra or []) if str(p).strip())]


def is_ignored(key: str, patterns: Iterable[str]) -> bool:
    """Whether a dotted key (or the subtree it heads) falls under one of the patterns."""
    matcher = _matcher(tuple(patterns))
    parts = key.split(".")
    return any(matcher(".".join(parts[: i + 1])) for i in range(len(parts)))


@lru_cache(maxsize=64)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], Any]:
    # one compiled expression for the whole list: fnmatch's reading of each pattern
    return re.compile("|".join(f"(?:{translate(p)})" for p in patterns) or "(?!)").match


def training_config(
    config: Mapping[str, Any] | None, ignore: Sequence[str] | None = None
) -> dict[str, Any]:
    """The config with the ignored keys taken out (empty subtrees removed too)."""
    patterns = ignored_patterns(config) if ignore is None else list(ignore)

    def strip(tree: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for name, value in tree.items():
            key = f"{prefix}.{name}" if prefix else str(name)
            if is_ignored(key, patterns):
                continue
            if isinstance(value, Mapping):
                inner = strip(value, key)
                if inner or not value:
                    kept[str(name)] = inner
            else:
                kept[str(name)] = value
        return kept

    return strip(config or {}, "")


def config_key(config: Mapping[str, Any] | None) -> str | None:
    """The hash of a run's training identity (16 hex digits); None for a run without config."""
    if not isinstance(config, Mapping) or not config:
        return None
    text = json.dumps(_canonical(training_config(config)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    # 1 and 1.0 are one value to the trainer; JSON would tell them apart
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def flat_items(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for name, value in tree.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, Mapping) and value:
            out.update(flat_items(value, key))
        else:
            out[key] = value
    return out


def group_label(runs: Sequence[Mapping[str, Any]]) -> str:
    """A readable name for a group of runs of one identity: the experiment, then only the keys
    in which it differs from its preset or the default, ``cnn_digits · data.fraction=0.1``.

    The keys are those the runs' command lines overrode (``overrides`` in the manifest), minus
    the keys outside the identity; each is shown with the value the run resolved, and a group
    choice (``model=rnn``) as chosen. Runs of one identity resolve every key alike, so the
    union over the group's runs says the same of each of them.
    """
    if not runs:
        return "—"
    experiments = [str(r.get("experiment")) for r in runs if r.get("experiment")]
    experiment = max(set(experiments), key=experiments.count) if experiments else "run"
    first = runs[0]
    config = first.get("config") if isinstance(first.get("config"), Mapping) else {}
    patterns = ignored_patterns(config)
    flat = flat_items(training_config(config, patterns))
    choices = first.get("choices") if isinstance(first.get("choices"), Mapping) else {}
    parts: dict[str, str] = {}
    for run in runs:
        for item in run.get("overrides") or []:
            key, sep, text = str(item).lstrip("+~").partition("=")
            key = key.strip()
            if not sep or not key or key == "experiment" or key.startswith("hydra"):
                continue
            if is_ignored(key, patterns):
                continue
            if key in flat:
                parts[key] = _show(flat[key])
            elif key in choices:
                parts[key] = str(choices[key])
            elif any(k.startswith(key + ".") for k in flat):
                parts[key] = text.strip()
    return " · ".join([experiment, *(f"{k}={v}" for k, v in sorted(parts.items()))])


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)
