"""The leaderboard's tables and their version.

``SCHEMA_VERSION`` is stored in the one-row ``schema_version`` table. A release that changes the
tables bumps it and adds a step to ``MIGRATIONS`` (keyed by the version it upgrades *from*);
:meth:`Leaderboard.open <gauntlet.leaderboard.store.Leaderboard.open>` applies the steps in order.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA_VERSION = 2

MAX_RUN_ID_LENGTH = 255

metadata = MetaData()

# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
_Json = JSON().with_variant(JSONB(), "postgresql")

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(MAX_RUN_ID_LENGTH), primary_key=True),
    Column("status", Text, index=True),
    # Times are stored as naive UTC so that SQLite and PostgreSQL round-trip them the same way.
    Column("started", DateTime, index=True),
    Column("finished", DateTime),
    Column("duration_s", Float),
    Column("user", Text),
    Column("host", Text),
    Column("git_commit", Text),
    Column("git_dirty", Boolean),
    Column("study", Text, index=True),
    Column("experiment", Text, index=True),
    Column("model", Text, index=True),
    Column("data", Text, index=True),
    Column("seed", BigInteger),
    Column("num_params", BigInteger),
    Column("run_dir", Text),
    Column("wandb_run", Text),
    Column("error", Text),
    Column("config", _Json),
    Column("metrics", _Json),
    # Every other manifest field (overrides, command, packages, the full git and wandb records...),
    # so that a stored row gives back the manifest it came from.
    Column("extra", _Json),
    # the hash of the run's training identity (gauntlet.leaderboard.identity): groups pool it
    Column("config_key", String(64), index=True),
)

# One row per run and epoch: every metric logged that epoch, written at the epoch's end.
history = Table(
    "history",
    metadata,
    Column("run_id", String(MAX_RUN_ID_LENGTH), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("step", BigInteger),
    Column("recorded", DateTime),
    Column("metrics", _Json),
    PrimaryKeyConstraint("run_id", "epoch"),
)

# A study's plan and results, keyed by its name and the hash of its plan: cells, claims and
# verdicts with their statistics, and its settings, as its report shows them.
studies = Table(
    "studies",
    metadata,
    Column("name", String(255), nullable=False),
    Column("plan_hash", String(64), nullable=False),
    Column("updated", DateTime, index=True),
    Column("host", Text),
    Column("plan", _Json),
    Column("settings", _Json),
    Column("results", _Json),
    PrimaryKeyConstraint("name", "plan_hash"),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)


def _add_config_key(conn: Connection) -> None:
    """Schema 1 -> 2: the ``config_key`` column, backfilled from each row's stored config.

    The ``history`` and ``studies`` tables are new; ``create_all`` makes them."""
    from gauntlet.leaderboard.identity import config_key

    conn.execute(text("ALTER TABLE runs ADD COLUMN config_key VARCHAR(64)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_runs_config_key ON runs (config_key)"))
    stored = conn.execute(select(runs.c.run_id, runs.c.config)).all()
    for run_id, config in stored:
        key = config_key(config if isinstance(config, dict) else None)
        if key is not None:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(config_key=key))


# Upgrade steps: MIGRATIONS[v] turns a version-v database into version v + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_config_key}
