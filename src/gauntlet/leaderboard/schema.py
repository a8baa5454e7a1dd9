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
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA_VERSION = 1

# Upgrade steps: MIGRATIONS[v] turns a version-v database into version v + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}

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
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)
