"""The run manifest: everything needed to know, compare and re-run a run, written atomically."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError

MANIFEST = "manifest.json"
SCHEMA_VERSION = 1
PACKAGES = (
    "torch",
    "pytorch-lightning",
    "hydra-core",
    "torchmetrics",
    "wandb",
    "captum",
    "gauntlet",
)
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def redact(value: Any) -> Any:
    """The same structure with any password inside a URL replaced by ***."""
    if isinstance(value, str):
        return _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def git_info(cwd: str | Path | None = None) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def identity() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return {"user": user, "host": socket.gethostname()}


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write via a temporary file and rename, so a reader never sees half a manifest."""
    path = Path(run_dir) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=False, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest from a run directory or the file itself; says which file and why on failure."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise GauntletError(f"no run manifest at {path}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GauntletError(f"run manifest {path} is corrupt: {err}") from err
    if not isinstance(manifest, dict) or "run_id" not in manifest:
        raise GauntletError(f"run manifest {path} is not a gauntlet manifest (no run_id)")
    return manifest


def update_metrics(run_dir: str | Path, metrics: dict[str, float]) -> dict[str, Any]:
    """Merge metrics measured after the run (explain, attack) into its manifest."""
    manifest = read_manifest(run_dir)
    manifest.setdefault("metrics", {}).update({k: float(v) for k, v in metrics.items()})
    write_manifest(run_dir, manifest)
    return manifest


def base_manifest(
    *,
    run_id: str,
    run_dir: Path,
    config: dict[str, Any],
    overrides: list[str],
    choices: dict[str, Any],
    seed: int,
    experiment: str,
    study: str | None,
    tags: list[str],
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "run_id": run_id,
        "status": "running",
        "experiment": experiment,
        "study": study,
        "model": choices.get("model"),
        "data": choices.get("data"),
        "seed": seed,
        **identity(),
        "run_dir": str(run_dir.resolve()),
        "started": now_iso(),
        "finished": None,
        "duration_s": None,
        "metrics": {},
        "config": redact(config),
        "choices": choices,
        "overrides": redact(list(overrides)),
        "command": redact([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "git": git_info(),
        "packages": package_versions(),
        "device": None,
        "num_params": None,
        "data_sizes": None,
        "wandb": None,
        "error": None,
        "tags": list(tags),
    }
