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

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    SQLAlchemyError,
)

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.location import DB_FILENAME, ENV_URL, resolve_url  # noqa: F401  (re-exported)
from gauntlet.leaderboard.query import Condition, as_conditions
from gauntlet.leaderboard.rows import merge, to_manifest, to_row
from gauntlet.leaderboard.schema import MIGRATIONS, SCHEMA_VERSION, metadata, runs, schema_version
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
            if not read_only:
                board._retry(board._prepare_schema, "create the tables")
        except BaseException:
            engine.dispose()
            raise
        log.debug("opened leaderboard %s", board.url)
        if settle:
            board.settle()
        return board

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
                query = select(runs).where(runs.c.run_id == run_id)
                stored = conn.execute(query).mappings().first()
            return None if stored is None else to_manifest(stored)

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
        query = select(runs)
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
            return [to_manifest(row) for row in stored]

        rows = self._retry(read, "query runs")
        rows = [row for row in rows if all(c.matches(row) for c in conditions)]
        return rows if limit is None else rows[:limit]

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


def _transient(error: DBAPIError, duplicates: bool) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code in _PG_RETRY or (duplicates and code == _PG_DUPLICATE):
        return True
    message = str(error.orig).lower()
    if "database is locked" in message or "database table is locked" in message:
        return True
    # Two writers inserting the same new run: the loser sees the row on its next try.
    return duplicates and isinstance(error, IntegrityError) and "unique" in message


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
        if read_only:
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
