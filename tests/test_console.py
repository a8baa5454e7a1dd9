"""What ``gauntlet train`` prints: the metrics and where the run went, without the dependencies'
chatter; log lines never glued to a progress bar; per-step logging only when asked for."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_per_step_loss_is_logged_only_when_asked_for(train):
    _, per_epoch = train("trainer.limit_train_batches=6", "logger=csv")
    with (per_epoch / "metrics.csv").open() as f:
        header = next(csv.reader(f))
    assert "train/loss" in header and "train/loss_step" not in header

    _, per_step = train(
        "trainer.limit_train_batches=6", "trainer.log_every_n_steps=2", "logger=csv", name="steps"
    )
    with (per_step / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    steps = [int(row["step"]) for row in rows if row.get("train/loss_step")]
    assert steps == [1, 3, 5]  # every second of the six steps (Lightning counts from 0)
    assert all(float(row["train/loss_step"]) > 0 for row in rows if row.get("train/loss_step"))
    epoch_rows = [row for row in rows if row.get("train/loss")]
    assert len(epoch_rows) == 1  # the epoch's own mean is still there


@pytest.mark.parametrize("value", ["0", "abc"])
def test_a_bad_log_every_n_steps_names_the_key(tmp_path, value):
    done = gauntlet(tmp_path, "train", f"trainer.log_every_n_steps={value}")
    assert done.returncode != 0
    assert "trainer.log_every_n_steps" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_version():
    from gauntlet import __version__

    for flags in (["--version"], ["-V"], ["train", "--version"], ["eval", "--version"]):
        done = subprocess.run(
            [sys.executable, "-m", "gauntlet", *flags], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and done.stdout == f"gauntlet {__version__}\n", done


def test_deleting_the_scheduler_trains_without_one(tmp_path):
    from gauntlet.cli import main

    shown = gauntlet(tmp_path, "train", "--cfg", "job", "~model.scheduler")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^  scheduler: null$", shown.stdout, re.M)
    args = ["train", "~model/scheduler", "logger=csv", f"paths.log_dir={tmp_path}"]
    args += ["hydra.run.dir=" + str(tmp_path / "run"), "trainer.max_epochs=1"]
    args += ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    args += ["trainer.limit_test_batches=1", "trainer.enable_progress_bar=false"]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["config"]["model"]["scheduler"] is None
