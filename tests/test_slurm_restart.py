"""A restarted SLURM job never trains its run twice, whatever phase the requeue found it in.

These tests set the variables SLURM gives a job array's task; the real requeue on a running
SLURM is in ``test_cluster_launchers.py`` (marked ``slurm``).
"""

from __future__ import annotations

import json

import pytest

from gauntlet.leaderboard.store import Leaderboard, resolve_url
from gauntlet.run import requeue
from helpers import TINY


@pytest.fixture
def array_task(monkeypatch):
    """This process is task 1 of SLURM job array 41 (whose last task keeps the array's id)."""
    for name in ("SLURM_RESTART_COUNT", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "41")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    return monkeypatch


def test_an_array_task_is_recorded_by_a_name_that_requeues_only_itself(array_task):
    assert requeue.slurm_job() == "41_1"
    array_task.delenv("SLURM_ARRAY_TASK_ID")
    array_task.delenv("SLURM_ARRAY_JOB_ID")
    assert requeue.slurm_job() == "41"


def test_a_job_restarted_after_its_run_completed_trains_nothing_again(array_task, train, tmp_path):
    first, run_dir = train(*TINY)
    assert (first["status"], first["slurm_job_id"]) == ("completed", "41_1")

    array_task.setenv("SLURM_RESTART_COUNT", "1")  # SLURM requeued the job after the run's end
    again, _ = train(*TINY)
    assert again == first  # the same manifest, untouched: same run_id, end time and metrics
    with Leaderboard.open(resolve_url(None, tmp_path)) as lb:
        rows = lb.runs()
    assert [(r["run_id"], r["status"]) for r in rows] == [(first["run_id"], "completed")]
    assert json.loads((run_dir / "manifest.json").read_text())["run_id"] == first["run_id"]


def test_another_job_or_a_first_start_in_the_same_directory_is_not_taken_for_a_restart(
    array_task, train
):
    first, _ = train(*TINY)
    array_task.setenv("SLURM_ARRAY_TASK_ID", "0")  # another task's restart: not this run's job
    array_task.setenv("SLURM_RESTART_COUNT", "1")
    other, _ = train(*TINY)
    assert other["run_id"] != first["run_id"] and other["status"] == "completed"
