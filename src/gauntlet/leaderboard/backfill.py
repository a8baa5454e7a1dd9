"""Backfill the leaderboard from the ``manifest.json`` files of existing run directories."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.rows import to_row
from gauntlet.leaderboard.store import Leaderboard

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"


@dataclass
class ImportResult:
    """What an import did: the runs recorded, and each manifest skipped with the reason."""

    recorded: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    epochs: int = 0  # epochs of history backfilled from metrics.csv files

    @property
    def found(self) -> int:
        return len(self.recorded) + len(self.skipped)


def find_manifests(directories: Iterable[str | Path]) -> list[Path]:
    """Every ``manifest.json`` under the directories (a manifest file itself is fine too)."""
    found: list[Path] = []
    for directory in directories:
        path = Path(directory).expanduser()
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(path.rglob(MANIFEST_NAME)))
        else:
            raise GauntletError(
                f"import: {path} does not exist; expected a run directory or a directory "
                f"holding run directories (with {MANIFEST_NAME} files), e.g. logs/"
            )
    unique: dict[Path, None] = dict.fromkeys(p.resolve() for p in found)
    return list(unique)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest in ``path``; raises GauntletError naming the file when it is unusable."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GauntletError(f"{path}: not a readable JSON manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise GauntletError(
            f"{path}: expected a JSON object with a run_id, got {type(manifest).__name__}"
        )
    try:
        to_row(manifest)
    except GauntletError as error:
        raise GauntletError(f"{path}: {error}") from None
    return manifest


def import_manifests(board: Leaderboard, directories: Iterable[str | Path]) -> ImportResult:
    """Upsert every readable manifest under ``directories``; idempotent by run_id.

    A corrupt manifest is logged and listed in :attr:`ImportResult.skipped`. A manifest
    without ``run_dir`` gets the directory it was found in.
    """
    result = ImportResult()
    for path in find_manifests(directories):
        try:
            manifest = read_manifest(path)
        except GauntletError as error:
            log.info("skipped %s", error)
            result.skipped.append((path, str(error)))
            continue
        if not manifest.get("run_dir"):
            manifest["run_dir"] = str(path.parent)
        board.upsert(manifest)
        result.recorded.append(manifest["run_id"])
        result.epochs += import_history(board, manifest["run_id"], Path(manifest["run_dir"]))
    return result


METRICS_CSV = "metrics.csv"


def read_metrics_csv(path: Path) -> dict[int, dict[str, float]]:
    """Per epoch, every metric a Lightning ``CSVLogger`` wrote in ``metrics.csv`` (rows of one
    epoch merged; per-step values and the test metrics, logged once after fit, left out)."""
    import csv

    epochs: dict[int, dict[str, float]] = {}
    with open(path, newline="", encoding="utf-8") as source:
        for row in csv.DictReader(source):
            try:
                epoch = int(float(row.get("epoch") or ""))
            except ValueError:
                continue
            for name, text in row.items():
                if name in (None, "epoch", "step") or not text or name.endswith("_step"):
                    continue
                if name.startswith("test/"):
                    continue
                try:
                    epochs.setdefault(epoch, {})[name] = float(text)
                except ValueError:
                    continue
    return {epoch: metrics for epoch, metrics in epochs.items() if metrics}


def import_history(board: Leaderboard, run_id: str, run_dir: Path) -> int:
    """Backfill a run's history from the ``metrics.csv`` in its directory: the epochs the
    store lacks (what the run recorded live stays). Returns how many epochs were written."""
    found = sorted(run_dir.rglob(METRICS_CSV)) if run_dir.is_dir() else []
    if not found:
        return 0
    have = {entry["epoch"] for entry in board.history(run_id)}
    try:
        epochs = read_metrics_csv(found[0])
    except (OSError, UnicodeDecodeError) as error:
        log.warning("%s: not readable (%s); no history imported", found[0], error)
        return 0
    written = 0
    for epoch, metrics in sorted(epochs.items()):
        if epoch not in have:
            board.record_history(run_id, epoch, metrics)
            written += 1
    return written
