"""Studies on real clusters: a local Ray cluster and a single-node SLURM, each started for real.

Each test runs a two-cell study (one learning rate that trains, one that diverges) through the
cluster's launcher, then runs the study again with a second seed: the failed job is recorded
and does not stop the study, and the second run launches only what is still missing.

The Ray cluster is started and stopped by the test (`ray start --head` on loopback; needs the
`ray` extra). SLURM is started by `.ci/run` (see `.ci/slurm.sh`); the test skips where
GAUNTLET_TEST_SLURM is not set or `sinfo` finds no idle node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from helpers import TINY

# what a team sets for its own SLURM cluster: here the one partition, no GPUs, one core a job
SLURM_PLACEMENT = [
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=10",
]


def write_study(path: Path, seeds: list[int], placement: list[str]) -> Path:
    overrides = "\n".join(f"  - {item}" for item in [*TINY, *placement])
    path.write_text(
        f"""name: cluster
description: one learning rate that trains and one that diverges, on a cluster
base: digits_cnn
overrides:
{overrides}
grid:
  lr:
    ok: {{model.optimizer.lr: 0.001}}
    diverges: {{model.optimizer.lr: 1.0e+30}}
seeds: {seeds}
metrics: [test/acc]
"""
    )
    return path


def study(file: Path, log_dir: Path, launcher: str, env: dict[str, str]):
    env = {**os.environ, **env, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("GAUNTLET_NUM_THREADS", None)
    command = [sys.executable, "-m", "gauntlet", "study", str(file), "--launcher", launcher]
    return subprocess.run(
        [*command, "--log-dir", str(log_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def board(log_dir: Path) -> list[dict]:
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    with Leaderboard.open(resolve_url(None, log_dir)) as lb:
        return lb.runs()


def cell_of(row: dict) -> str:
    lr = float(row["config"]["model"]["optimizer"]["lr"])
    return "ok" if lr < 1 else "diverges"


def run_twice(tmp_path: Path, launcher: str, env: dict[str, str], placement: list[str]):
    """The study with seed 1, then with seeds 1 and 2; returns both results and the runs."""
    log_dir = tmp_path / "logs"
    file = write_study(tmp_path / "cluster.yaml", [1], placement)
    first = study(file, log_dir, launcher, env)
    output = first.stdout + first.stderr
    # the diverging job failed, the study went on and says so in its exit status
    assert first.returncode == 1, output[-4000:]
    rows = board(log_dir)
    assert sorted((cell_of(r), r["seed"], r["status"]) for r in rows) == [
        ("diverges", 1, "failed"),
        ("ok", 1, "completed"),
    ], output[-4000:]
    failed = next(r for r in rows if r["status"] == "failed")
    assert "diverged" in (failed["error"] or "")

    write_study(file, [1, 2], placement)
    second = study(file, log_dir, launcher, env)
    output = second.stdout + second.stderr
    assert second.returncode == 1, output[-4000:]
    # the completed run was kept; seed 2 of both cells ran, and the failed cell was retried
    assert "1 from earlier" in output, output[-4000:]
    rows = board(log_dir)
    done = sorted((cell_of(r), r["seed"]) for r in rows if r["status"] == "completed")
    assert done == [("ok", 1), ("ok", 2)]
    assert sum(r["status"] == "completed" and r["seed"] == 1 for r in rows) == 1
    assert {r["status"] for r in rows if cell_of(r) == "diverges"} == {"failed"}
    manifests = [json.loads(Path(r["run_dir"], "manifest.json").read_text()) for r in rows]
    assert {m["choices"]["hydra/launcher"] for m in manifests} == {launcher}
    return manifests


# -- Ray -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ray_cluster():
    """A Ray head on 127.0.0.1 with two CPUs, in a process group of its own, stopped after."""
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        pytest.skip("the ray extra is not installed (pip install 'gauntlet[ray]')")
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray is None:
        pytest.skip("the `ray` command is not on PATH")
    port = free_port()
    # a throwaway cluster for this test only: on loopback (Ray would otherwise advertise the
    # machine's network address), without its token authentication, and with a short
    # temporary directory (Ray's socket paths must stay under 108 characters)
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    temp = tempfile.mkdtemp(prefix="gray-")
    command = [ray, "start", "--head", "--block", f"--port={port}", "--num-cpus=2"]
    head = subprocess.Popen(
        [*command, "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not port_open(port):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start (exit status {head.poll()})")
            time.sleep(0.5)
        yield {key: env[key] for key in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE")} | {
            "RAY_ADDRESS": f"127.0.0.1:{port}"
        }
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_study_on_a_local_ray_cluster_survives_a_failing_job_and_resumes(tmp_path, ray_cluster):
    manifests = run_twice(tmp_path, "ray", ray_cluster, placement=[])
    # every job ran in a Ray worker with the preset's one thread
    assert {m["threads"] for m in manifests} == {1}


# -- SLURM -----------------------------------------------------------------------------------


def slurm_ready() -> str | None:
    """Why the SLURM test cannot run here, or None when a node is idle."""
    if not os.environ.get("GAUNTLET_TEST_SLURM"):
        return "no SLURM cluster (.ci/run starts one and sets GAUNTLET_TEST_SLURM=1)"
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "sinfo/sbatch not found"
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    if states.returncode != 0 or not {"idle", "mixed"} & set(states.stdout.split()):
        return f"no idle SLURM node: {(states.stdout + states.stderr).strip()}"
    return None


@pytest.mark.slurm
def test_a_study_on_slurm_survives_a_failing_job_and_resumes(tmp_path):
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed")
    run_twice(tmp_path, "submitit_slurm", {}, placement=SLURM_PLACEMENT)
    # the jobs went through sbatch: submitit keeps each submission script
    scripts = list((tmp_path / "logs" / "multiruns").glob("*/.submitit/*/*_submission.sh"))
    assert scripts and all("#SBATCH" in s.read_text() for s in scripts)


# -- SLURM: a requeued job continues as the same run -----------------------------------------

# deterministic, with dropout so the RNG state matters; long enough to be requeued mid-run
REQUEUED_RUN = [
    "logger=default",  # wandb (offline) and CSV
    "trainer.max_epochs=12",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.deterministic=true",
    "model.net.hidden=16",
    "model.net.dropout=0.3",
]


def wait_for(what: str, check, timeout: float = 300, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}")


def running_job_manifest(root: Path) -> dict | None:
    """The first manifest under ``root`` whose run is training and has saved a checkpoint."""
    for path in root.rglob("manifest.json"):
        try:
            manifest = json.loads(path.read_text())
        except ValueError:  # being replaced
            continue
        last = path.parent / "checkpoints" / "last.ckpt"
        if manifest.get("status") == "running" and manifest.get("slurm_job_id") and last.is_file():
            return manifest
    return None


def requeue_and_restart(job: str, run_dir: Path) -> str:
    """``scontrol requeue JOB``; once the run records it ``requeued``, let the job start again
    at once (SLURM holds a requeued job back until its old credential expires: AuthInfo's
    cred_expire, 120 s by default, 10 s in .ci/slurm.sh). Returns the status it recorded."""
    subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True)
    status = wait_for(
        "the run to record the requeue",
        lambda: (
            json.loads((run_dir / "manifest.json").read_text()).get("status")
            if json.loads((run_dir / "manifest.json").read_text()).get("status") != "running"
            else None
        ),
        timeout=120,
    )

    def restarted() -> bool:
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True)
        state = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True
        )
        # an array id lists each of its tasks on a line
        return set(state.stdout.split()) <= {"RUNNING", "COMPLETING"}

    wait_for("the requeued job to start again", restarted, timeout=180, every=2)
    return status


def assert_one_run_continued(run_dir: Path, log_dir: Path, before: dict) -> dict:
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    after = json.loads((run_dir / "manifest.json").read_text())
    assert (after["run_id"], after["status"]) == (before["run_id"], "completed")
    assert len(after["resumes"]) == 1 and after["resumes"][0]["checkpoint"].endswith(".ckpt")
    with Leaderboard.open(resolve_url(None, log_dir)) as lb:
        rows = [r for r in lb.runs() if r["run_dir"] == str(run_dir)]
    assert [(r["run_id"], r["status"]) for r in rows] == [(before["run_id"], "completed")]
    # one wandb run: every offline run directory the two attempts wrote carries the run_id
    assert after["wandb"]["id"] == before["run_id"]
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(p.name.endswith(before["run_id"]) for p in offline)
    # the jobs' own output (submitit's log files): no logging error from the stop's signals
    errors = {p.name: p.read_text() for p in run_dir.parent.glob(".submitit/*/*_log.err")}
    assert errors and not [name for name, text in errors.items() if "Logging error" in text], errors
    return after


def slurm_or_skip() -> None:
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher is not installed")


def gauntlet_env() -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("GAUNTLET_NUM_THREADS", None)
    return env


@pytest.mark.slurm
def test_a_requeued_slurm_job_continues_as_the_same_run_with_the_same_metrics(tmp_path):
    slurm_or_skip()
    log_dir, sweep_dir = tmp_path / "logs", tmp_path / "sweep"
    sweep = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            "-m",
            "launcher=submitit_slurm",
            *SLURM_PLACEMENT,
            *REQUEUED_RUN,
            "seed=1",
            f"paths.log_dir={log_dir}",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        env=gauntlet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        before = wait_for("a checkpoint", lambda: running_job_manifest(sweep_dir))
        run_dir = Path(before["run_dir"])
        status = requeue_and_restart(before["slurm_job_id"], run_dir)
        output, _ = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert status == "requeued", output[-3000:]
    assert sweep.returncode == 0, output[-3000:]
    after = assert_one_run_continued(run_dir, log_dir, before)

    # the same run, never stopped, on this machine with the job's one thread
    alone = tmp_path / "alone"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            *REQUEUED_RUN,
            "seed=1",
            f"paths.log_dir={alone}",
            f"hydra.run.dir={alone / 'run'}",
        ],
        env={**gauntlet_env(), "GAUNTLET_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    uninterrupted = json.loads((alone / "run" / "manifest.json").read_text())
    timing = ("perf/", "startup/")

    def compared(metrics: dict) -> dict:
        return {k: v for k, v in metrics.items() if not k.startswith(timing)}

    assert compared(after["metrics"]) == compared(uninterrupted["metrics"])
    assert len(compared(after["metrics"])) >= 8


@pytest.mark.slurm
def test_a_requeued_job_of_a_study_on_slurm_does_not_duplicate_its_run(tmp_path):
    slurm_or_skip()
    log_dir = tmp_path / "logs"
    file = tmp_path / "requeue.yaml"
    overrides = "\n".join(f"  - {item}" for item in [*REQUEUED_RUN, *SLURM_PLACEMENT])
    file.write_text(
        f"""name: requeue
