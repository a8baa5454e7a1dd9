"""The run manifest: everything needed to know, compare and re-run a run, written atomically."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import platform
import secrets
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.redaction import scrub_secrets
from gauntlet.run.files import atomic_write_text
from gauntlet.run.labels import run_labels

log = logging.getLogger(__name__)

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


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def git_info(cwd: str | Path | None = None) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def code_record() -> dict[str, Any]:
    """gauntlet's own version and commit (also outside a checkout), and where the user's
    modules and config directory were, so resume and reproduce find them again."""
    from gauntlet.config import project_record

    return {"gauntlet": gauntlet_version(), "project": project_record()}


def gauntlet_version() -> dict[str, Any]:
    """The package version, and the commit: the checkout's, or the one the wheel was built at."""
    try:
        version = metadata.version("gauntlet")
    except metadata.PackageNotFoundError:
        from gauntlet import __version__ as version
    from gauntlet.config import PACKAGE_DIR

    built = PACKAGE_DIR / "build_info.json"
    if built.is_file():
        info = json.loads(built.read_text())
        return {"version": version, "commit": info.get("commit"), "dirty": info.get("dirty")}
    return {"version": version, **git_info(cwd=PACKAGE_DIR)}


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
    """Write the manifest, credentials masked, so that a reader never sees half of it."""
    text = json.dumps(scrub_secrets(manifest), indent=2, sort_keys=False, default=str)
    return atomic_write_text(Path(run_dir) / MANIFEST, text)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest from a run directory or the file itself; says which file and why on failure."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if path.is_dir():
        raise GauntletError(f"run manifest {path} is a directory; expected the manifest file")
    if not path.is_file():
        raise GauntletError(f"no run manifest at {path}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GauntletError(f"run manifest {path} is corrupt: {err}") from err
    if not isinstance(manifest, dict) or "run_id" not in manifest:
        raise GauntletError(f"run manifest {path} is not a gauntlet manifest (no run_id)")
    check_manifest_types(manifest, path)
    return manifest


# the fields every reader relies on, and their JSON types (None allowed where a run may lack it)
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": (str,),
    "status": (str,),
    "metrics": (dict, type(None)),
    "config": (dict, type(None)),
    "overrides": (list, type(None)),
    "command": (list, type(None)),
    "choices": (dict, type(None)),
    "tags": (list, type(None)),
    "resumes": (list, type(None)),
    "metrics_after_run": (list, type(None)),
    "run_dir": (str, type(None)),
    "seed": (int, type(None)),
    "epochs": (int, type(None)),
    "steps": (int, type(None)),
    "packages": (dict, type(None)),
    "git": (dict, type(None)),
    "wandb": (dict, type(None)),
}
_TYPE_NAMES = {str: "a string", dict: "a mapping", list: "a list", int: "a whole number"}


