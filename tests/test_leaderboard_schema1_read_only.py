"""A leaderboard file written by schema 1 (no ``config_key`` column, no history or studies
tables) on a disk this user cannot write: ``gauntlet leaderboard`` and ``gauntlet serve`` read it
as it is, the training identity computed from each run's stored config, and change nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.identity import config_key
from gauntlet.leaderboard.store import Leaderboard
from serve_helpers import serving
from test_faults import can_mount_tmpfs

FIXTURE = Path(__file__).parent / "fixtures" / "leaderboard_schema1.sql"
GROUPS = {"cnn_digits": 0.9725, "cnn_digits · trainer.max_epochs=1": None}


def schema1_file(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "leaderboard.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text())
    return path


@pytest.fixture
def read_only_board(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only tmpfs holding a schema-1 leaderboard.db."""
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    written = schema1_file(tmp_path / "written")
    point = tmp_path / "disk"
    point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        shutil.copy(written, point / "leaderboard.db")
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_leaderboard_command_groups_a_read_only_schema_1_file_by_identity(
    read_only_board: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(read_only_board / "leaderboard.db")
    assert main(["--log-dir", str(read_only_board), "--format", "json"]) == 0
    groups = {g["group"]: g for g in json.loads(capsys.readouterr().out)}
    assert sorted(groups) == sorted(GROUPS)
    assert groups["cnn_digits"]["runs"] == 2
    assert groups["cnn_digits"]["test/acc.mean"] == pytest.approx(0.9725)
    assert main(["--log-dir", str(read_only_board), "--runs", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert digest(read_only_board / "leaderboard.db") == before


def test_the_reader_computes_each_runs_identity_and_migrates_nothing(tmp_path: Path) -> None:
    path = schema1_file(tmp_path)  # writable: the reader still leaves it as it is
    board = Leaderboard.reader(f"sqlite:///{path}")
    try:
        rows = board.runs()
        assert len(rows) == 4
        for row in rows:  # the key a new write, or the migration, would store
            assert row["config_key"] == config_key(row["config"])
        assert len({row["config_key"] for row in rows}) == 2
        assert board.history(rows[0]["run_id"]) == [] and board.studies() == []
        assert board.history_lengths() == {} and board.stamp()[-1] == 0
    finally:
        board.close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        version = conn.execute("SELECT version FROM schema_version").fetchone()[0]
    assert "config_key" not in columns and "history" not in tables and version == 1


def test_serve_shows_a_read_only_schema_1_file(read_only_board: Path) -> None:
    with serving(read_only_board) as base:
        board = httpx.get(base + "/api/groups", timeout=30).json()
        labels = {g["label"]: g for g in board["items"]}
        assert sorted(labels) == sorted(GROUPS)
        assert all(g["n"] == 2 for g in labels.values())
        key = labels["cnn_digits"]["key"]
        group = httpx.get(f"{base}/api/groups/{key}", timeout=30)
        assert group.status_code == 200 and len(group.json()["runs"]) == 2
        run_id = group.json()["runs"][0]["run_id"]
        run = httpx.get(f"{base}/api/runs/{run_id}", timeout=30).json()
        assert run["config_key"] == key == config_key(run["config"])
        history = httpx.get(f"{base}/api/runs/{run_id}/history", timeout=30).json()
        assert history["epochs"] == []
        assert httpx.get(base + "/api/studies", timeout=30).json() == []
