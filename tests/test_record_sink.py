"""The run record writes its rows to whatever sink it is given: the leaderboard, or any object
with ``upsert(row)`` and ``keep_pending(row, reason)``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gauntlet.errors import GauntletError
from gauntlet.leaderboard.record import LeaderboardSink
from gauntlet.run.manifest import base_manifest
from gauntlet.run.record import RunRecord


class JsonLinesSink:
    """Rows appended to a file, one JSON document a line: a store of one's own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[str] = []

    def upsert(self, row: Any, *, quiet: bool = False) -> bool:
        with self.path.open("a") as out:
            out.write(json.dumps(dict(row), default=str) + "\n")
        return True

    def keep_pending(self, row: Any, reason: str) -> None:
        self.pending.append(reason)

    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines()]


def _manifest(run_dir: Path) -> dict:
    run_dir.mkdir()
    return base_manifest(
        run_id="r1", run_dir=run_dir, config={}, overrides=[], choices={}, seed=1,
        experiment="e", study=None, tags=[],
    )  # fmt: skip


def test_a_run_writes_its_start_and_end_rows_to_the_sink_it_is_given(tmp_path):
    sink = JsonLinesSink(tmp_path / "rows.jsonl")
    run_dir = tmp_path / "run"
    with RunRecord(run_dir, _manifest(run_dir), sink=sink) as record:
        record.measured({"val/acc": 0.5})
        record.finish({"test/acc": 0.75})
    rows = sink.rows()
    assert [row["status"] for row in (rows[0], rows[-1])] == ["running", "completed"]
    assert rows[-1]["metrics"] == {"val/acc": 0.5, "test/acc": 0.75}
    assert sink.pending == ["the run's start row was being written"]
    on_disk = json.loads((run_dir / "manifest.json").read_text())
    assert on_disk["status"] == "completed"


def test_a_failed_run_ends_with_a_failed_row_in_its_sink(tmp_path):
    sink = JsonLinesSink(tmp_path / "rows.jsonl")
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError), RunRecord(run_dir, _manifest(run_dir), sink=sink):
        raise ValueError("bad batch")
    last = sink.rows()[-1]
    assert (last["status"], last["error"]) == ("failed", "ValueError: bad batch")


def test_without_a_sink_a_run_keeps_its_manifest_only(tmp_path):
    run_dir = tmp_path / "run"
    with RunRecord(run_dir, _manifest(run_dir)) as record:
        record.finish({"test/acc": 1.0})
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "completed"
    assert not (run_dir / "leaderboard.pending.json").exists()


def test_the_leaderboard_sink_follows_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("GAUNTLET_LEADERBOARD_URL", raising=False)
    settings = {"paths": {"log_dir": str(tmp_path / "logs")}}
    assert LeaderboardSink.from_config({**settings, "leaderboard": {"enabled": False}}) is None
    sink = LeaderboardSink.for_run({**settings, "leaderboard": {"url": None}})
    assert sink.url == f"sqlite:///{tmp_path / 'logs' / 'leaderboard.db'}"
    with pytest.raises(GauntletError, match=r"^leaderboard\.url: .*in-memory"):
        LeaderboardSink.for_run({**settings, "leaderboard": {"url": "sqlite://"}})
