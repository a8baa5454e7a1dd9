"""Multirun launchers: every preset runs a 4-job sweep to 4 completed, recorded runs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY, compose


def sweep(tmp_path: Path, *overrides: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``gauntlet train -m OVERRIDES`` into tmp_path/sweep, its leaderboard in tmp_path."""
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("GAUNTLET_NUM_THREADS", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            "-m",
            *TINY,
            *overrides,
            f"paths.log_dir={tmp_path}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manifests(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/manifest.json"))]


def board(log_dir: Path) -> list[dict]:
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    with Leaderboard.open(resolve_url(None, log_dir)) as lb:
        return lb.runs()


def assert_four_completed(tmp_path: Path, result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = manifests(tmp_path / "sweep")
    assert sorted(m["seed"] for m in runs) == [1, 2, 3, 4]
    assert [m["status"] for m in runs] == ["completed"] * 4
    rows = board(tmp_path)
    assert sorted(r["run_id"] for r in rows) == sorted(m["run_id"] for m in runs)
    assert {r["status"] for r in rows} == {"completed"}
    summary = json.loads((tmp_path / "sweep" / "sweep_summary.json").read_text())
    assert summary["counts"] == {"completed": 4}
    return runs


def test_basic_launcher_runs_four_jobs(tmp_path):
    assert_four_completed(tmp_path, sweep(tmp_path, "launcher=local", "seed=1,2,3,4"))


@pytest.mark.slow
def test_joblib_launcher_runs_four_jobs_on_one_thread_each(tmp_path):
    runs = assert_four_completed(tmp_path, sweep(tmp_path, "launcher=joblib", "seed=1,2,3,4"))
    assert {m["threads"] for m in runs} == {1}  # jobs share the cores, not oversubscribe them
    assert len({m["run_dir"] for m in runs}) == 4


@pytest.mark.slow
def test_submitit_local_launcher_runs_four_jobs(tmp_path):
    runs = assert_four_completed(
        tmp_path, sweep(tmp_path, "launcher=submitit_local", "seed=1,2,3,4")
    )
    assert {m["threads"] for m in runs} == {1}
    assert list((tmp_path / "sweep" / ".submitit").iterdir())  # went through submitit


def test_slurm_preset_sizes_tasks_from_the_trainer():
    cfg = compose(["launcher=submitit_slurm", "trainer=ddp", "trainer.devices=4"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 1)
    threads = cfg.hydra.job.env_set["GAUNTLET_NUM_THREADS"]
    assert threads == str(launcher.cpus_per_task)


def test_joblib_preset_caps_threads_per_job():
    cfg = compose(["launcher=joblib"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.job.env_set.GAUNTLET_NUM_THREADS == "1"
    assert cfg.hydra.job.env_set.OMP_NUM_THREADS == "1"


@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None,
    reason="hydra-ray-launcher is installed",
)
def test_ray_preset_without_the_plugin_names_what_is_missing():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="hydra/launcher/ray"):
        compose(["launcher=ray"])


@pytest.mark.slow
def test_ddp_inside_a_basic_multirun_runs_each_job_once(tmp_path):
    result = sweep(tmp_path, "trainer=ddp_cpu", "seed=1,2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = manifests(tmp_path / "sweep")
    assert [(m["seed"], m["status"]) for m in runs] == [(1, "completed"), (2, "completed")]
    # rank 1 of each job ran in that job's directory, not a sweep of its own
    for m in runs:
        assert (Path(m["run_dir"]) / "train_ddp_process_1.log").is_file()
    assert not (tmp_path / "runs").exists() and len(board(tmp_path)) == 2
