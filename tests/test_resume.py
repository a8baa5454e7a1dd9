"""Exact resume: a run killed with SIGKILL and resumed ends with the metrics of one never stopped."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gauntlet.callbacks.rng_state import capture_rng, restore_rng

# deterministic, with dropout so that the RNG state matters, 4 epochs of 4 batches
RUN = [
    "logger=csv",
    "trainer.max_epochs=4",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.deterministic=true",
    "model.net.dropout=0.3",
]


def _as_at_a_terminal() -> None:
    # Ctrl-C reaches the run as it does at a terminal, even when these tests were started by a
    # shell that ignores SIGINT for its background jobs (the run would inherit that)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def gauntlet(*args: str, log_dir: Path, **kwargs) -> subprocess.Popen:
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "GAUNTLET_LEADERBOARD_URL": "",
        "GAUNTLET_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet", "train", *args, f"paths.log_dir={log_dir}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_at_a_terminal,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def compared(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if not k.startswith("perf/")}


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def board_rows(log_dir: Path) -> dict[str, dict]:
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    with Leaderboard.open(resolve_url(None, log_dir)) as board:
        return {row["run_id"]: row for row in board.runs()}


def start_until_first_checkpoint(run_dir: Path, log_dir: Path, *args: str) -> subprocess.Popen:
    """Start ``gauntlet train ARGS`` in ``run_dir``; return once its first last.ckpt exists."""
    proc = gauntlet(*args, f"hydra.run.dir={run_dir}", log_dir=log_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not last.is_file():
        assert proc.poll() is None, f"the run ended before its first checkpoint: {finish(proc)}"
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.02)
    return proc


def kill_after_first_epoch(run_dir: Path, log_dir: Path, *extra: str) -> None:
    """Start the run and SIGKILL it as soon as its first last.ckpt exists."""
    proc = start_until_first_checkpoint(run_dir, log_dir, *RUN, *extra)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    log_dir = tmp_path_factory.mktemp("uninterrupted")
    code, output = finish(gauntlet(*RUN, f"hydra.run.dir={log_dir / 'run'}", log_dir=log_dir))
    assert code == 0, output
    return manifest(log_dir / "run")


def test_rng_states_round_trip_through_a_checkpoint_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    torch.save({"rng": capture_rng()}, tmp_path / "state.ckpt")
    first = (random.random(), np.random.rand(), torch.rand(3).tolist())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng(torch.load(tmp_path / "state.ckpt", weights_only=True)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(3).tolist()) == first


@pytest.mark.slow
def test_killed_run_resumed_with_resume_equals_uninterrupted_run(tmp_path, uninterrupted):
    run_dir = tmp_path / "killed"
    kill_after_first_epoch(run_dir, tmp_path)
    killed = manifest(run_dir)
    assert killed["status"] == "running"  # the process died: nothing marked it
    # the next look at the leaderboard finds its process gone, and says so in row and manifest
    assert board_rows(tmp_path)[killed["run_id"]]["status"] == "lost"
    assert manifest(run_dir)["status"] == "lost"

    code, output = finish(gauntlet(f"resume={run_dir}", log_dir=tmp_path))
    assert code == 0, output

    resumed = manifest(run_dir)
    assert resumed["run_id"] == killed["run_id"]
    assert resumed["status"] == "completed"
    assert [r["previous_status"] for r in resumed["resumes"]] == ["lost"]
    assert resumed["resumes"][0]["checkpoint"] == str(run_dir / "checkpoints" / "last.ckpt")
    assert compared(resumed["metrics"]) == compared(uninterrupted["metrics"])
    assert len(compared(resumed["metrics"])) >= 8
    rows = board_rows(tmp_path)
    assert list(rows) == [killed["run_id"]]  # the same row, updated
    assert rows[killed["run_id"]]["status"] == "completed"
    assert rows[killed["run_id"]]["metrics"]["test/acc"] == uninterrupted["metrics"]["test/acc"]


@pytest.mark.slow
def test_killed_run_rerun_with_ckpt_path_last_equals_uninterrupted_run(tmp_path, uninterrupted):
    run_dir = tmp_path / "killed"
    kill_after_first_epoch(run_dir, tmp_path)
    run_id = manifest(run_dir)["run_id"]

    code, output = finish(
        gauntlet(*RUN, "ckpt_path=last", f"hydra.run.dir={run_dir}", log_dir=tmp_path)
    )
    assert code == 0, output

    resumed = manifest(run_dir)
    assert (resumed["run_id"], resumed["status"]) == (run_id, "completed")
    assert resumed["resumes"][0]["changed"] == []
    assert compared(resumed["metrics"]) == compared(uninterrupted["metrics"])
    assert board_rows(tmp_path)[run_id]["status"] == "completed"


def test_resume_refuses_overrides_that_change_the_run(train, tmp_path, capsys, monkeypatch):
    from gauntlet.cli import main

    _, run_dir = train("trainer.max_epochs=1")
    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    with pytest.raises(SystemExit) as exit_:
        main(["train", f"resume={run_dir}", "model.net.hidden=8", f"paths.log_dir={tmp_path}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "cannot apply model.net.hidden=8" in err
    assert "trainer.max_epochs" in err  # the keys that are allowed
    assert f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}" in err


def test_resume_of_a_directory_without_a_run_names_it(tmp_path, capsys, monkeypatch):
    from gauntlet.cli import main

    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    with pytest.raises(SystemExit) as exit_:
        main(["train", f"resume={tmp_path / 'nowhere'}", f"paths.log_dir={tmp_path}"])
    assert exit_.value.code == 2
    assert f"no run manifest at {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_a_resumed_run_keeps_the_metrics_it_logged_before(train, tmp_path, monkeypatch):
    """Lightning's CSV writer deletes an existing metrics.csv; gauntlet's continues it."""
    import csv

    from gauntlet.cli import main

    def rows(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
        with (run_dir / "metrics.csv").open(newline="") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)

    _, run_dir = train("trainer.max_epochs=1", "test=false")
    header, before = rows(run_dir)
    # per-epoch rows, and one summary row (best epoch, epochs trained) without an epoch
    assert {r["epoch"] for r in before} == {"0", ""}
    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    main(["train", f"resume={run_dir}", "trainer.max_epochs=2", f"paths.log_dir={tmp_path}"])
    header_after, after = rows(run_dir)
    assert {r["epoch"] for r in after} == {"0", "1", ""}
    assert set(header) <= set(header_after)
    # the first epoch's rows come through unchanged, and no row has more fields than the header
    assert [{k: r[k] for k in header} for r in after[: len(before)]] == before
    assert all(None not in r for r in after)


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        (signal.SIGTERM, 128 + signal.SIGTERM, "stopped by SIGTERM"),
        (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    ],
    ids=["sigterm", "ctrl-c"],
)
def test_a_stopped_run_says_so_exits_non_zero_and_resumes(tmp_path, signum, code, said):
    """Lightning turns SIGTERM into an exit with status 0 and Ctrl-C into 1; gauntlet exits
    143 (128 + SIGTERM) or 130 (Ctrl-C), leaves a failed manifest and leaderboard row that say
    how to continue, and prints that as its last line."""
    run_dir = tmp_path / "stopped"
    long_run = [o for o in RUN if not o.startswith("trainer.max_epochs=")]
    proc = start_until_first_checkpoint(run_dir, tmp_path, *long_run, "trainer.max_epochs=500")
    proc.send_signal(signum)
    returned, output = finish(proc)
    assert returned == code, output[-2000:]
    assert output.strip().splitlines()[-1] == f"continue it with: gauntlet train resume={run_dir}"
    stopped = manifest(run_dir)
    assert stopped["status"] == "failed"
    assert stopped["error"] == f"{said}; continue it with: gauntlet train resume={run_dir}"
    row = board_rows(tmp_path)[stopped["run_id"]]
    assert row["status"] == "failed" and row["error"] == stopped["error"]

    last = run_dir / "checkpoints" / "last.ckpt"
    done = torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1  # epochs saved
    returned, output = finish(
        gauntlet(f"resume={run_dir}", f"trainer.max_epochs={done + 1}", log_dir=tmp_path)
    )
    assert returned == 0, output[-2000:]
    assert manifest(run_dir)["status"] == "completed"
    assert board_rows(tmp_path)[stopped["run_id"]]["status"] == "completed"
