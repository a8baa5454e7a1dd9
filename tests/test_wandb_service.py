"""A run's wandb service is its own process's. A process that started one records it in its
environment (``WANDB_SERVICE``), and every process it starts inherits the variable: a
``gauntlet`` command run from a notebook or a script that used wandb, and every SLURM job
submitted from it. A run must not depend on that service: on another node it cannot be reached,
and a requeued job's restart would meet its first attempt's run still open in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import FAST

HOLDER = """
import os, sys, time, wandb
run = wandb.init(id=sys.argv[1], dir=sys.argv[2], mode="offline", project="gauntlet")
print(os.environ["WANDB_SERVICE"], flush=True)
time.sleep(600)
"""


def train(*overrides: str, service: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env["WANDB_SERVICE"] = service
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            *overrides,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def new_run(log_dir: Path) -> list[str]:
    return ["experiment=digits_cnn", *FAST, f"paths.log_dir={log_dir}"]


def only_run(log_dir: Path) -> tuple[dict, Path]:
    (manifest,) = (log_dir / "runs").glob("*/manifest.json")
    return json.loads(manifest.read_text()), manifest.parent


def test_a_run_that_inherits_an_unreachable_wandb_service_starts_its_own(tmp_path):
    # what a job on a compute node inherits from the login node where it was submitted
    proc = train(*new_run(tmp_path), service=f"3-1-unix-{tmp_path}/elsewhere/socket")
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest, run_dir = only_run(tmp_path)
    assert manifest["status"] == "completed"
    assert list((run_dir / "wandb").glob(f"offline-run-*-{manifest['run_id']}"))


def test_a_continued_run_does_not_meet_its_own_wandb_run_open_in_an_inherited_service(tmp_path):
    proc = train(*new_run(tmp_path), service="")
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, run_dir = only_run(tmp_path)
    # another process holds a service in which the run's wandb run is still open, as a
    # requeued job's first attempt leaves it in a service shared by both attempts
    (tmp_path / "holder").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, first["run_id"], str(tmp_path / "holder")],
        env={**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        service = holder.stdout.readline().strip()
        assert service, "the holder process did not start a wandb service"
        proc = train(f"resume={run_dir}", "trainer.max_epochs=2", service=service)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after, _ = only_run(tmp_path)
    assert (after["run_id"], after["status"], after["epochs"]) == (first["run_id"], "completed", 2)
    assert len(list((run_dir / "wandb").glob(f"offline-run-*-{first['run_id']}"))) == 2


def test_a_service_this_process_started_is_kept(monkeypatch):
    from gauntlet.compat.wandb import forget_inherited_service

    own = f"3-{os.getpid()}-unix-/tmp/wandb-own/socket"
    monkeypatch.setenv("WANDB_SERVICE", own)
    forget_inherited_service()
    assert os.environ["WANDB_SERVICE"] == own
    monkeypatch.setenv("WANDB_SERVICE", f"3-{os.getppid()}-tcp-localhost-4242")
    forget_inherited_service()
    assert "WANDB_SERVICE" not in os.environ
