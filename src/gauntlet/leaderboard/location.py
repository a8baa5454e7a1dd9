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
        return refuse_in_memory(str(url))
    from_env = os.environ.get(ENV_URL, "").strip()
    if from_env:
        return refuse_in_memory(from_env)
    directory = Path(log_dir).expanduser().resolve()
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / DB_FILENAME}"


def refuse_in_memory(url: str) -> str:
    """``url``, unless it names an in-memory SQLite database, which would lose every row when
    the command ends (``sqlite://``, ``sqlite:///:memory:``, ``?mode=memory``)."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0].lower() == "sqlite":
        database = rest[1:] if rest.startswith("/") else rest
        if not database.split("?")[0] or database.startswith(":memory:") or "mode=memory" in rest:
            from gauntlet.errors import GauntletError

            raise GauntletError(
                f"leaderboard URL {url!r} is an in-memory database: it loses every row when the "
                "command ends. Give a file (sqlite:///PATH/leaderboard.db) or a PostgreSQL "
                "server's URL"
            )
    return url
