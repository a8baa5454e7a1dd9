"""`gauntlet reproduce`: re-runs a recorded run from its manifest and compares every metric."""

from __future__ import annotations

import json

import pytest

from gauntlet.cli import main

DETERMINISTIC = ("trainer.deterministic=true", "model.net.dropout=0.2")


@pytest.fixture
def recorded(train):
    manifest, run_dir = train(*DETERMINISTIC)
    assert manifest["status"] == "completed"
    return manifest, run_dir


def test_reproduce_passes_on_an_unchanged_run(recorded, tmp_path, capsys):
    manifest, run_dir = recorded
    out = tmp_path / "again"

    assert main(["reproduce", str(run_dir), "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "reproduced:" in printed
    assert "test/acc" in printed and "val/loss" in printed
    assert "perf/samples_per_s" in printed and "timing" in printed  # shown, not compared
    again = json.loads((out / "manifest.json").read_text())
    assert again["status"] == "completed"
    assert again["run_id"] != manifest["run_id"]
    assert again["reproduction_of"]["run_id"] == manifest["run_id"]
    for name, value in manifest["metrics"].items():
        if not name.startswith("perf/"):
            assert again["metrics"][name] == value, name
            assert again["comparison"][name] == "same"
    # the reproduction keeps out of the leaderboard unless --record
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    with Leaderboard.open(resolve_url(None, tmp_path)) as board:
        assert [r["run_id"] for r in board.runs()] == [manifest["run_id"]]


def test_reproduce_by_run_id_fails_naming_an_altered_metric(recorded, tmp_path, capsys):
    manifest, run_dir = recorded
    manifest["metrics"]["test/acc"] += 0.01
    (run_dir / "manifest.json").write_text(json.dumps(manifest))

    code = main(
        ["reproduce", manifest["run_id"], "--log-dir", str(tmp_path), "--out", str(tmp_path / "r")]
    )

    assert code == 1
    captured = capsys.readouterr()
    assert "test/acc differs" in captured.err
    assert "1 metric(s) differ: test/acc" in captured.err
    # gauntlet diff's comparison: nothing but the metric differs between the two runs
    assert "config, overrides, code, packages, data and machine are the same" in captured.err
    assert "MISMATCH" in captured.out


def test_reproduce_with_rtol_accepts_a_small_difference(recorded, tmp_path, capsys):
    manifest, run_dir = recorded
    manifest["metrics"]["val/loss"] *= 1 + 1e-6
    (run_dir / "manifest.json").write_text(json.dumps(manifest))

    code = main(["reproduce", str(run_dir), "--rtol", "1e-4", "--out", str(tmp_path / "r")])

    assert code == 0, capsys.readouterr().err
    assert "within rtol 0.0001" in capsys.readouterr().out


def test_reproduce_an_unknown_run_says_so(tmp_path, capsys):
    assert main(["reproduce", "no-such-run", "--log-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'no-such-run'" in err
