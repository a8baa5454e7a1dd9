"""A study's plan and results in the store, and a study reported from the store on another
machine: another log directory, the team's database, none of the run directories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gauntlet.leaderboard.store import Leaderboard
from gauntlet.leaderboard.studies import plan_hash

REPO = Path(__file__).resolve().parents[1]
STUDY = """
name: pair
base: digits_cnn
overrides:
  - trainer.max_epochs=1
  - trainer.limit_train_batches=2
  - trainer.limit_val_batches=1
  - trainer.limit_test_batches=1
  - logger=csv
grid:
  model.net.hidden: [8, 16]
seeds: [1, 2]
metrics: [test/acc]
claims:
  - {name: accuracy is a probability, metric: test/acc, op: "<=", value: 1.0}
  - {name: impossible accuracy, metric: test/acc, op: ">", value: 1.0}
"""


def study(*args: str, log_dir: Path, url: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", "study", *args, "--log-dir", str(log_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )


def test_the_plan_hash_leaves_out_where_runs_were_placed() -> None:
    here = [["study=pair", "paths.log_dir=/home/ann/logs", "launcher=joblib", "seed=1"]]
    there = [["study=pair", "paths.log_dir=/scratch/bo/logs", "seed=1"]]
    assert plan_hash(here) == plan_hash(there)
    assert plan_hash(here) != plan_hash([["study=pair", "seed=2"]])


@pytest.mark.slow
def test_a_study_is_reported_from_the_store_on_a_machine_without_its_runs(tmp_path) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(textwrap.dedent(STUDY))
    log_dir = tmp_path / "logs"
    first = study(str(path), log_dir=log_dir)
    assert first.returncode == 1, first.stdout + first.stderr  # the impossible claim fails
    with Leaderboard.open(f"sqlite:///{log_dir / 'leaderboard.db'}") as board:
        (stored,) = board.studies("pair")
    verdicts = {c["name"]: c["verdict"] for c in stored["results"]["claims"]}
    assert verdicts == {"accuracy is a probability": "PASS", "impossible accuracy": "FAIL"}
    assert stored["settings"]["level"] == 0.05 and len(stored["plan"]["runs"]) == 4
    assert stored["results"]["cells"] and stored["results"]["claims"][0]["details"]

    shared = tmp_path / "team.db"  # the team's store, as the other machine reaches it
    shutil.copy(log_dir / "leaderboard.db", shared)
    shutil.rmtree(log_dir)  # no run directory anywhere
    laptop = tmp_path / "laptop"
    again = study(str(path), "--report-only", log_dir=laptop, url=f"sqlite:///{shared}")
    assert again.returncode == 1, again.stdout + again.stderr
    assert "4 of 4 completed" in again.stdout
    report = json.loads((laptop / "studies" / "pair" / "results.json").read_text())
    assert {c["name"]: c["verdict"] for c in report["claims"]} == verdicts
    with Leaderboard.open(f"sqlite:///{shared}") as board:
        (record,) = board.studies("pair")  # the same plan: its record replaced, not doubled
    assert record["plan_hash"] == stored["plan_hash"] and record["host"]
