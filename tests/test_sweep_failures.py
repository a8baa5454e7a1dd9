"""Failed jobs in a sweep: recorded as failed, the sweep goes on, its summary names them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY
from gauntlet.errors import RunFailed
from gauntlet.sweep.summary import collect

DIVERGES = "model.optimizer.lr=1e30"  # NaN loss within two steps


def test_a_nan_loss_fails_the_run_and_records_why(train):
    with pytest.raises(RunFailed, match="diverged"):
        train(DIVERGES, "trainer.limit_train_batches=2")


def test_sweep_with_one_failing_job_records_all_and_exits_non_zero(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            "-m",
            *TINY,
            "model.optimizer.lr=1e-3,2e-3,1e30,5e-4",
            f"paths.log_dir={tmp_path}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr

    assert result.returncode == 1, output[-3000:]
    runs = {
        p.parent.name: json.loads(p.read_text())
        for p in (tmp_path / "sweep").glob("*/manifest.json")
    }
    assert sorted(runs) == ["0", "1", "2", "3"]  # the sweep went on after job 2 failed
    assert [runs[j]["status"] for j in "0123"] == ["completed", "completed", "failed", "completed"]
    assert "diverged" in runs["2"]["error"] and "nan" in runs["2"]["error"]
    assert "4 jobs: 3 completed, 1 failed" in output
    assert "failed job 2 (" in output and "model.optimizer.lr=1e+30" in output
    summary = json.loads((tmp_path / "sweep" / "sweep_summary.json").read_text())
    assert summary["counts"] == {"completed": 3, "failed": 1}
    assert summary["failed"][0]["job"] == "2"

    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    with Leaderboard.open(resolve_url(None, tmp_path)) as board:
        rows = {r["run_id"]: r for r in board.runs()}
    assert sorted(r["status"] for r in rows.values()) == ["completed"] * 3 + ["failed"]
    assert "diverged" in rows[runs["2"]["run_id"]]["error"]


def write_manifest(job_dir: Path, **fields) -> None:
    job_dir.mkdir(parents=True)
    manifest = {"run_id": f"run-{job_dir.name}", "started": "2030-01-01T00:00:00+00:00", **fields}
    (job_dir / "manifest.json").write_text(json.dumps(manifest))


def test_summary_counts_dead_and_unstarted_jobs_as_failed(tmp_path):
    write_manifest(tmp_path / "0", status="completed", overrides=["seed=1"])
    write_manifest(tmp_path / "1", status="running", overrides=["seed=2"])  # process killed
    (tmp_path / "2" / ".hydra").mkdir(parents=True)  # died before its run began
    write_manifest(tmp_path / "3", status="pruned", overrides=["seed=4"])

    outcomes = {o.job: o for o in collect(tmp_path)}

    assert {j: o.status for j, o in outcomes.items()} == {
        "0": "completed",
        "1": "failed",
        "2": "failed",
        "3": "pruned",
    }
    assert "process died" in outcomes["1"].describe()
    assert "job 1 (seed=2)" in outcomes["1"].describe()
    assert "no manifest" in outcomes["2"].error


def test_summary_leaves_out_jobs_of_an_earlier_sweep_into_the_same_dir(tmp_path):
    import datetime as dt

    write_manifest(tmp_path / "0", status="failed", started="2020-01-01T00:00:00+00:00")
    write_manifest(tmp_path / "1", status="completed")
    since = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

    assert [o.job for o in collect(tmp_path, since)] == ["1"]
