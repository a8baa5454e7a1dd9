"""Multirun launchers: every preset runs a 4-job sweep to 4 completed, recorded runs."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TINY, compose


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


# ------------------------------------------------------------------ the GPU pool


def overlapping_at_most(intervals: list[tuple[str, str]]) -> int:
    """The most intervals (ISO start, end) that hold at once; an end and a start at the same
    instant do not overlap (manifests record whole seconds, rounded down)."""
    import datetime as dt

    events = []
    for started, finished in intervals:
        events.append((dt.datetime.fromisoformat(started), 1))
        events.append((dt.datetime.fromisoformat(finished), -1))
    most = held = 0
    for _, change in sorted(events):  # at a tie -1 sorts first: the slot frees, then is taken
        held += change
        most = max(most, held)
    return most


@pytest.mark.slow  # three jobs through two joblib workers: about 30 s here
def test_gpu_pool_places_each_job_on_one_gpu_and_no_gpu_holds_more_than_k(tmp_path):
    result = sweep(
        tmp_path,
        "launcher=gpu_pool",
        "launcher.gpus=[2,5]",
        "launcher.jobs_per_gpu=1",
        "trainer.accelerator=cpu",  # this machine has no GPU: the placement alone is tried
        "seed=1,2,3",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = manifests(tmp_path / "sweep")
    assert [m["status"] for m in runs] == ["completed"] * 3
    assert {m["gpu"] for m in runs} == {2, 5} and {m["gpu_slot"] for m in runs} == {0}
    for gpu in (2, 5):
        held = [(m["started"], m["finished"]) for m in runs if m["gpu"] == gpu]
        assert overlapping_at_most(held) <= 1, held
    # the share of memory follows jobs_per_gpu: one job per GPU has it whole
    assert runs[0]["config"]["callbacks"]["gpu_share"]["jobs_per_gpu"] == 1


def test_gpu_pool_slots_spread_over_the_gpus_and_each_is_held_by_one_job(tmp_path):
    import threading

    from hydra_plugins.gauntlet_launchers._gpu_slots import Slot, SlotLock, plan_slots

    slots = plan_slots([0, 2, 3], 2, accelerator="cpu")
    # GPU by GPU first, so a sweep with fewer jobs than slots spreads over every GPU
    assert slots == [
        Slot("0", 0),
        Slot("2", 0),
        Slot("3", 0),
        Slot("0", 1),
        Slot("2", 1),
        Slot("3", 1),
    ]
    assert Slot("2", 1).environment() == {
        "CUDA_VISIBLE_DEVICES": "2",
        "GAUNTLET_GPU": "2",
        "GAUNTLET_GPU_SLOT": "1",
    }

    pool = plan_slots([7], 2, accelerator="cpu")
    first, second, third = (SlotLock(tmp_path, pool) for _ in range(3))
    assert {first.acquire(), second.acquire()} == {Slot("7", 0), Slot("7", 1)}
    got = []
    waiter = threading.Thread(target=lambda: got.append(third.acquire()))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive() and not got  # both of GPU 7's slots are held: the third job waits
    freed = first.slot
    first.release()
    waiter.join(timeout=10)
    assert got == [freed]  # the slot the first job held, the moment it was given back
    second.release()
    third.release()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([], "launcher=gpu_pool: this machine has no GPU that torch can see"),
        (["launcher.gpus=[0]"], "on a CPU only the pool's placement can be tried"),
        (
            ["launcher.gpus=[0]", "launcher.jobs_per_gpu=0", "trainer.accelerator=cpu"],
            "launcher.jobs_per_gpu=0: expected a whole number >= 1",
        ),
        (
            ["launcher.gpus=[1,1]", "trainer.accelerator=cpu"],
            "launcher.gpus=[1, 1]: expected 'all' or a list of distinct GPU indices",
        ),
    ],
)
def test_gpu_pool_refuses_what_it_cannot_place_with_one_line(overrides, message):
    import torch

    from gauntlet.errors import GauntletError
    from hydra_plugins.gauntlet_launchers._gpu_slots import plan_slots

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    cfg = compose(["launcher=gpu_pool", *overrides])
    with pytest.raises(GauntletError, match=re.escape(message)):
        plan_slots(cfg.launcher.gpus, cfg.launcher.jobs_per_gpu, cfg.trainer.accelerator)


def test_gpu_pool_without_a_gpu_exits_2_with_the_message(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = sweep(tmp_path, "launcher=gpu_pool", "seed=1,2")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "gauntlet: error: launcher=gpu_pool: this machine has no GPU" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "sweep" / "0").exists()


def test_gpu_memory_share_follows_jobs_per_gpu():
    import hydra

    from gauntlet.callbacks.gpu_share import GPUMemoryShare

    shares = {}
    for k in (1, 2, 4):
        cfg = compose(["launcher=gpu_pool", f"launcher.jobs_per_gpu={k}"])
        shares[k] = hydra.utils.instantiate(cfg.callbacks.gpu_share).fraction
    assert shares == {1: None, 2: pytest.approx(0.475), 4: pytest.approx(0.2375)}
    assert GPUMemoryShare(fraction=0.5, jobs_per_gpu=4).fraction == 0.5  # a given share wins
