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
    "`srun` command is available",
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
    for noise in (*NOISE, "pending row", "kept in its run directory"):
        assert noise not in output, noise
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert re.search(
        rf"run \S+ completed: test/acc=0\.\d+.*written to {re.escape(str(run_dir))}", output
    )
    lines = re.split(r"[\r\n]", output)
    # piped, as in CI or `make train > log`: no bar at all, one line per epoch
    for epoch in (0, 1):
        assert (
            sum(
                bool(
                    re.match(
                        rf"\[[^]]+\]\[gauntlet\.models\.module\]\[INFO\] epoch {epoch}: "
                        r"train/loss=\S+  train/acc=\S+  val/loss=\S+  val/acc=",
                        line,
                    )
                )
                for line in lines
            )
            == 1
        )
    for bar in ("Training", "Validation", "Testing", "Epoch ", "0/?", "it/s"):
        assert bar not in output, bar
    assert not GLUED.search(output), GLUED.search(output)


def screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: carriage returns, cursor-up and line clears
    applied, as tqdm writes them."""
    rows: list[list[str]] = [[]]
    row = col = 0
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\x1b":
            match = re.match(r"\x1b\[(\d*)([A-Za-z])", raw[i:])
            if match:
                count = int(match.group(1) or 1)
                if match.group(2) == "A":
                    row = max(0, row - count)
                elif match.group(2) == "K":
                    del rows[row][col:]
                i += len(match.group(0))
                continue
        if ch == "\n":
            row += 1
            col = 0
            while len(rows) <= row:
                rows.append([])
        elif ch == "\r":
            col = 0
        else:
            line = rows[row]
            if col >= len(line):
                line.extend(" " * (col - len(line) + 1))
            line[col] = ch
            col += 1
        i += 1
    return ["".join(r).rstrip() for r in rows]


def test_in_a_terminal_each_epoch_ends_as_one_bar_with_train_and_val_metrics(tmp_path):
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    args = ["train", "logger=csv", "trainer.max_epochs=2", "trainer.limit_train_batches=3"]
    args += ["trainer.limit_val_batches=2", "trainer.limit_test_batches=1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gauntlet", *args, f"paths.log_dir={tmp_path}"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=tmp_path,
    )
    os.close(slave)
    raw = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            raw += chunk
        elif process.poll() is not None:
            break
    assert process.wait(timeout=600) == 0, raw.decode(errors="replace")[-3000:]
    shown = screen(raw.decode(errors="replace").replace("\r\n", "\n"))
    for epoch in (0, 1):
        bars = [line for line in shown if line.startswith(f"Epoch {epoch}: ")]
        assert len(bars) == 1, shown  # one bar per epoch, left when it ends
        assert re.search(r"100%.*train/loss=\S+, train/acc=\S+, val/loss=\S+, val/acc=", bars[0])
    assert not [line for line in shown if line.startswith(("Training", "Validation"))]
    # the bar says what the module's epoch line would: that line stays in train.log
    assert not [line for line in shown if "][gauntlet.models.module][INFO] epoch" in line]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "epoch 1: train/loss=" in (run_dir / "train.log").read_text()


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


# a signal handler that logs while the main thread is writing a log line, as SLURM's SIGCONT and
# SIGTERM do to a job (submitit's and Lightning's handlers both log)
_SIGNALS_WHILE_LOGGING = """
import logging, signal, sys
from gauntlet.console import FileHandler, StreamHandler
log = logging.getLogger("job")
log.setLevel(logging.INFO)
log.addHandler(FileHandler(sys.argv[1], mode="w"))
log.addHandler(StreamHandler(sys.stdout))
signal.signal(signal.SIGALRM, lambda signum, frame: log.info("from the signal handler"))
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
for _ in range(5000):
    log.info("x" * 2000)
signal.setitimer(signal.ITIMER_REAL, 0)
"""


def test_a_signal_handler_that_logs_during_a_write_loses_no_line_and_prints_no_traceback(
    tmp_path,
):
    log_file = tmp_path / "train.log"
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNALS_WHILE_LOGGING, str(log_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Logging error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[
        -2000:
    ]
    written = log_file.read_text().splitlines()
    signalled = written.count("from the signal handler")
    assert written.count("x" * 2000) == 5000 and signalled > 0
    # the console got the same lines as the file
    assert proc.stdout.splitlines().count("from the signal handler") == signalled
