"""Running ``gauntlet`` the way a user does, for the fault, secret and bad-value tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# one epoch of a few batches
QUICK = [
    "logger=csv",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
]


def cli(*args: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """``gauntlet ARGS`` in this process: (exit code, what it printed)."""
    from gauntlet.cli import main

    argv = sys.argv
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "WANDB_MODE": "offline",
        "GAUNTLET_LEADERBOARD_URL": "",
        "GAUNTLET_NUM_THREADS": "1",
        **extra,
    }


def spawn(*args: str, **extra_env: str) -> subprocess.Popen:
    """``gauntlet ARGS`` as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet", *args],
        env=env(**extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def row(url: str, run_id: str) -> dict | None:
    from gauntlet.leaderboard.store import Leaderboard

    with Leaderboard.open(url, settle=False) as board:
        return board.get(run_id)


def sqlite(path: Path) -> str:
    return f"sqlite:///{path}"
