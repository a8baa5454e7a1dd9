"""Failed jobs in a sweep: recorded as failed, the sweep goes on, its summary names them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.errors import RunFailed
from gauntlet.sweep.summary import collect
from helpers import TINY

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


def test_a_job_killed_by_sigkill_is_lost_and_the_other_jobs_finish(tmp_path):
    """joblib: kill -9 of one job's process costs that job only. loky alone would kill its
    sibling and never start the jobs still queued (TerminatedWorkerError)."""
    import signal
    import time

    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("GAUNTLET_NUM_THREADS", None)
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            "-m",
            *TINY,
            "launcher=joblib",
            "hydra.launcher.n_jobs=2",
            # job 0 trains long enough to be killed; job 1 runs beside it; job 2 starts later
            "trainer.max_epochs=200,2,1",
            f"paths.log_dir={tmp_path}",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        victim = sweep_dir / "0" / "manifest.json"
        deadline = time.monotonic() + 300
        pid = None
        while pid is None and time.monotonic() < deadline and proc.poll() is None:
            if victim.is_file() and (sweep_dir / "0" / "checkpoints" / "last.ckpt").is_file():
                manifest = json.loads(victim.read_text())
                if manifest.get("status") == "running":
                    pid = manifest["pid"]
            time.sleep(0.1)
        assert pid is not None, "job 0 never started training"
        os.kill(pid, signal.SIGKILL)
        output, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert "TerminatedWorkerError" not in output and "Traceback" not in output, output[-3000:]
    assert proc.returncode == 1, output[-3000:]
    runs = {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/manifest.json")}
    assert {job: m["status"] for job, m in runs.items()} == {
        "0": "lost",
        "1": "completed",
        "2": "completed",
    }
    assert "killed by signal 9 (SIGKILL)" in runs["0"]["error"]
    summary = json.loads((sweep_dir / "sweep_summary.json").read_text())
    assert summary["counts"] == {"completed": 2, "lost": 1}
    assert "lost job 0 (" in output

    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    with Leaderboard.open(resolve_url(None, tmp_path), settle=False) as board:
        rows = {r["run_id"]: r["status"] for r in board.runs()}
    assert rows == {m["run_id"]: m["status"] for m in runs.values()}


def test_the_launcher_that_saw_a_job_die_says_how_even_after_another_command_guessed(tmp_path):
    """Whichever comes first, the launcher's record of a killed job or a sibling's settling of
    the leaderboard (which can only guess why the process is gone), the run ends ``lost`` with
    the reason the launcher saw, in its manifest and its row."""
    import socket

    from gauntlet.leaderboard.store import Leaderboard
    from gauntlet.run.manifest import read_manifest, write_manifest
    from gauntlet.sweep.lost import record_lost
    from helpers_leaderboard import start_manifest

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    job_dir = tmp_path / "0"
    job_dir.mkdir()
    url = f"sqlite:///{tmp_path / 'board.db'}"
    running = start_manifest(
        "r-killed", run_dir=str(job_dir), host=socket.gethostname(), pid=gone.pid
    )
    write_manifest(job_dir, running)
    with Leaderboard.open(url) as board:
        board.upsert(running)
    with Leaderboard.open(url) as board:  # a sibling job's start settles the board first
        assert board.get("r-killed")["status"] == "lost"
    assert "ended without recording how" in read_manifest(job_dir)["error"]

    seen = "its process was killed by signal 9 (SIGKILL)"
    assert record_lost(job_dir, seen, {"leaderboard": {"url": url}})
    with Leaderboard.open(url) as board:
        row = board.get("r-killed")
    assert (row["status"], row["error"]) == ("lost", seen)
    assert (read_manifest(job_dir)["status"], read_manifest(job_dir)["error"]) == ("lost", seen)
    # a run that ended on its own keeps its record
    write_manifest(job_dir, {**running, "status": "completed", "error": None})
    assert not record_lost(job_dir, seen, {"leaderboard": {"url": url}})
    assert read_manifest(job_dir)["status"] == "completed"
