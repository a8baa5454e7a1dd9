"""The leaderboard's default views: completed full runs, a sweep's trials named after it,
records that load into pandas, run ids never cut."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.formats import rich_table
from gauntlet.leaderboard.report import Report
from gauntlet.leaderboard.store import Leaderboard
from gauntlet.run.labels import unnamed_sweep

REPO = Path(__file__).resolve().parents[1]


def board_json(capsys, log_dir: Path, *args: str) -> list[dict]:
    assert main(["--log-dir", str(log_dir), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_default_view_leaves_out_failed_and_smoke_runs(train, tmp_path, capsys):
    smoke, _ = train(name="smoke")  # a few batches of one epoch, marked when it starts
    assert "trainer.limit_train_batches=3" in smoke["smoke"]
    # the same run had it seen whole splits, and one that failed
    trainer = {**smoke["config"]["trainer"]}
    trainer.update(limit_train_batches=1.0, limit_val_batches=1.0, limit_test_batches=1.0)
    full = {
        **smoke,
        "run_id": "full",
        "smoke": [],
        "config": {**smoke["config"], "trainer": trainer},
    }
    with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
        board.upsert(full)
        board.upsert({**full, "run_id": "broken", "status": "failed", "metrics": {}})

    shown = board_json(capsys, tmp_path, "--runs")
    assert [run["run_id"] for run in shown] == [full["run_id"]]
    everything = board_json(capsys, tmp_path, "--runs", "--all")
    assert {run["run_id"] for run in everything} == {full["run_id"], smoke["run_id"], "broken"}
    marked = {run["run_id"]: run["smoke"] for run in everything}
    assert marked[smoke["run_id"]] and not marked[full["run_id"]]
    failed = board_json(capsys, tmp_path, "--runs", "--status", "failed")
    assert [run["run_id"] for run in failed] == ["broken"]

    assert main(["--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not shown: 1 failed, 1 smoke" in out


@pytest.mark.slow
def test_a_sweeps_runs_group_under_the_sweep(tmp_path, capsys):
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    fast = [
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "logger=csv",
        f"paths.log_dir={tmp_path}",
    ]
    for command in (["-m", "seed=1,2", *fast], fast):
        done = subprocess.run(
            [sys.executable, "-m", "gauntlet", "train", *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    (sweep_dir,) = (tmp_path / "multiruns").iterdir()
    manifests = [json.loads(p.read_text()) for p in sweep_dir.glob("*/manifest.json")]
    name = unnamed_sweep(manifests[0]["experiment"], sweep_dir.name)
    experiment = manifests[0]["experiment"]  # as the run names it (<data>_<model>)
    assert name.startswith(f"{experiment}-20") and len(name) == len(f"{experiment}-20261205-101500")
    assert [m["sweep"] for m in manifests] == [name] * 2

    groups = board_json(capsys, tmp_path, "--all", "--group-by", "sweep")
    by_sweep = {group.get("sweep"): group for group in groups}
    assert by_sweep[name]["runs"] == 2
    assert by_sweep[None]["runs"] == 1  # the single run is no part of the sweep
    # all three trained the same thing with three seeds: one group by default
    (group,) = board_json(capsys, tmp_path, "--all")
    assert group["runs"] == 3


def test_json_records_load_into_pandas(capsys, tmp_path):
    pandas = pytest.importorskip("pandas")
    with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
        for seed, acc in ((1, 0.9), (2, 0.8)):
            board.upsert(
                {
                    "run_id": f"r{seed}",
                    "status": "completed",
                    "experiment": "e",
                    "model": "cnn",
                    "data": "digits",
                    "seed": seed,
                    "metrics": {"test/acc": acc},
                }
            )
    assert main(["--log-dir", str(tmp_path), "--format", "json"]) == 0
    frame = pandas.read_json(io.StringIO(capsys.readouterr().out))
    assert frame.loc[0, "test/acc.mean"] == pytest.approx(0.85)
    assert main(["--log-dir", str(tmp_path), "--format", "jsonl", "--runs"]) == 0
    runs = pandas.read_json(io.StringIO(capsys.readouterr().out), lines=True)
    assert sorted(runs["run_id"]) == ["r1", "r2"]


def test_run_ids_are_never_cut_and_keys_read_plainly():
    run_id = "20261202-101010-abcdef"
    runs = [
        {
            "run_id": run_id,
            "status": "completed",
            "experiment": "a_rather_long_experiment_name",
            "model": "transformer",
            "data": "fashion_mnist",
            "seed": 1,
            "config": {"model": {"net": {"dropout": 0.1 + 0.2}}},
            "metrics": {"test/acc": 0.91},
        }
    ]
    report = Report(runs, ["test/acc"], ["model.net.dropout"], kind="runs")
    for width in (40, 60, 200):
        buffer = io.StringIO()
        Console(file=buffer, width=width, color_system=None).print(rich_table(report))
        assert run_id in buffer.getvalue(), width
    assert "0.3" in buffer.getvalue() and "0.30000000000000004" not in buffer.getvalue()


def test_an_unknown_output_suffix_is_refused(tmp_path, capsys):
    with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
        board.upsert({"run_id": "r1", "status": "completed", "metrics": {"test/acc": 0.9}})
    code = main(["--log-dir", str(tmp_path), "--output", str(tmp_path / "board.xlsx")])
    assert code != 0
    err = capsys.readouterr().err
    assert ".xlsx is not a format" in err and "*.csv" in err
    assert not (tmp_path / "board.xlsx").exists()
