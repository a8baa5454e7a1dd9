"""A study that varies one source of randomness at a time, and the share of variance each takes,
on a synthetic case with a known answer and through the study's plan and report."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from gauntlet.errors import GauntletError
from gauntlet.study.runner import StudyRun, plan
from gauntlet.study.spec import load_study
from gauntlet.study.statistics import Settings
from gauntlet.study.variance import shares

VARY = """
name: var
base: digits_cnn
grid:
  arch: [cnn]
seeds: [1, 2, 3]
vary: [split, init, [order, augment]]
metrics: [test/acc]
"""


def test_shares_recover_known_variances():
    # standard deviations 2, 1 and 1: the shares are 4/6, 1/6, 1/6
    rng = np.random.default_rng(0)
    values = {
        "split": rng.normal(0.5, 2.0, 400),
        "init": rng.normal(0.5, 1.0, 400),
        "order": rng.normal(0.5, 1.0, 400),
    }
    got = {s["source"]: s for s in shares(values, Settings(resamples=999))}
    for source, truth in {"split": 4 / 6, "init": 1 / 6, "order": 1 / 6}.items():
        low, high = got[source]["share_ci"]
        assert low <= truth <= high, (source, got[source])
        assert got[source]["share"] == pytest.approx(truth, abs=0.05)
    assert got["split"]["ci"][0] <= 4.0 <= got["split"]["ci"][1]
    assert sum(s["share"] for s in got.values()) == pytest.approx(1.0)


def test_a_source_without_spread_takes_no_share():
    got = {
        s["source"]: s
        for s in shares({"split": [0.9, 0.9, 0.9], "init": [0.8, 0.9, 1.0]}, Settings())
    }
    assert got["split"]["share"] == 0.0
    assert got["init"]["share"] == 1.0
    assert got["split"]["share_ci"] == [0.0, 0.0]


def test_vary_holds_the_other_sources_and_lets_its_own_follow_the_seed(tmp_path):
    path = tmp_path / "var.yaml"
    path.write_text(textwrap.dedent(VARY))
    study = load_study(path)
    jobs = plan(study, log_dir=tmp_path)
    assert [a.name for a in study.axes] == ["arch", "vary"]
    assert study.axis("vary").labels() == ["split", "init", "order+augment"]
    by_level = {}
    for job in jobs:
        by_level.setdefault(job.cell.labels["vary"], []).append(dict(job.settings))
    first = by_level["init"][0]
    assert first["seeds.init"] == "${seed}"
    assert (first["seeds.split"], first["seeds.order"], first["seeds.augment"]) == ("0",) * 3
    both = by_level["order+augment"][0]
    assert both["seeds.order"] == both["seeds.augment"] == "${seed}"
    assert len(jobs) == 9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("vary: [weights]\n", r"vary\[0\]: \['weights'\]: expected sources among split, init"),
        ("vary: [init]\nhold: 2\n", "hold: 2 is one of the seeds"),
        ("vary: [init, init]\n", "vary: groups repeat"),
    ],
)
def test_a_bad_vary_names_the_key(tmp_path, extra, message):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nseeds: [1, 2, 3]\n" + extra)
    with pytest.raises(GauntletError, match=message):
        load_study(path)


def test_the_report_gives_each_sources_share(tmp_path):
    from gauntlet.study.report import write_report

    path = tmp_path / "var.yaml"
    path.write_text(textwrap.dedent(VARY))
    study = load_study(path)
    jobs = plan(study, log_dir=tmp_path)
    result = StudyRun(study=study, quick=False, jobs=jobs)
    spread = {"split": 0.04, "init": 0.01, "order+augment": 0.0}
    for index, job in enumerate(jobs):
        level = job.cell.labels["vary"]
        value = 0.9 + spread[level] * (job.seed - 2)
        result.completed[index] = {
            "run_id": f"r{index}",
            "seed": job.seed,
            "status": "completed",
            "metrics": {"test/acc": value},
        }
    written = write_report(result, [], tmp_path / "out", "gauntlet study var.yaml")
    report = written["report.md"].read_text()
    assert "## Where the variance comes from" in report
    # variances 0.0016 and 0.0001 (and 0): shares 94% and 6%
    assert "| arch=cnn | test/acc | split | 3 | 0.0400 | 0.0016 | 94% |" in report
    assert "| arch=cnn | test/acc | init | 3 | 0.0100 | 0.0001 | 6% |" in report
    payload = json.loads(written["results.json"].read_text())
    (item,) = payload["variance"]
    assert [s["source"] for s in item["sources"]] == ["split", "init", "order+augment"]