def check_manifest_types(manifest: dict[str, Any], path: str | Path) -> None:
    """A manifest that is valid JSON with a field of the wrong type is refused, naming it."""
    for name, types in FIELD_TYPES.items():
        if name not in manifest:
            continue
        value = manifest[name]
        if not isinstance(value, types) or (int in types and isinstance(value, bool)):
            wanted = " or ".join(_TYPE_NAMES[t] for t in types if t in _TYPE_NAMES)
            raise GauntletError(
                f"run manifest {path}: {name!r} is {type(value).__name__} {value!r:.60}, "
                f"expected {wanted}; the file was edited or damaged"
            )
    bad = [k for k, v in (manifest.get("metrics") or {}).items() if not _is_number(v)]
    if bad:
        raise GauntletError(
            f"run manifest {path}: 'metrics' holds {bad[0]!r}: "
            f"{manifest['metrics'][bad[0]]!r:.60}, expected a number; the file was edited or "
            "damaged"
        )


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def update_metrics(run_dir: str | Path, metrics: dict[str, float]) -> dict[str, Any]:
    """Merge metrics measured after the run (explain, attack) into its manifest.

    Their names are listed in ``metrics_after_run``: re-running the training does not measure
    them, so ``gauntlet reproduce`` shows them without comparing.
    """
    from gauntlet.run.lock import RunLock

    with RunLock(run_dir):  # not while a resume of the run rewrites the manifest
        manifest = read_manifest(run_dir)
        manifest["metrics"] = dict(manifest.get("metrics") or {})
        manifest["metrics"].update({k: float(v) for k, v in metrics.items()})
        after = set(manifest.get("metrics_after_run") or []) | set(metrics)
        manifest["metrics_after_run"] = sorted(after)
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
        "pid": os.getpid(),
        "heartbeat": now_iso(),
        "run_dir": str(run_dir.resolve()),
        "started": now_iso(),
        "finished": None,
        "duration_s": None,
        "metrics": {},
        "config": scrub_secrets(config),
        "choices": choices,
        "overrides": scrub_secrets(list(overrides)),
        "command": scrub_secrets([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "git": git_info(),
        **code_record(),
        "packages": package_versions(),
        "device": None,
        "num_params": None,
        "data_sizes": None,
        "wandb": None,
        "error": None,
        "tags": list(tags),
        **run_labels(config, overrides),
    }


def rebase_paths(value: Any, old: str | Path, new: str | Path) -> Any:
    """The same structure with every string that is ``old`` or a path under it moved to ``new``
    (a run's resolved config names its directory in many keys: checkpoints, loggers, ...)."""
    old, new = str(old).rstrip("/"), str(new).rstrip("/")
    if isinstance(value, str):
        if value == old:
            return new
        if value.startswith(old + "/"):
            return new + value[len(old) :]
        return value
    if isinstance(value, dict):
        return {k: rebase_paths(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase_paths(v, old, new) for v in value]
    return value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict) and item:
            out.update(flatten(item, name))
        else:
            out[name] = item
    return out


def changed_keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two configs (added or removed too)."""
    a, b = flatten(before), flatten(after)
    return sorted(k for k in a.keys() | b.keys() if a.get(k, ...) != b.get(k, ...))


def resumed_manifest(
    previous: dict[str, Any],
    *,
    config: dict[str, Any],
    checkpoint: str | None,
    log_dir: str | None,
) -> dict[str, Any]:
    """The manifest of a run continued in its own directory: same run_id, back to ``running``,
    with this resume appended to ``resumes`` (when, from which checkpoint, by which command)."""
    config = scrub_secrets(config)
    changed = [
        k
        for k in changed_keys(previous.get("config") or {}, config)
        if k not in ("ckpt_path", "resume")
    ]
    if changed:
        log.warning(
            "run %s continues with a changed config: %s",
            previous.get("run_id"),
            ", ".join(changed),
        )
    manifest = dict(previous)
    manifest.update(
        status="running",
        finished=None,
        error=None,
        config=config,
        pid=os.getpid(),
        host=socket.gethostname(),
        heartbeat=now_iso(),
    )
    manifest["resumes"] = [
        *(previous.get("resumes") or []),
        {
            "at": now_iso(),
            "previous_status": previous.get("status"),
            "checkpoint": checkpoint,
            "changed": changed,
            "command": scrub_secrets([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "git": git_info(),
            "log_dir": log_dir,
        },
    ]
    return manifest


def mark_lost_manifest(run_dir: str | Path | None, reason: str) -> bool:
    """Mark the manifest in ``run_dir`` ``lost`` if it still says ``running``."""
    if not run_dir or not (Path(run_dir) / MANIFEST).is_file():
        return False
    try:
        manifest = read_manifest(run_dir)
    except GauntletError:
        return False
    if manifest.get("status") != "running":
        return False
    manifest.update(status="lost", error=reason)
    try:
        write_manifest(run_dir, manifest)
    except OSError as err:
        log.warning("could not mark %s lost: %s", run_dir, err)
        return False
    return True