description: two learning rates on SLURM, the whole job array requeued mid-run
base: digits_cnn
overrides:
{overrides}
grid:
  lr:
    small: {{model.optimizer.lr: 0.001}}
    large: {{model.optimizer.lr: 0.003}}
seeds: [1]
metrics: [test/acc]
"""
    )
    command = [sys.executable, "-m", "gauntlet", "study", str(file), "--launcher", "submitit_slurm"]
    proc = subprocess.Popen(
        [*command, "--log-dir", str(log_dir)],
        env=gauntlet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        before = wait_for("a checkpoint", lambda: running_job_manifest(log_dir))
        run_dir = Path(before["run_dir"])
        # an array task is recorded as ARRAY_TASK; the bare array id requeues every task, the
        # other one wherever it is: being built, training, or already done
        array, task = before["slurm_job_id"].split("_")
        assert array.isdigit() and task in ("0", "1"), before["slurm_job_id"]
        status = requeue_and_restart(array, run_dir)
        output, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status == "requeued", output[-3000:]
    assert proc.returncode == 0, output[-3000:]
    assert_one_run_continued(run_dir, log_dir, before)
    rows = board(log_dir)
    assert sorted(r["status"] for r in rows) == ["completed", "completed"], output[-3000:]
    assert len({r["run_dir"] for r in rows}) == 2
