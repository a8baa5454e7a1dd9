"""Credentials out of the files Hydra writes before a run starts (``.hydra/*.yaml``,
a sweep's ``multirun.yaml``): they are rewritten with :func:`~gauntlet.redaction.scrub_secrets`."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from gauntlet.redaction import scrub_secrets
from gauntlet.run.files import atomic_write_text

log = logging.getLogger(__name__)


def redact_yaml(path: Path) -> bool:
    """Rewrite one YAML file with its secrets masked; returns whether anything changed."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as err:
        log.warning("could not read %s to mask its credentials: %s", path, err)
        return False
    clean = scrub_secrets(tree)
    if clean == tree:
        return False
    try:
        atomic_write_text(path, yaml.safe_dump(clean, sort_keys=False, allow_unicode=True))
    except OSError as err:  # Hydra wrote it, so the disk took writes a moment ago
        log.error("could not mask the credentials in %s: %s", path, err)
        return False
    return True


def redact_hydra_files(run_dir: Path) -> None:
    for path in sorted((Path(run_dir) / ".hydra").glob("*.yaml")):
        redact_yaml(path)
