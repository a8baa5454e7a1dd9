"""The leaderboard store on SQLite: URLs, upserts, lenient reads, schema, concurrency, secrets."""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.record import record
from gauntlet.leaderboard.store import Leaderboard, redact_url, resolve_url
from gauntlet.leaderboard.tables import SCHEMA_VERSION
from helpers_leaderboard import run_parallel_writers, start_manifest


@pytest.fixture(autouse=True)
def _no_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAUNTLET_LEADERBOARD_URL", raising=False)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'leaderboard.db'}"


def test_resolve_url_prefers_explicit_then_environment_then_log_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_dir = tmp_path / "nested" / "logs"
    assert resolve_url("sqlite:///x.db", log_dir) == "sqlite:///x.db"
    default = resolve_url(None, log_dir)
    assert default == f"sqlite:///{log_dir.resolve() / 'leaderboard.db'}"
    assert log_dir.is_dir()
    monkeypatch.setenv("GAUNTLET_LEADERBOARD_URL", "postgresql+psycopg://bob@db/team")
    assert resolve_url(None, log_dir) == "postgresql+psycopg://bob@db/team"
    assert resolve_url("sqlite:///mine.db", log_dir) == "sqlite:///mine.db"


def test_resolve_url_makes_a_relative_log_dir_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_url(None, "logs") == f"sqlite:///{tmp_path.resolve()}/logs/leaderboard.db"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://bob:s3cret@host/db", "postgresql+psycopg://bob:***@host/db"),
        ("postgresql://bob:p@ss:w0rd@host:5432/db", "postgresql://bob:***@host:5432/db"),
        ("postgresql://bob@host/db?password=s3cret&sslmode=require", None),
        ("postgresql+psycopg://bob@host/db", "postgresql+psycopg://bob@host/db"),
        ("sqlite:////tmp/logs/leaderboard.db", "sqlite:////tmp/logs/leaderboard.db"),
    ],
)
def test_redact_url_hides_passwords_only(url: str, shown: str | None) -> None:
    redacted = redact_url(url)
    assert "s3cret" not in redacted and "w0rd" not in redacted
    if shown is not None:
        assert redacted == shown
    else:
        assert redacted == "postgresql://bob@host/db?password=***&sslmode=require"


def test_running_then_completed_keeps_one_row_with_the_final_state(tmp_path: Path) -> None:
    board = Leaderboard.open(sqlite_url(tmp_path))
    board.upsert(start_manifest("r1"))
    assert board.get("r1")["status"] == "running"
    final = start_manifest(
        "r1",
        status="completed",
        finished="2026-11-28T18:06:00+00:00",
        duration_s=59.1,
        metrics={"test/acc": 0.97, "test/f1": 0.96, "val/acc_best": 0.98},
    )
    board.upsert(final)
    assert board.count() == 1
    row = board.get("r1")
    assert row["status"] == "completed"
    assert row["metrics"] == {"test/acc": 0.97, "test/f1": 0.96, "val/acc_best": 0.98}
    assert row["finished"] == "2026-11-28T18:06:00+00:00"
    assert row["duration_s"] == pytest.approx(59.1)
    # everything the manifest held comes back, including fields without a column of their own
    assert row.pop("config_key") and row == final  # and its identity, from its config
    board.close()


def test_an_update_keeps_the_fields_it_does_not_mention(tmp_path: Path) -> None:
    with Leaderboard.open(sqlite_url(tmp_path)) as board:
        board.upsert(start_manifest("r1"))
        board.upsert({"run_id": "r1", "status": "failed", "error": "RuntimeError: boom"})
        row = board.get("r1")
    assert row["status"] == "failed"
    assert row["error"] == "RuntimeError: boom"
    assert row["model"] == "cnn" and row["config"]["model"]["net"]["dropout"] == 0.1
    assert row["git"] == {"commit": "abc123", "dirty": False}


def test_old_and_odd_manifests_are_read_leniently(tmp_path: Path) -> None:
    with Leaderboard.open(sqlite_url(tmp_path)) as board:
        board.upsert({"run_id": "bare"})
        board.upsert(
            {
                "run_id": "odd",
                "seed": "7",
                "num_params": "many",
                "started": "2026-11-28T19:05:01+01:00",
                "finished": "yesterday",
                "metrics": {"train/loss": math.nan, "test/acc": 0.5},
                "config": "not a mapping",
            }
        )
        bare, odd = board.get("bare"), board.get("odd")
        assert board.get("missing") is None
    assert bare["run_id"] == "bare" and bare["status"] is None and bare["metrics"] is None
    assert odd["seed"] == 7
    assert odd["num_params"] is None and odd["finished"] is None and odd["config"] is None
    assert odd["started"] == "2026-11-28T18:05:01+00:00"  # normalised to UTC
    assert math.isnan(odd["metrics"]["train/loss"]) and odd["metrics"]["test/acc"] == 0.5


