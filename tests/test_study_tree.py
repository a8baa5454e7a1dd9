"""A study is one process tree that owns its runs.

- two ``gauntlet study`` on one study: the second is refused, naming the first's pid and host;
- a run of the study still training in another process is waited for, never launched again;
- SIGINT or SIGTERM to the study's pid reaches its child multirun: the study exits 130 or 143
  with the line that continues it, and the run records how it stopped;
- kill -9 of the study: its child multirun is not left training unseen (it gets SIGTERM and
  records ``failed``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

STUDY = """
name: owned
base: digits_cnn
overrides:
  - trainer.max_epochs={epochs}
  - trainer.limit_train_batches=2
  - trainer.limit_val_batches=1
  - trainer.limit_test_batches=1
  - logger=csv
  - model.net.hidden=8
grid:
  model.net.depth: [1]
seeds: [1]
metrics: [test/acc]
"""


def env() -> dict[str, str]:
    return {
        **os.environ,
        "WANDB_MODE": "offline",
        "GAUNTLET_LEADERBOARD_URL": "",
        "GAUNTLET_NUM_THREADS": "1",
    }


def write_study(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / "owned.yaml"
    path.write_text(textwrap.dedent(STUDY).format(epochs=epochs))
    return path


def start_study(path: Path, log_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet", "study", str(path), "--log-dir", str(log_dir)],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def running_run(log_dir: Path, timeout: float = 300) -> Path:
    """The run directory of the study's run once it trains (its manifest says running and it
    has saved a checkpoint)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in log_dir.glob("multiruns/*/*/manifest.json"):
            try:
                manifest = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if manifest.get("status") == "running" and list(path.parent.glob("checkpoints/*.ckpt")):
                return path.parent
        time.sleep(0.3)
    raise AssertionError("the study's run never started training")


def gone(pid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie child of ours counts as gone once it exited
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.2)
    return False


def test_a_second_study_command_on_the_same_study_is_refused_naming_the_first(tmp_path):
    from gauntlet.study.runner import study_lock
    from gauntlet.study.spec import load_study

    path = write_study(tmp_path, epochs=1)
    log_dir = tmp_path / "logs"
    out_dir = log_dir / "studies" / "owned"
    with study_lock(out_dir, load_study(str(path))):
        done = subprocess.run(
            [sys.executable, "-m", "gauntlet", "study", str(path), "--log-dir", str(log_dir)],
            env=env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert f"pid {os.getpid()} on {socket.gethostname()}" in said
    assert "Traceback" not in said
    assert not list(log_dir.glob("multiruns/*"))  # it launched nothing


@pytest.mark.slow
def test_a_run_still_training_elsewhere_is_waited_for_not_launched_again(tmp_path):
    from gauntlet.study.runner import plan
    from gauntlet.study.spec import load_study

    path = write_study(tmp_path, epochs=150)
    log_dir = tmp_path / "logs"
    (job,) = plan(load_study(str(path)), log_dir=log_dir)
    # the study's own run, started by hand (as a killed study's multirun would still run it)
    first = subprocess.Popen(
        [sys.executable, "-m", "gauntlet", "train", "-m", *job.overrides],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = running_run(log_dir)
    code_out = subprocess.run(
        [sys.executable, "-m", "gauntlet", "study", str(path), "--log-dir", str(log_dir)],
        env=env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    said = code_out.stdout + code_out.stderr
    assert first.wait(timeout=600) == 0
    assert code_out.returncode == 0, said
    assert "still train in another process" in said
    assert "1 of 1 completed (1 from earlier, 0 launched now)" in said, said
    assert len(list(log_dir.glob("multiruns/*/*/manifest.json"))) == 1  # no second run
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "completed"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "sigint"]
)
def test_a_signal_to_the_study_reaches_its_runs_and_says_how_to_continue(tmp_path, signum, code):
    path = write_study(tmp_path, epochs=500)
    log_dir = tmp_path / "logs"
    study = start_study(path, log_dir)
    run_dir = running_run(log_dir)
    study.send_signal(signum)
    out, _ = study.communicate(timeout=300)
    assert study.returncode == code, out[-3000:]
    assert out.strip().splitlines()[-1].endswith(f"continue it with: gauntlet study {path}"), out
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "continue it with: gauntlet train resume=" in manifest["error"]
    assert manifest["metrics"]  # what it had measured is kept


@pytest.mark.slow
def test_kill_9_of_the_study_does_not_leave_its_run_training_unseen(tmp_path):
    path = write_study(tmp_path, epochs=500)
    log_dir = tmp_path / "logs"
    study = start_study(path, log_dir)
    run_dir = running_run(log_dir)
    child_pid = json.loads((run_dir / "manifest.json").read_text())["pid"]
    study.kill()
    study.wait(timeout=60)
    assert gone(child_pid), "the study's run still trains after the study was killed"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "SIGTERM" in manifest["error"]
