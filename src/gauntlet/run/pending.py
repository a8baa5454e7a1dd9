"""Leaderboard rows that could not be written yet.

When the database cannot be reached (or stays locked past its retry time), the run keeps its
row as ``RUN_DIR/leaderboard.pending.json`` and leaves a pointer to it in a spool directory
kept per database. Any later gauntlet command that opens that database writes the row and
removes both, so a run's row arrives even if nobody runs ``gauntlet leaderboard import``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gauntlet.redaction import scrub_secrets
from gauntlet.run.files import atomic_write_text

log = logging.getLogger(__name__)

PENDING = "leaderboard.pending.json"
STATE_ENV = "GAUNTLET_STATE_DIR"


def spool_dir(url: str) -> Path:
    """Where pointers to the rows pending for the database at ``url`` are kept."""
    base = os.environ.get(STATE_ENV) or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "gauntlet"
    )
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(base) / "pending" / key


def keep_pending(manifest: Mapping[str, Any], url: str, reason: str) -> Path:
    """Keep the run's row in its directory until a command can write it to ``url``."""
    run_dir = Path(str(manifest["run_dir"]))
    path = atomic_write_text(
        run_dir / PENDING,
        json.dumps({"reason": reason, "manifest": scrub_secrets(dict(manifest))}, default=str),
    )
    try:
        pointer = spool_dir(url) / f"{manifest['run_id']}.json"
        atomic_write_text(pointer, json.dumps({"run_dir": str(run_dir)}))
    except OSError as err:
        log.warning("could not note the pending row of %s: %s", manifest["run_id"], err)
    return path


def pending_rows(url: str) -> list[tuple[Path, dict[str, Any]]]:
    """The (pointer, manifest) of every row still pending for ``url``."""
    found = []
    directory = spool_dir(url)
    if not directory.is_dir():
        return found
    for pointer in sorted(directory.glob("*.json")):
        try:
            run_dir = Path(json.loads(pointer.read_text())["run_dir"])
            row = json.loads((run_dir / PENDING).read_text())["manifest"]
        except (OSError, ValueError, KeyError, TypeError):
            log.warning(
                "pending leaderboard row %s: its run directory has no row; dropped", pointer
            )
            pointer.unlink(missing_ok=True)
            continue
        found.append((pointer, row))
    return found


def written(pointer: Path, manifest: Mapping[str, Any]) -> None:
    """The pending row is in the database now: remove it and its pointer."""
    (Path(str(manifest["run_dir"])) / PENDING).unlink(missing_ok=True)
    pointer.unlink(missing_ok=True)


def discard(manifest: Mapping[str, Any], url: str) -> None:
    """The run's row reached ``url`` directly: an older pending copy is obsolete."""
    (Path(str(manifest["run_dir"])) / PENDING).unlink(missing_ok=True)
    (spool_dir(url) / f"{manifest['run_id']}.json").unlink(missing_ok=True)


# -- per-epoch history kept for a database that could not be reached --------------------------

HISTORY_PENDING = "history.pending.jsonl"


def keep_history_pending(
    run_dir: str | Path, run_id: str, url: str, entry: Mapping[str, Any]
) -> Path:
    """Append one epoch's history to ``RUN_DIR/history.pending.jsonl`` (one JSON line per
    epoch, flushed to disk before returning, so a killed run keeps every epoch it logged) and
    note the run for ``url``; the next command that opens that database writes them."""
    path = Path(run_dir) / HISTORY_PENDING
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(dict(entry), default=str) + "\n")
        out.flush()
        os.fsync(out.fileno())
    pointer = spool_dir(url) / "history" / f"{run_id}.json"
    if not pointer.is_file():
        try:
            atomic_write_text(pointer, json.dumps({"run_dir": str(run_dir), "run_id": run_id}))
        except OSError as err:
            log.warning("could not note the pending history of %s: %s", run_id, err)
    return path


def pending_histories(url: str) -> list[tuple[Path, str, list[dict[str, Any]]]]:
    """``(pointer, run_id, epochs)`` for every run whose history waits for ``url``; a line
    cut short by a kill is skipped."""
    found = []
    directory = spool_dir(url) / "history"
    if not directory.is_dir():
        return found
    for pointer in sorted(directory.glob("*.json")):
        try:
            noted = json.loads(pointer.read_text())
            lines = (Path(noted["run_dir"]) / HISTORY_PENDING).read_text().splitlines()
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("pending history %s: its run directory has none; dropped", pointer)
            pointer.unlink(missing_ok=True)
            continue
        epochs = []
        for line in lines:
            try:
                epochs.append(json.loads(line))
            except ValueError:
                continue
        found.append((pointer, str(noted["run_id"]), epochs))
    return found


def history_written(pointer: Path) -> None:
    """The pending history is in the database now: remove it and its pointer."""
    try:
        run_dir = Path(json.loads(pointer.read_text())["run_dir"])
        (run_dir / HISTORY_PENDING).unlink(missing_ok=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    pointer.unlink(missing_ok=True)
