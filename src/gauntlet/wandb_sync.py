"""``gauntlet sync``: upload the offline W&B runs of a run, a sweep, a study or every run.

Each run keeps its offline W&B run inside its own directory (``RUN/wandb/offline-run-*``), so
``wandb sync`` from the project root finds nothing. This command finds them and hands them all
to wandb's own ``wandb sync`` in one call, oldest first: a run resumed after a kill has one
offline directory per start, all with the run's id, and wandb syncs files of one run in order
of their start, as one W&B run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from gauntlet.errors import GauntletError

USAGE = """gauntlet sync [TARGET ...] [--study NAME] [--all] [--dry-run] [-- WANDB_SYNC_ARGS]

TARGET is a run directory, a sweep's directory (logs/multiruns/...), any folder holding runs,
or a run id. --study NAME syncs the runs of that study, --all every run under the log
directory (paths.log_dir: $GAUNTLET_LOG_DIR or logs). --dry-run shows what wandb would upload.
Arguments after -- go to `wandb sync` (e.g. -- --project NAME --entity TEAM)."""


def log_dir() -> Path:
    return Path(os.environ.get("GAUNTLET_LOG_DIR") or "logs")


def manifests(root: Path) -> Iterable[tuple[Path, dict]]:
    for path in root.rglob("manifest.json"):
        try:
            yield path.parent, json.loads(path.read_text())
        except (OSError, ValueError):
            continue


def offline_runs(folder: Path) -> list[Path]:
    """The offline W&B runs under ``folder`` (a run, a sweep, a log directory)."""
    return [p for p in folder.rglob("offline-run-*") if p.is_dir() and p.parent.name == "wandb"]


def find_targets(targets: list[str], study: str | None, everything: bool) -> list[Path]:
    root = log_dir()
    folders: list[Path] = []
    for target in targets:
        path = Path(target).expanduser()
        if path.is_dir():
            folders.append(path)
            continue
        found = (
            [d for d, m in manifests(root) if m.get("run_id") == target] if root.is_dir() else []
        )
        if not found:
            raise GauntletError(
                f"{target}: neither a directory nor the run id of a run under {root}/"
            )
        folders += found
    if study is not None:
        runs = [d for d, m in manifests(root) if m.get("study") == study] if root.is_dir() else []
        if not runs:
            raise GauntletError(f"--study {study}: no run of that study under {root}/")
        folders += runs
    if everything:
        if not root.is_dir():
            raise GauntletError(f"--all: no log directory {root}/ (set GAUNTLET_LOG_DIR)")
        folders.append(root)
    found = {p.resolve() for folder in folders for p in offline_runs(folder)}
    # offline-run-YYYYMMDD_HHMMSS-ID: by start time, so a resumed run's parts go in order
    return sorted(found, key=lambda p: p.name.split("-", 2)[2])


def main(args: list[str]) -> int:
    cut = args.index("--") if "--" in args else len(args)
    ours, passed = args[:cut], args[cut + 1 :]
    parser = argparse.ArgumentParser(prog="gauntlet sync", usage=USAGE)
    parser.add_argument("targets", nargs="*")
    parser.add_argument("--study")
    parser.add_argument("--all", action="store_true", dest="everything")
    parser.add_argument("--dry-run", action="store_true")
    opts = parser.parse_args(ours)
    if not (opts.targets or opts.study or opts.everything):
        raise GauntletError("name what to sync: a run or sweep directory, --study NAME or --all")
    runs = find_targets(opts.targets, opts.study, opts.everything)
    if not runs:
        print("no offline W&B runs found there (runs with logger=csv or logger=none have none)")
        return 0
    command = [sys.executable, "-m", "wandb", "sync", *(["--dry-run"] if opts.dry_run else [])]
    command += [*passed, *map(str, runs)]
    env = dict(os.environ)
    if env.get("WANDB_MODE") == "offline":  # gauntlet's default for runs; syncing uploads
        env.pop("WANDB_MODE")
    what = "directory" if len(runs) == 1 else "directories"
    print(f"syncing {len(runs)} offline W&B run {what} with wandb sync", flush=True)
    return subprocess.run(command, env=env).returncode
