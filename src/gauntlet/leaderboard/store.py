"""The leaderboard store: one ``runs`` table in SQLite (default) or PostgreSQL (a team).

Every run writes its row when it starts (``running``) and updates it when it ends
(``completed`` or ``failed``)::

    board = Leaderboard.open(resolve_url(cfg.leaderboard.url, cfg.paths.log_dir))
    board.upsert(manifest)
    board.close()

Many processes may write at once. On SQLite the file runs in WAL mode, each write transaction
takes the write lock up front (``BEGIN IMMEDIATE``) and waits for it (busy timeout), and a
"database is locked" that still slips through is retried. On PostgreSQL the row is locked while
it is merged, schema creation is serialised by an advisory lock, and serialisation failures are
retried.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)

from gauntlet.compat.messages import sqlite_busy, unique_violation
from gauntlet.errors import GauntletError
from gauntlet.leaderboard.location import DB_FILENAME, ENV_URL, resolve_url  # noqa: F401  (re-exported)
from gauntlet.leaderboard.query import Condition, as_conditions
from gauntlet.leaderboard.rows import decode_metrics, encode_metrics, merge, to_manifest, to_row
from gauntlet.leaderboard.tables import (
    MIGRATIONS,
    SCHEMA_VERSION,
    history,
    metadata,
    runs,
    schema_version,
)
from gauntlet.leaderboard.tables import (
    studies as studies_table,
)
from gauntlet.redaction import redact_text, redact_url

__all__ = ["ENV_URL", "Leaderboard", "redact_url", "resolve_url"]

log = logging.getLogger(__name__)

URL_EXAMPLES = "sqlite:///logs/leaderboard.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"

RETRY_SECONDS = 60.0
SQLITE_BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10
# Key of the PostgreSQL advisory lock that serialises schema creation and migration.
_SCHEMA_LOCK = 0x6761_756E_746C_6574 & 0x7FFF_FFFF_FFFF_FFFF
# PostgreSQL SQLSTATEs worth another try: serialization_failure, deadlock_detected.
_PG_RETRY = {"40001", "40P01"}
# ... and unique_violation, when two writers insert the same new run at once.
_PG_DUPLICATE = "23505"

T = TypeVar("T")


class Leaderboard:
    """A connection to the leaderboard database. Open it with :meth:`open`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._raw_url = url
        # what a store written by an older schema lacks, when it is read as it is (read-only,
        # never migrated): columns of ``runs`` and whole tables
        self._missing_columns: frozenset[str] = frozenset()
        self._missing_tables: frozenset[str] = frozenset()
        self.url = redact_url(url)
        """The database URL with any password masked: safe to show."""

    @classmethod
    def open(cls, url: str, *, create: bool = True, settle: bool = True) -> Leaderboard:
        """Connect, creating the tables on first use and migrating an older schema.

        With ``create=False`` a SQLite file that does not exist yet is an error instead of
        being created (for commands that only read). Unless ``settle`` is false, the rows
        that earlier runs could not write are written now, and runs whose process is gone
        are marked ``lost`` (see :meth:`settle`).
        """
        parsed = _parse(url)
        read_only = False
        if parsed.get_backend_name() == "sqlite":
            from gauntlet.run.pending import pending_rows

            # rows waiting for this database: it is made to take them
            _check_sqlite_file(parsed, create or (settle and bool(pending_rows(url))))
            read_only = not create and _read_only_sqlite(parsed)
        if read_only:  # a query on a database this user may not write: read it as it is
            parsed = _read_only_url(parsed)
            settle = False
        engine = _engine(parsed, read_only=read_only)
        board = cls(engine, url)
        try:
            if read_only:
                board._read_as_it_is()
            else:
                board._retry(board._prepare_schema, "create the tables")
        except BaseException:
            engine.dispose()
            raise
        log.debug("opened leaderboard %s", board.url)
        if settle:
            board.settle()
        return board

    @classmethod
    def reader(cls, url: str) -> Leaderboard:
        """Connect read-only, for a server that shows the store and must never change it:
        SQLite opens the file with ``mode=ro`` (it sees what writers commit), PostgreSQL
        sessions are ``default_transaction_read_only``. Nothing is created, migrated or
        settled; a store at an older schema is read as it is (see :meth:`_read_as_it_is`)."""
        parsed = _parse(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            _check_sqlite_file(parsed, create=False)
            path = Path(str(parsed.database)).expanduser().resolve()
            parsed = parsed.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
            engine = _engine(parsed, read_only=True)
        else:
            engine = _engine(parsed)

            @event.listens_for(engine, "connect")
            def _read_only(dbapi_connection: Any, _record: Any) -> None:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                dbapi_connection.commit()

        board = cls(engine, url)
        try:
            board._read_as_it_is()
        except BaseException:
            engine.dispose()
            raise
        return board

    def _read_as_it_is(self) -> None:
        """Prepare to read a store that may not be migrated (a reader never writes): what an
        older schema lacks is left out of the queries; a run's ``config_key`` is then computed
        from its stored config, as the migration would have backfilled it."""
        from sqlalchemy import inspect

        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise GauntletError(
                f"leaderboard {self.url} has schema version {version}, newer than the "
                f"{SCHEMA_VERSION} this gauntlet understands; upgrade gauntlet to read it"
            )
        if version == SCHEMA_VERSION:
            return

        def look() -> tuple[set[str], set[str]]:
            with self._engine.connect() as conn:
                found = inspect(conn)
                tables = set(found.get_table_names())
                columns = (
                    {c["name"] for c in found.get_columns("runs")} if "runs" in tables else set()
                )
            return tables, columns

        tables, columns = self._retry(look, "read the tables")
        self._missing_tables = frozenset(set(metadata.tables) - tables)
        self._missing_columns = frozenset(c.name for c in runs.columns if c.name not in columns)
        log.info(
            "reading leaderboard %s at schema %d as it is (not migrated; without %s)",
            self.url,
            version,
            ", ".join(sorted(self._missing_tables | self._missing_columns)) or "nothing",
        )

    def _select_runs(self) -> Any:
        """``SELECT`` of the runs table: its columns this store has."""
        if not self._missing_columns:
            return select(runs)
        return select(*(c for c in runs.columns if c.name not in self._missing_columns))

    def _manifest(self, row: Mapping[str, Any]) -> dict[str, Any]:
        manifest = to_manifest(row)
        if "config_key" in self._missing_columns:
            from gauntlet.leaderboard.identity import config_key

            config = manifest.get("config")
            manifest["config_key"] = config_key(config if isinstance(config, dict) else None)
        return manifest

    def _has(self, table: str) -> bool:
        return table not in self._missing_tables

    def settle(self) -> None:
        """Write the rows kept pending by runs that could not reach this database, and mark
        ``lost`` the ``running`` rows whose process ended without recording how."""
        from gauntlet.run import pending

        for pointer, manifest in pending.pending_rows(self._raw_url):
            stored = self.get(str(manifest.get("run_id")))
            if stored is None or stored.get("status") == "running" or not stored.get("finished"):
                self.upsert(manifest)
                # a run writes its own start row this way in normal operation: no news; a row
                # another process left while the database was unreachable is
                own = manifest.get("pid") == os.getpid()
                log.log(
                    logging.DEBUG if own else logging.INFO,
                    "wrote run %s's row, kept in its run directory until the database could "
                    "be reached",
                    manifest.get("run_id"),
                )
            pending.written(pointer, manifest)
        for pointer, run_id, epochs in pending.pending_histories(self._raw_url):
            for entry in epochs:
                self.record_history(
                    run_id,
                    entry.get("epoch"),
                    entry.get("metrics") or {},
                    step=entry.get("step"),
                    recorded=entry.get("recorded"),
                )
            pending.history_written(pointer)
            log.info("recorded the pending history of run %s (%d epochs)", run_id, len(epochs))
        for row in self.runs(status="running"):
            self.mark_lost(row)

    def mark_lost(self, row: Mapping[str, Any]) -> bool:
        """Record a ``running`` run as ``lost`` when its process is gone; returns whether it was.

        Its manifest, when its run directory is reachable, is marked too."""
        from gauntlet.run.liveness import lost_reason
        from gauntlet.run.manifest import mark_lost_manifest

        reason = lost_reason(row)
        if reason is None:
            return False
        update = {"run_id": row["run_id"], "status": "lost", "error": reason}
        self.upsert(update)
        mark_lost_manifest(row.get("run_dir"), reason)
        log.info("run %s is lost: %s", row["run_id"], reason)
        return True

    def upsert(self, manifest: Mapping[str, Any]) -> None:
        """Insert a run, or update it by ``run_id``, in one transaction.

        An update keeps the stored fields that ``manifest`` lacks; the fields it has replace the
        stored ones (so a run's final manifest replaces its status, metrics and times).
        """
        row = to_row(manifest)
        run_id = row["run_id"]

        def write() -> None:
            with self._transaction(write=True) as conn:
                query = select(runs).where(runs.c.run_id == run_id).with_for_update()
                stored = conn.execute(query).mappings().first()
                if stored is None:
                    conn.execute(insert(runs).values(**row))
                else:
                    merged = to_row(merge(to_manifest(stored), manifest))
                    conn.execute(update(runs).where(runs.c.run_id == run_id).values(**merged))

        self._retry(write, f"record run {run_id!r}", duplicates=True)
        log.debug("recorded run %s (%s) in %s", run_id, row["status"], self.url)

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The stored run as a manifest-shaped dict, or None if there is no such run."""

        def read() -> dict[str, Any] | None:
            with self._transaction() as conn:
                query = self._select_runs().where(runs.c.run_id == run_id)
                stored = conn.execute(query).mappings().first()
            return None if stored is None else self._manifest(stored)

        return self._retry(read, f"read run {run_id!r}")

    def runs(
        self,
        *,
        status: str | Sequence[str] | None = None,
        experiment: str | Sequence[str] | None = None,
        study: str | Sequence[str] | None = None,
        model: str | Sequence[str] | None = None,
        data: str | Sequence[str] | None = None,
        where: Mapping[str, Any] | Iterable[Condition | str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored runs, newest first, as manifest-shaped dicts.

        ``status``, ``experiment``, ``study``, ``model`` and ``data`` each take one value or a
        list of accepted values. ``where`` adds equality conditions on any key a run has
        (``{"model.net.dropout": 0.1}``, ``["seed=42"]``; see :mod:`gauntlet.leaderboard.query`).
        """
        query = self._select_runs()
        for column, wanted in (
            (runs.c.status, status),
            (runs.c.experiment, experiment),
            (runs.c.study, study),
            (runs.c.model, model),
            (runs.c.data, data),
        ):
            if wanted is not None:
                values = [wanted] if isinstance(wanted, str) else list(wanted)
                query = query.where(column.in_(values))
        query = query.order_by(runs.c.started.desc().nulls_last(), runs.c.run_id)
        conditions = as_conditions(where)

        def read() -> list[dict[str, Any]]:
            with self._transaction() as conn:
                stored = conn.execute(query).mappings().all()
            return [self._manifest(row) for row in stored]

        rows = self._retry(read, "query runs")
        rows = [row for row in rows if all(c.matches(row) for c in conditions)]
        return rows if limit is None else rows[:limit]

    def record_history(
        self,
        run_id: str,
        epoch: Any,
        metrics: Mapping[str, Any],
        *,
        step: Any = None,
        recorded: Any = None,
    ) -> None:
        """Store one epoch of a run's history (every metric logged that epoch) in one
        transaction; an epoch recorded again (a resumed run) replaces the earlier one."""
        from gauntlet.leaderboard.rows import utc_time

        try:
            epoch = int(epoch)
        except (TypeError, ValueError):
            raise GauntletError(
                f"history of run {run_id!r}: epoch {epoch!r} is not a whole number"
            ) from None
        values = {
            "run_id": str(run_id),
            "epoch": epoch,
            "step": int(step)
            if isinstance(step, (int, float)) and not isinstance(step, bool)
            else None,
            "recorded": utc_time(recorded) if recorded is not None else utc_time(time.time()),
            "metrics": encode_metrics({str(k): _number(v) for k, v in metrics.items()}),
        }

        def write() -> None:
            with self._transaction(write=True) as conn:
                conn.execute(
                    delete(history).where(
                        history.c.run_id == values["run_id"], history.c.epoch == epoch
                    )
                )
                conn.execute(insert(history).values(**values))

        self._retry(write, f"record epoch {epoch} of run {run_id!r}", duplicates=True)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """A run's history, one dict per epoch in order: ``{"epoch", "step", "recorded",
        "metrics": {name: value}}`` (times as ISO strings in UTC)."""
        from datetime import timezone

        if not self._has("history"):
            return []

        def read() -> list[dict[str, Any]]:
            query = select(history).where(history.c.run_id == run_id).order_by(history.c.epoch)
            with self._transaction() as conn:
                return [dict(row) for row in conn.execute(query).mappings().all()]

        rows = self._retry(read, f"read the history of run {run_id!r}")
        return [
            {
                "epoch": row["epoch"],
                "step": row["step"],
                "recorded": row["recorded"].replace(tzinfo=timezone.utc).isoformat()
                if row["recorded"] is not None
                else None,
                "metrics": decode_metrics(row["metrics"]) or {},
            }
            for row in rows
        ]

    def history_lengths(self, run_ids: Sequence[str] | None = None) -> dict[str, int]:
        """How many epochs of history each run has (all runs, or those named)."""
        if not self._has("history"):
            return {}
        query = select(history.c.run_id, func.count()).group_by(history.c.run_id)
        if run_ids is not None:
            query = query.where(history.c.run_id.in_(list(run_ids)))

        def read() -> dict[str, int]:
            with self._transaction() as conn:
                return {run_id: n for run_id, n in conn.execute(query).all()}

        return self._retry(read, "count history")

    def record_study(
        self,
        name: str,
        plan_hash: str,
        *,
        plan: Mapping[str, Any],
        settings: Mapping[str, Any],
        results: Mapping[str, Any],
        host: str | None = None,
    ) -> None:
        """Store a study's plan and results (cells, claims, verdicts with their statistics),
        keyed by its name and plan hash; a later report of the same plan replaces them."""
        from gauntlet.leaderboard.rows import plain_json, utc_time
        from gauntlet.redaction import scrub_secrets

        values = {
            "name": str(name),
            "plan_hash": str(plan_hash),
            "updated": utc_time(time.time()),
            "host": host,
            "plan": scrub_secrets(plain_json(dict(plan))),
            "settings": scrub_secrets(plain_json(dict(settings))),
            "results": scrub_secrets(plain_json(dict(results))),
        }

        def write() -> None:
            with self._transaction(write=True) as conn:
                conn.execute(
                    delete(studies_table).where(
                        studies_table.c.name == values["name"],
                        studies_table.c.plan_hash == values["plan_hash"],
                    )
                )
                conn.execute(insert(studies_table).values(**values))

        self._retry(write, f"record study {name!r}", duplicates=True)

    def studies(self, name: str | None = None) -> list[dict[str, Any]]:
        """Stored studies, newest first (those named ``name`` only, when given)."""
        from datetime import timezone

        if not self._has("studies"):
            return []
        query = select(studies_table).order_by(studies_table.c.updated.desc())
        if name is not None:
            query = query.where(studies_table.c.name == name)

        def read() -> list[dict[str, Any]]:
            with self._transaction() as conn:
                return [dict(row) for row in conn.execute(query).mappings().all()]

        found = self._retry(read, "read studies")
        for row in found:
            if row["updated"] is not None:
                row["updated"] = row["updated"].replace(tzinfo=timezone.utc).isoformat()
        return found

    def runs_changed(
        self, started_from: Any, finished_from: Any, run_ids: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The runs that may have changed since a reading whose latest start and end times
        were ``started_from`` and ``finished_from`` (None: every run), plus ``run_ids`` (the
        runs that were running then), as manifest-shaped dicts."""
        from sqlalchemy import or_

        if started_from is None and finished_from is None:
            return self.runs()
        clauses = [runs.c.started.is_(None)]
        if started_from is not None:
            clauses.append(runs.c.started >= started_from)
        if finished_from is not None:
            clauses.append(runs.c.finished >= finished_from)
        if run_ids:
            clauses.append(runs.c.run_id.in_(list(run_ids)))
        query = self._select_runs().where(or_(*clauses))

        def read() -> list[dict[str, Any]]:
            with self._transaction() as conn:
                return [self._manifest(row) for row in conn.execute(query).mappings().all()]

        return self._retry(read, "query changed runs")

    def stamp(self) -> tuple[Any, ...]:
        """A cheap fingerprint that changes when a run is added, starts, ends or changes
        status, or an epoch is recorded: readers cache their queries until it moves."""

        def read() -> tuple[Any, ...]:
            with self._transaction() as conn:
                row = conn.execute(
                    select(
                        func.count(),
                        func.max(runs.c.started),
                        func.max(runs.c.finished),
                        func.count(runs.c.finished),
                        func.count(runs.c.status),
                    ).select_from(runs)
                ).one()
                statuses = conn.execute(
                    select(runs.c.status, func.count()).group_by(runs.c.status)
                ).all()
                epochs = (
                    conn.execute(select(func.count()).select_from(history)).scalar_one()
                    if self._has("history")
                    else 0
                )
            return (*row, tuple(sorted((str(s), n) for s, n in statuses)), epochs)

        return self._retry(read, "read the store's state")

    def count(self) -> int:
        """How many runs are stored."""

        def read() -> int:
            with self._transaction() as conn:
                return conn.execute(select(func.count()).select_from(runs)).scalar_one()

        return self._retry(read, "count runs")

    def schema_version(self) -> int:
        """The schema version the database is at."""

        def read() -> int:
            with self._transaction() as conn:
                return conn.execute(select(schema_version.c.version)).scalar_one()

        return self._retry(read, "read the schema version")

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Leaderboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Leaderboard({self.url!r})"

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if write:
                conn.execution_options(gauntlet_write=True)
            with conn.begin():
                yield conn

    def _prepare_schema(self) -> None:
        with self._transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            metadata.create_all(conn, checkfirst=True)
            version = conn.execute(select(schema_version.c.version)).scalar_one_or_none()
            if version is None:
                conn.execute(insert(schema_version).values(id=1, version=SCHEMA_VERSION))
                return
            if version > SCHEMA_VERSION:
                raise GauntletError(
                    f"leaderboard {self.url} has schema version {version}, newer than the "
                    f"{SCHEMA_VERSION} this gauntlet understands; upgrade gauntlet to use it"
                )
            for step in range(version, SCHEMA_VERSION):
                log.info("migrating leaderboard %s from schema %d to %d", self.url, step, step + 1)
                MIGRATIONS[step](conn)
            conn.execute(update(schema_version).values(version=SCHEMA_VERSION))

    def _retry(self, action: Callable[[], T], what: str, duplicates: bool = False) -> T:
        """Run ``action``; retry it while the database reports a transient conflict."""
        deadline = time.monotonic() + RETRY_SECONDS
        delay = 0.005
        while True:
            try:
                return action()
            except DBAPIError as error:
                if not _transient(error, duplicates) or time.monotonic() > deadline:
                    raise self._failure(error, what) from None
                log.debug("leaderboard busy while trying to %s; retrying", what)
            except SQLAlchemyError as error:
                raise self._failure(error, what) from None
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.25)

    def _failure(self, error: SQLAlchemyError, what: str) -> GauntletError:
        reason = getattr(error, "orig", None) or error
        first_line = redact_text(str(reason)).strip().splitlines()[0] if str(reason) else ""
        if "locked" in first_line:
            hint = f"other processes kept it busy for over {RETRY_SECONDS:.0f} s; try again"
        else:
            hint = (
                f"check the URL (--url, leaderboard.url or ${ENV_URL}; e.g. {URL_EXAMPLES}) "
                "and that the database server is running and reachable"
            )
        return GauntletError(
            f"leaderboard {self.url}: could not {what}: {type(reason).__name__}: {first_line}; "
            + hint
        )


def _number(value: Any) -> Any:
    """A metric as a plain number (tensors and numpy scalars too); other values as they are."""
    if hasattr(value, "item"):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value if isinstance(value, (str, type(None))) else str(value)
    return float(value)


def _transient(error: DBAPIError, duplicates: bool) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code in _PG_RETRY or (duplicates and code == _PG_DUPLICATE):
        return True
    message = str(error.orig)
    if sqlite_busy(message):
        return True
    # Two writers inserting the same new run: the loser sees the row on its next try.
    return duplicates and isinstance(error, IntegrityError) and unique_violation(message)


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        raise GauntletError(
            f"leaderboard URL {redact_url(str(url))!r} is not a database URL ({error}); "
            f"expected e.g. {URL_EXAMPLES}"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg 3 is the driver gauntlet installs; plain postgresql:// would look for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _check_sqlite_file(url: URL, create: bool) -> None:
    database = url.database
    if not database or database == ":memory:" or "mode=memory" in str(url):
        raise GauntletError(
            f"leaderboard URL {redact_url(url.render_as_string())!r} is an in-memory database: "
            "it loses every row when the command ends. Give a file (sqlite:///PATH/leaderboard.db) "
            "or a PostgreSQL server's URL"
        )
    if database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise GauntletError(
            f"no leaderboard database at {path}: nothing has been recorded there yet. "
            "Train a run, backfill with `gauntlet leaderboard import logs/`, or point at another "
            "database with --log-dir DIR, --url URL or $" + ENV_URL
        )


def _read_only_sqlite(url: URL) -> bool:
    """Whether this user can read the SQLite file but not write it (or its directory, where
    SQLite keeps its journal)."""
    path = Path(str(url.database)).expanduser()
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _read_only_url(url: URL) -> URL:
    # immutable: SQLite neither locks nor writes a journal beside a file it cannot change
    path = Path(str(url.database)).expanduser().resolve()
    return url.set(database=f"file:{path}", query={"mode": "ro", "immutable": "1", "uri": "true"})


def _engine(url: URL, read_only: bool = False) -> Engine:
    backend = url.get_backend_name()
    options: dict[str, Any] = {}
    if backend == "sqlite":
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    elif backend == "postgresql":
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        options["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **options)
    except (NoSuchModuleError, ModuleNotFoundError, ArgumentError) as error:
        raise GauntletError(
            f"leaderboard URL {redact_url(url.render_as_string())!r}: unsupported database "
            f"or missing driver ({error}); expected e.g. {URL_EXAMPLES}"
        ) from None
    if backend == "sqlite":
        _configure_sqlite(engine, read_only)
    return engine


def _configure_sqlite(engine: Engine, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy issues BEGIN itself (below) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        if read_only:  # a reader changes nothing, not even the journal mode
            cursor.execute("PRAGMA query_only = ON")
            cursor.close()
            return
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the lock when it begins, so it never has to upgrade a read lock
        # (the upgrade is what fails with "database is locked" despite the busy timeout).
        immediate = conn.get_execution_options().get("gauntlet_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
