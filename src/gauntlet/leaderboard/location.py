"""Where the leaderboard is: its URL from the config, the environment or the log directory.

Kept apart from the store so that a run can name its database (and keep a pending row for it)
before SQLAlchemy is imported."""

from __future__ import annotations

import os
from pathlib import Path

ENV_URL = "GAUNTLET_LEADERBOARD_URL"
DB_FILENAME = "leaderboard.db"


def resolve_url(url: str | None, log_dir: str | Path, *, create: bool = True) -> str:
    """The leaderboard URL to use: ``url`` if given, else ``$GAUNTLET_LEADERBOARD_URL``, else
    ``sqlite:///<log_dir>/leaderboard.db`` with ``log_dir`` made absolute (and created, unless
    ``create`` is false)."""
    if url:
        return str(url)
    from_env = os.environ.get(ENV_URL, "").strip()
    if from_env:
        return from_env
    directory = Path(log_dir).expanduser().resolve()
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / DB_FILENAME}"
