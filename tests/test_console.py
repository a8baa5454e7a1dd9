"""What ``gauntlet train`` prints: the metrics and where the run went, without the dependencies'
chatter; log lines never glued to a progress bar."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# what Lightning, wandb and torch would print on every run, none of which a user can act on
NOISE = (
    "GPU available",
    "TPU available",
    "Tip:",
    "litlogger",
    "anonymous setting",
    "is deprecated",
    "log_every_n_steps",
    "does not have many workers",
    "v_num",
)
# a log record that starts anywhere but at the start of a line was written over a progress bar
GLUED = re.compile(r"[^\r\n]\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]\[")


def gauntlet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("WANDB_SILENT", None)  # as a user's shell has it
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", *args, f"paths.log_dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )


def test_train_prints_its_metrics_and_run_directory_without_noise(tmp_path):
    done = gauntlet(
        tmp_path,
        "train",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "callbacks.progress_bar.refresh_rate=1",
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    for noise in NOISE:
        assert noise not in output, noise
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert re.search(
        rf"run \S+ completed: test/acc=0\.\d+.*written to {re.escape(str(run_dir))}", output
    )
    lines = re.split(r"[\r\n]", output)
    for epoch in (0, 1):  # the epoch summary on a line of its own, the bar that ended above it
        assert any(
            re.match(
                rf"\[[^]]+\]\[gauntlet\.models\.module\]\[INFO\] epoch {epoch}: train/loss=", line
            )
            for line in lines
        )
        assert any(line.startswith(f"Epoch {epoch}: 100%") and "val/acc=" in line for line in lines)
    assert not GLUED.search(output), GLUED.search(output)