def test_a_manifest_without_run_id_is_refused(tmp_path: Path) -> None:
    with Leaderboard.open(sqlite_url(tmp_path)) as board, pytest.raises(GauntletError) as error:
        board.upsert({"status": "running"})
    assert "run_id" in str(error.value)


def test_runs_filters_and_orders_newest_first(tmp_path: Path) -> None:
    with Leaderboard.open(sqlite_url(tmp_path)) as board:
        board.upsert(start_manifest("old", started="2026-11-01T00:00:00+00:00"))
        board.upsert(start_manifest("new", started="2026-11-02T00:00:00+00:00", model="rnn"))
        board.upsert(start_manifest("none", started=None, status="failed"))
        assert [r["run_id"] for r in board.runs()] == ["new", "old", "none"]
        assert [r["run_id"] for r in board.runs(model="rnn")] == ["new"]
        assert [r["run_id"] for r in board.runs(status=["failed", "completed"])] == ["none"]
        assert [r["run_id"] for r in board.runs(where=["model.net.dropout=0.1"], limit=1)] == [
            "new"
        ]
        assert board.runs(where={"model.net.dropout": 0.2}) == []


def test_schema_version_is_recorded_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    with Leaderboard.open(url) as board:
        assert board.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(tmp_path / "leaderboard.db") as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(GauntletError) as error:
        Leaderboard.open(url)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(error.value)
    assert "upgrade gauntlet" in str(error.value)


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    Leaderboard.open(sqlite_url(tmp_path)).close()
    with sqlite3.connect(tmp_path / "leaderboard.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reading_a_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path: Path) -> None:
    with pytest.raises(GauntletError) as error:
        Leaderboard.open(sqlite_url(tmp_path), create=False)
    assert str(tmp_path / "leaderboard.db") in str(error.value)
    assert not (tmp_path / "leaderboard.db").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL"),
        ("nosuchdb://host/db", "unsupported database or missing driver"),
    ],
)
def test_bad_urls_are_named_with_examples(url: str, expected: str) -> None:
    with pytest.raises(GauntletError) as error:
        Leaderboard.open(url)
    assert expected in str(error.value)
    assert "sqlite:///" in str(error.value)


def test_an_unreachable_server_is_reported_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/team"
    with pytest.raises(GauntletError) as error:
        Leaderboard.open(url)
    message = str(error.value)
    assert "bob:***@127.0.0.1:1/team" in message
    assert "s3cret" not in message and "s3cret" not in caplog.text


def test_credentials_in_a_manifest_never_reach_the_database(tmp_path: Path) -> None:
    manifest = start_manifest(
        "r1",
        config={
            "leaderboard": {"url": "postgresql+psycopg://bob:s3cret@db/team"},
            "logger": {"wandb": {"api_key": "s3cret"}},
        },
        command=["gauntlet", "train", "leaderboard.url=postgresql://bob:s3cret@db/team"],
    )
    with Leaderboard.open(sqlite_url(tmp_path)) as board:
        board.upsert(manifest)
        row = board.get("r1")
    assert row["config"]["leaderboard"]["url"] == "postgresql+psycopg://bob:***@db/team"
    assert row["config"]["logger"]["wandb"]["api_key"] == "***"
    assert row["command"][-1] == "leaderboard.url=postgresql://bob:***@db/team"
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("leaderboard.db*"))
    assert b"bob" in stored and b"s3cret" not in stored


@pytest.mark.integration
def test_eight_writer_processes_lose_no_row_on_sqlite(tmp_path: Path) -> None:
    run_parallel_writers(sqlite_url(tmp_path / "shared"))


def test_record_uses_the_configured_store_and_never_fails_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    leaderboard = OmegaConf.load(Path(__file__).parents[1] / "conf/leaderboard/sqlite.yaml")
    cfg = OmegaConf.create({"leaderboard": leaderboard, "paths": {"log_dir": str(tmp_path)}})
    assert record(start_manifest("r1"), cfg) is True
    with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
        assert board.get("r1")["status"] == "running"

    cfg.leaderboard.url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/team"
    unreachable = {**start_manifest("r2"), "run_dir": str(tmp_path / "r2")}
    assert record(unreachable, cfg) is False
    assert "could not record run r2" in caplog.text
    assert f"kept as {tmp_path / 'r2' / 'leaderboard.pending.json'}" in caplog.text
    assert "s3cret" not in caplog.text

    cfg.leaderboard.enabled = False
    assert record(start_manifest("r3"), cfg) is False
