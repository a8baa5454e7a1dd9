"""No metric lost on any stop: a signal at each phase of a run, then ``resume=``.

A callback (``tests/stop_at.py``) sends the run's own process SIGTERM or SIGINT at one phase:
Lightning's set-up, the first epoch, mid-training, validation, test, and after test (before the
robustness evaluation and the final record). The stopped run must exit 143 or 130, print how to
continue as its last line, and keep in its manifest every metric its ``metrics.csv`` holds; the
resumed run ends ``completed`` with every metric of both parts merged.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

RUN = [
    "logger=csv",
    "data=digits",
    "model=cnn",
    "model.net.hidden=8",
    "trainer.max_epochs=4",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "robust=fgsm",
    "robust.eps=[0.0,0.1]",
    "robust.batch_size=64",
]
CODES = {"SIGTERM": 143, "SIGINT": 130}
# phases after which last.ckpt exists, so the run can be continued
RESUMABLE = ("mid_training", "validation", "test", "robust")


def gauntlet(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "GAUNTLET_LEADERBOARD_URL": "",
        "GAUNTLET_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "gauntlet", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        # the run gets the terminal's SIGINT even where the suite's shell ignores it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return done.returncode, done.stdout, done.stderr


def logged(run_dir: Path) -> set[str]:
    """Every metric name with a value in the run's metrics.csv."""
    names: set[str] = set()
    for path in run_dir.rglob("metrics.csv"):
        with path.open() as f:
            for row in csv.DictReader(f):
                names |= {k for k, v in row.items() if v not in ("", None)}
    return names - {"epoch", "step"}


def stop_and_resume(tmp_path: Path, phase: str, signum: str) -> None:
    run_dir = tmp_path / "run"
    code, out, err = gauntlet(
        "train",
        *RUN,
        "+callbacks.stop._target_=stop_at.SignalAt",
        f"+callbacks.stop.phase={phase}",
        f"+callbacks.stop.signum={signum}",
        f"+callbacks.stop.once_file={tmp_path / 'signalled'}",
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={tmp_path}",
        cwd=tmp_path,
    )
    assert (tmp_path / "signalled").is_file(), out + err
    assert code == CODES[signum], out + err
    last_line = [line for line in (out + err).splitlines() if line.strip()][-1]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    kept = set(manifest["metrics"])
    assert logged(run_dir) <= kept, logged(run_dir) - kept
    if phase not in RESUMABLE:
        assert last_line == "it had not saved a checkpoint yet, so start it again"
        return
    assert last_line == f"continue it with: gauntlet train resume={run_dir}"
    assert {"val/acc", "train/loss", "val/acc_best", "epochs_trained"} <= kept

    code, out, err = gauntlet("train", f"resume={run_dir}", cwd=tmp_path)
    assert code == 0, out + err
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    final = set(manifest["metrics"])
    assert kept <= final, kept - final
    assert logged(run_dir) <= final, logged(run_dir) - final
    wanted = {"val/acc_best", "best_epoch", "epochs_trained", "test/acc", "robust/acc@0.1"}
    assert {m for m in wanted if m != "robust/acc@0.1"} <= final
    assert any(m.startswith("robust/") for m in final), final
    assert any(m.startswith("gap/") for m in final) and any(m.startswith("train/") for m in final)


def test_sigterm_mid_training_keeps_every_metric_and_resume_merges_them(tmp_path):
    stop_and_resume(tmp_path, "mid_training", "SIGTERM")


@pytest.mark.slow
@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize(
    "phase", ["setup", "first_epoch", "mid_training", "validation", "test", "robust"]
)
def test_a_signal_at_any_phase_keeps_every_metric_and_resume_merges_them(tmp_path, phase, signum):
    if (phase, signum) == ("mid_training", "SIGTERM"):
        pytest.skip("the fast test above")
    stop_and_resume(tmp_path, phase, signum)
