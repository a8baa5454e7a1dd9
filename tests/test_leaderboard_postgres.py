"""The leaderboard on a real PostgreSQL server (``.ci/run`` starts one and sets
GAUNTLET_TEST_POSTGRES_URL). Each test gets a database of its own, dropped afterwards."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.store import Leaderboard
from gauntlet.leaderboard.tables import SCHEMA_VERSION
from helpers_leaderboard import run_parallel_writers, start_manifest

pytestmark = pytest.mark.postgres


def _conninfo(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a fresh, empty database on the test server."""
    psycopg = pytest.importorskip("psycopg")
    url = os.environ.get("GAUNTLET_TEST_POSTGRES_URL", "").strip()
    if not url:
        pytest.skip("GAUNTLET_TEST_POSTGRES_URL is not set (.ci/run starts a server and sets it)")
    shown = make_url(url).render_as_string(hide_password=True)
    name = f"gauntlet_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_conninfo(url), connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        pytest.skip(f"PostgreSQL at {shown} is unreachable or refuses CREATE DATABASE: {error}")
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(url), connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_running_then_completed_keeps_one_row_on_postgres(postgres_url: str) -> None:
    with Leaderboard.open(postgres_url) as board:
        stored = {
            "config": {"model": {"net": {"dropout": 0.1}}},
            "git": {"commit": "abc123", "dirty": True},
        }
        board.upsert(start_manifest("r1", **stored))
        board.upsert(
            start_manifest(
                "r1", status="completed", metrics={"test/acc": 0.97, "train/loss": 1e309}, **stored
            )
        )
        assert board.count() == 1
        row = board.get("r1")
        assert board.schema_version() == SCHEMA_VERSION
    assert row["status"] == "completed"
    assert row["metrics"]["test/acc"] == 0.97
    assert row["metrics"]["train/loss"] == float("inf")  # JSONB has no infinity; it round-trips
    assert row["config"] == {"model": {"net": {"dropout": 0.1}}}
    assert row["git"] == {"commit": "abc123", "dirty": True}
    assert row["started"] == "2026-11-28T18:05:01+00:00"


def test_eight_writer_processes_lose_no_row_on_postgres(postgres_url: str) -> None:
    run_parallel_writers(postgres_url)


def test_the_cli_never_shows_the_password_of_a_postgres_url(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The test server trusts loopback, so any password is accepted: it must still never show.
    url = make_url(postgres_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    run_dir = tmp_path / "runs" / "a"
    run_dir.mkdir(parents=True)
    config = {"leaderboard": {"url": url}, "model": {"net": {"dropout": 0.1}}}
    (run_dir / "manifest.json").write_text(
        json.dumps(
            start_manifest("r1", status="completed", metrics={"test/acc": 0.9}, config=config)
        )
    )
    assert main(["import", str(tmp_path / "runs"), "--url", url]) == 0
    outputs = [capsys.readouterr()]
    html = tmp_path / "board.html"
    for args in (
        ["--runs"],
        ["--format", "json"],
        ["--format", "csv", "--runs"],
        ["--output", html],
    ):
        assert main(["--url", url, *map(str, args)]) == 0
        outputs.append(capsys.readouterr())
    shown = "".join(o.out + o.err for o in outputs) + html.read_text()
    assert "s3cret-pw" not in shown
    assert ":***@" in shown
    with Leaderboard.open(url) as board:
        assert "s3cret-pw" not in json.dumps(board.get("r1"))


def test_schema_1_migrates_and_history_studies_and_a_reader_work_on_postgres(
    postgres_url: str,
) -> None:
    from sqlalchemy import create_engine, text

    from gauntlet.leaderboard.identity import config_key
    from gauntlet.leaderboard.serve.views import Views

    with Leaderboard.open(postgres_url) as board:
        for seed in (1, 2):
            board.upsert(
                start_manifest(
                    f"r{seed}",
                    status="completed",
                    seed=seed,
                    config={"model": {"net": {"dropout": 0.1}}, "seed": seed},
                )
            )
    # back to schema 1 as a release before it left the database: no column, no new tables
    engine = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE runs DROP COLUMN config_key"))
        conn.execute(text("DROP TABLE history"))
        conn.execute(text("DROP TABLE studies"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
    engine.dispose()

    with Leaderboard.open(postgres_url) as board:
        assert board.schema_version() == 2
        keys = {row["run_id"]: row["config_key"] for row in board.runs()}
        assert keys["r1"] == keys["r2"] == config_key({"model": {"net": {"dropout": 0.1}}})
        board.record_history("r1", 0, {"val/loss": 1.5, "val/acc": float("nan")}, step=10)
        board.record_history("r1", 0, {"val/loss": 1.25}, step=10)  # an epoch again replaces it
        board.record_study(
            "s",
            "h1",
            plan={"runs": []},
            settings={"level": 0.05},
            results={"claims": [{"verdict": "PASS"}]},
        )
        assert board.history("r1")[0]["metrics"] == {"val/loss": 1.25}
        assert board.studies("s")[0]["results"]["claims"][0]["verdict"] == "PASS"

    reader = Leaderboard.reader(postgres_url)
    try:
        views = Views(reader)
        assert views.history("r1")["epochs"][0]["metrics"]["val/loss"] == 1.25
        (group,) = views.groups({})["items"]
        assert group["n"] == 2
        with pytest.raises(Exception, match="read-only"):
            reader.upsert(start_manifest("r3"))
    finally:
        reader.close()
