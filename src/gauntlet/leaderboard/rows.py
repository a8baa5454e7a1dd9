"""Turn a run manifest into a ``runs`` row and back.

Reading is lenient: any field but ``run_id`` may be missing, null or of an unexpected type in an
older manifest. A value that cannot be coerced to its column's type is stored as null and logged.
Fields without a column of their own are kept in the ``extra`` JSON column, so
``to_manifest(to_row(m))`` gives back ``m`` (times normalised to UTC ISO strings).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.identity import config_key
from gauntlet.leaderboard.tables import MAX_RUN_ID_LENGTH
from gauntlet.redaction import scrub_secrets

log = logging.getLogger(__name__)

# Manifest fields stored in a column of the same name, in the order a manifest lists them.
TEXT_FIELDS = ("status", "experiment", "study", "model", "data", "user", "host", "run_dir")
COLUMN_FIELDS = (
    "run_id",
    "status",
    "experiment",
    "study",
    "model",
    "data",
    "seed",
    "user",
    "host",
    "run_dir",
    "started",
    "finished",
    "duration_s",
    "metrics",
    "config",
    "num_params",
    "error",
    "config_key",
)
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def to_row(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The ``runs`` row for a manifest; credentials in it are masked first."""
    run_id = manifest.get("run_id")
    if not isinstance(run_id, str) or not run_id.strip():
        raise GauntletError(
            f"manifest field 'run_id' must be a non-empty string, got {run_id!r}; "
            "every manifest.json written by `gauntlet train` has one"
        )
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise GauntletError(
            f"manifest field 'run_id' is {len(run_id)} characters long; "
            f"at most {MAX_RUN_ID_LENGTH} are allowed"
        )
    clean: dict[str, Any] = scrub_secrets(_jsonable(dict(manifest)))
    git = clean.get("git") if isinstance(clean.get("git"), dict) else {}
    wandb = clean.get("wandb") if isinstance(clean.get("wandb"), dict) else {}
    row: dict[str, Any] = {field: _text(clean.get(field)) for field in TEXT_FIELDS}
    config = clean.get("config") if isinstance(clean.get("config"), dict) else None
    row.update(
        run_id=run_id,
        seed=_integer(clean.get("seed"), "seed"),
        num_params=_integer(clean.get("num_params"), "num_params"),
        duration_s=_real(clean.get("duration_s"), "duration_s"),
        started=_utc(clean.get("started"), "started"),
        finished=_utc(clean.get("finished"), "finished"),
        error=_text(clean.get("error")),
        config=config,
        # always computed from the config, never taken from the manifest, so it cannot disagree
        config_key=config_key(config),
        metrics=encode_metrics(clean.get("metrics")),
        git_commit=_text(git.get("commit")),
        git_dirty=git.get("dirty") if isinstance(git.get("dirty"), bool) else None,
        wandb_run=_text(wandb.get("id") or wandb.get("name")),
        extra={key: value for key, value in clean.items() if key not in COLUMN_FIELDS},
    )
    return row


def to_manifest(row: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest-shaped dict for a stored row (times as ISO strings in UTC)."""
    extra = dict(row.get("extra") or {})
    manifest: dict[str, Any] = {}
    if "schema" in extra:
        manifest["schema"] = extra.pop("schema")
    for field in COLUMN_FIELDS:
        value = row.get(field)
        if field in ("started", "finished") and value is not None:
            value = value.replace(tzinfo=timezone.utc).isoformat()
        elif field == "metrics":
            value = decode_metrics(value)
        manifest[field] = value
    if "git" not in extra and (
        row.get("git_commit") is not None or row.get("git_dirty") is not None
    ):
        extra["git"] = {"commit": row.get("git_commit"), "dirty": row.get("git_dirty")}
    if "wandb" not in extra and row.get("wandb_run") is not None:
        extra["wandb"] = {"id": row.get("wandb_run")}
    manifest.update(extra)
    return manifest


def merge(stored: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A run's manifest after an update: the update's fields win, fields it lacks are kept."""
    return {**stored, **update}


def plain_json(value: Any) -> Any:
    """A plain JSON tree for any value (what a JSON column stores), non-finite numbers as
    strings (PostgreSQL's JSON has none)."""
    value = _jsonable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).lower()
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value


def utc_time(value: Any) -> datetime | None:
    """A naive UTC datetime from an ISO string or epoch seconds (None if unreadable)."""
    return _utc(value, "time")


def _jsonable(value: Any) -> Any:
    """A plain JSON tree (dicts, lists, str, numbers, bools, None) for any manifest value."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if hasattr(value, "item"):  # numpy / torch scalars
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def encode_metrics(value: Any) -> dict[str, Any] | None:
    # JSON has no NaN or infinity (PostgreSQL rejects them), so they travel as strings.
    if not isinstance(value, dict):
        return None
    return {
        key: str(item).lower() if isinstance(item, float) and not math.isfinite(item) else item
        for key, item in value.items()
    }


def decode_metrics(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {
        key: _NON_FINITE[item] if isinstance(item, str) and item in _NON_FINITE else item
        for key, item in value.items()
    }


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _integer(value: Any, field: str) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        log.warning("manifest field %r: expected an integer, got %r; stored as null", field, value)
        return None
    if not number.is_integer():
        log.warning("manifest field %r: expected an integer, got %r; stored as null", field, value)
        return None
    return int(number)


def _real(value: Any, field: str) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        log.warning("manifest field %r: expected a number, got %r; stored as null", field, value)
        return None
    return number if math.isfinite(number) else None


def _utc(value: Any, field: str) -> datetime | None:
    """A naive UTC datetime from an ISO string (a trailing Z is fine) or epoch seconds."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, tz=timezone.utc)
        else:
            text = str(value).strip()
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        log.warning("manifest field %r: expected an ISO time, got %r; stored as null", field, value)
        return None
    if moment.tzinfo is None:  # a time without an offset is taken to be UTC already
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
