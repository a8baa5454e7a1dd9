"""`gauntlet diff`: what differs between real runs, in a table, Markdown and JSON."""

from __future__ import annotations

import json
import shutil

import pytest

from gauntlet.cli import main

DETERMINISTIC = ("trainer.deterministic=true", "logger=csv")


@pytest.fixture
def runs(train):
    a, a_dir = train(*DETERMINISTIC, name="a")
    b, b_dir = train(*DETERMINISTIC, "model.net.hidden=16", name="b")
    c, c_dir = train(*DETERMINISTIC, name="c")
    assert {a["status"], b["status"], c["status"]} == {"completed"}
    return (a, a_dir), (b, b_dir), (c, c_dir)


def diff_json(capsys, *args) -> dict:
    assert main(["diff", *map(str, args), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_diff_of_runs_that_differ_in_one_key_in_packages_and_in_nothing(runs, tmp_path, capsys):
    (a, a_dir), (b, b_dir), (_, c_dir) = runs

    one_key = diff_json(capsys, a_dir, b_dir)
    assert one_key["runs"] == [a["run_id"], b["run_id"]]
    config = {d["key"]: d["values"] for d in one_key["differences"]["config"]}
    assert config == {"model.net.hidden": [32, 16]}
    assert one_key["differences"]["overrides"] == [
        {"key": "model.net.hidden", "values": [None, "16"]}
    ]
    assert "code" not in one_key["differences"] and "packages" not in one_key["differences"]
    # the narrower network's metrics differ, each beside its difference from the first run
    metrics = {d["key"]: d for d in one_key["differences"]["metrics"]}
    assert "test/loss" in metrics
    loss = metrics["test/loss"]
    assert loss["deltas"][1] == pytest.approx(loss["values"][1] - loss["values"][0])
    assert not any(key.startswith("perf/") for key in metrics)  # timings left out

    # the same command twice on CPU, deterministic: nothing differs
    same = diff_json(capsys, a_dir, c_dir)
    assert same["same"] is True and same["differences"] == {}
    assert main(["diff", str(a_dir), str(c_dir), "--format", "md"]) == 0
    assert "do not differ" in capsys.readouterr().out

    # a copy of a run made with another torch: only the package shows
    other = tmp_path / "other_torch"
    shutil.copytree(a_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["packages"]["torch"] = "2.0.0"
    manifest["run_id"] = "other-torch"
    (other / "manifest.json").write_text(json.dumps(manifest))
    packages = diff_json(capsys, a_dir, other)
    assert list(packages["differences"]) == ["packages"]
    (torch,) = packages["differences"]["packages"]
    assert torch["key"] == "torch" and torch["values"][1] == "2.0.0"


def test_diff_table_by_run_id_shows_whole_run_ids(runs, tmp_path, capsys):
    (a, _), (b, _), (c, _) = runs
    assert main(["diff", a["run_id"], b["run_id"], c["run_id"], "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for run_id in (a["run_id"], b["run_id"], c["run_id"]):
        assert run_id in out
    assert "model.net.hidden" in out and "16" in out


def test_diff_needs_two_runs_that_exist(tmp_path, capsys):
    assert main(["diff", str(tmp_path)]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main(["diff", "nope-1", "nope-2", "--log-dir", str(tmp_path)]) == 2
    assert "nope-1" in capsys.readouterr().err
