"""Per-epoch history in the store: written at each epoch's end by a real run, read back, kept
through an unreachable database and a SIGKILL, and backfilled from metrics.csv."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gauntlet.leaderboard.backfill import read_metrics_csv
from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.store import Leaderboard
from gauntlet.run.pending import HISTORY_PENDING, PENDING
from helpers import FAST, run_training

REPO = Path(__file__).resolve().parents[1]
TWO_EPOCHS = [*FAST, "trainer.max_epochs=2", "logger=csv"]


@pytest.fixture(autouse=True)
def _no_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAUNTLET_LEADERBOARD_URL", raising=False)


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    """A real run of two epochs: its manifest, its directory and its log directory."""
    log_dir = tmp_path_factory.mktemp("history")
    manifest, run_dir = run_training(log_dir, TWO_EPOCHS)
    return manifest, run_dir, log_dir


def test_every_logged_metric_of_every_epoch_is_in_the_store(two_epochs) -> None:
    manifest, run_dir, log_dir = two_epochs
    with Leaderboard.open(f"sqlite:///{log_dir / 'leaderboard.db'}") as board:
        history = board.history(manifest["run_id"])
    assert [entry["epoch"] for entry in history] == [0, 1]
    assert history[1]["step"] == 6  # three batches an epoch
    from_csv = read_metrics_csv(run_dir / "metrics.csv")
    for entry in history:
        metrics = entry["metrics"]
        for name in ("train/loss", "train/acc", "val/loss", "val/acc", "gap/loss"):
            assert metrics[name] == pytest.approx(from_csv[entry["epoch"]][name]), name
        assert not any(name.endswith("_step") for name in metrics)


def test_import_backfills_history_from_metrics_csv(two_epochs, tmp_path, capsys) -> None:
    manifest, run_dir, _ = two_epochs
    other = tmp_path / "elsewhere"
    assert main(["import", str(run_dir), "--log-dir", str(other)]) == 0
    assert "2 epochs of history from metrics.csv" in capsys.readouterr().out
    with Leaderboard.open(f"sqlite:///{other / 'leaderboard.db'}") as board:
        history = board.history(manifest["run_id"])
    assert [entry["epoch"] for entry in history] == [0, 1]
    assert history[1]["metrics"]["val/acc"] == pytest.approx(
        read_metrics_csv(run_dir / "metrics.csv")[1]["val/acc"]
    )
    # again: nothing duplicated
    assert main(["import", str(run_dir), "--log-dir", str(other)]) == 0
    with Leaderboard.open(f"sqlite:///{other / 'leaderboard.db'}") as board:
        assert len(board.history(manifest["run_id"])) == 2


def test_an_unreachable_database_keeps_the_history_pending_until_a_command_reaches_it(
    tmp_path,
) -> None:
    blocked = tmp_path / "db"
    blocked.write_text("a file where the database's directory should be")
    url = f"sqlite:///{blocked / 'leaderboard.db'}"
    manifest, run_dir = run_training(tmp_path, [*TWO_EPOCHS, f"leaderboard.url={url}"])
    assert (run_dir / HISTORY_PENDING).is_file() and (run_dir / PENDING).is_file()
    lines = (run_dir / HISTORY_PENDING).read_text().splitlines()
    assert len(lines) == 2

    blocked.unlink()  # the server is back
    with Leaderboard.open(url) as board:  # any command that opens it writes what waited
        assert board.get(manifest["run_id"])["status"] == "completed"
        history = board.history(manifest["run_id"])
    assert [entry["epoch"] for entry in history] == [0, 1]
    assert "val/loss" in history[0]["metrics"]
    assert not (run_dir / HISTORY_PENDING).exists() and not (run_dir / PENDING).exists()


@pytest.mark.slow
def test_a_killed_run_keeps_the_history_it_had(tmp_path) -> None:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    command = [
        sys.executable,
        "-m",
        "gauntlet",
        "train",
        "trainer.max_epochs=500",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        f"paths.log_dir={tmp_path}",
    ]
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"sqlite:///{tmp_path / 'leaderboard.db'}"
    deadline = time.monotonic() + 240
    seen = 0
    try:
        while time.monotonic() < deadline and seen < 3:
            time.sleep(1)
            if (tmp_path / "leaderboard.db").is_file():
                with Leaderboard.open(url, settle=False) as board:
                    rows = board.runs()
                    seen = len(board.history(rows[0]["run_id"])) if rows else 0
        assert seen >= 3, "the run did not record three epochs in time"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with Leaderboard.open(url) as board:  # settles: the killed run is found lost
        (row,) = board.runs()
        history = board.history(row["run_id"])
        assert row["status"] == "lost"
    epochs = [entry["epoch"] for entry in history]
    assert len(epochs) >= 3 and epochs == list(range(len(epochs)))
    assert all("val/loss" in entry["metrics"] for entry in history)
