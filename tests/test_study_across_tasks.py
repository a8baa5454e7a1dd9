"""Comparisons across tasks (IQM, probability of improvement, performance profiles) on known
numbers, through the study's claims and report."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from gauntlet.errors import GauntletError
from gauntlet.study.across_tasks import iqm, prob_improvement, profile
from gauntlet.study.claims import FAIL, INCONCLUSIVE, PASS, evaluate
from gauntlet.study.spec import load_study

HEAD = """
name: tasks
grid:
  arch: [a, b]
seeds: [1, 2, 3, 4]
across_tasks:
  task: data
  normalise:
    easy: {low: 0.5, high: 1.0}
    hard: {low: 0.0, high: 0.5}
  models: {a: {arch: a}, b: {arch: b}}
claims:
"""


def study_with(tmp_path, claims: str):
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(HEAD) + textwrap.indent(textwrap.dedent(claims), "  "))
    return load_study(path)


def rows(values: dict[tuple[str, str], list[float]]) -> list[dict]:
    """Runs as the runner labels them: arch (the axis), data (a run key), seed, test/acc."""
    return [
        {
            "arch": arch,
            "data": data,
            "seed": seed,
            "cell": f"arch={arch}",
            "metrics": {"test/acc": v},
        }
        for (arch, data), series in values.items()
        for seed, v in enumerate(series, start=1)
    ]


def test_iqm_and_probability_of_improvement_match_a_hand_computation():
    # pooled 0.1 .. 0.8: the middle half is 0.3, 0.4, 0.5, 0.6
    assert iqm([np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.5, 0.6, 0.7, 0.8])]) == pytest.approx(
        0.45
    )
    # task 1: 0.9 beats 3, 0.8 beats 2, 0.7 beats 1 and ties 1: 6.5 of 9; task 2: 0 of 4
    left = [np.array([0.9, 0.8, 0.7]), np.array([0.5, 0.6])]
    right = [np.array([0.85, 0.6, 0.7]), np.array([0.7, 0.8])]
    assert prob_improvement(left, right) == pytest.approx((6.5 / 9 + 0) / 2)
    taus = np.array([0.0, 0.55, 0.9])
    # 0.9, 0.8, 0.7 and 0.6 of the five runs lie above 0.55
    assert profile(left, taus).tolist() == pytest.approx([1.0, 0.8, 0.0])


IQM_CLAIM = """
- {name: a is best across tasks, kind: iqm, metric: test/acc, where: {arch: a}, op: ">", than: {where: {arch: b}}}
- {name: a beats b more often than not, kind: prob_improvement, metric: test/acc, where: {arch: a}, op: ">", than: {where: {arch: b}}}
"""


def test_claims_across_tasks_normalise_per_task_and_get_verdicts(tmp_path):
    study = study_with(tmp_path, IQM_CLAIM)
    data = {
        ("a", "easy"): [0.95, 0.96, 0.94, 0.97],
        ("a", "hard"): [0.40, 0.42, 0.41, 0.39],
        ("b", "easy"): [0.80, 0.82, 0.81, 0.79],
        ("b", "hard"): [0.20, 0.22, 0.21, 0.19],
    }
    claims = {c.name: c for c in evaluate(study, rows(data))}
    best = claims["a is best across tasks"]
    assert best.verdict == PASS
    # normalised: a easy 0.88..0.94, a hard 0.78..0.84; b easy 0.58..0.64, b hard 0.38..0.44
    a = np.concatenate(
        [(np.array(data["a", "easy"]) - 0.5) / 0.5, np.array(data["a", "hard"]) / 0.5]
    )
    b = np.concatenate(
        [(np.array(data["b", "easy"]) - 0.5) / 0.5, np.array(data["b", "hard"]) / 0.5]
    )
    expected = np.mean(np.sort(a)[2:6]) - np.mean(np.sort(b)[2:6])
    assert best.details["difference"] == pytest.approx(expected)
    low, high = best.details["ci"]
    assert low <= expected <= high
    assert best.details["test"] == "stratified bootstrap over 2 tasks"
    assert best.details["runs_per_task"]["left"] == {"easy": 4, "hard": 4}
    more = claims["a beats b more often than not"]
    assert more.verdict == PASS
    assert more.details["difference"] == pytest.approx(0.5)  # P = 1, against 0.5
    assert more.details["ci"] == [pytest.approx(0.5), pytest.approx(0.5)]


def test_the_bootstrap_resamples_seeds_within_each_task(tmp_path):
    # a's scores are 0 in one task and 1 in the other: resampling within tasks keeps four of
    # each, so every replicate's IQM is 0.5; resampling across tasks would not
    study = study_with(
        tmp_path,
        "- {name: a at half, kind: iqm, metric: test/acc, where: {arch: a}, op: '~=', value: 0.5, tol: 0.01}\n",
    )
    data = {("a", "easy"): [0.5, 0.5, 0.5, 0.5], ("a", "hard"): [0.5, 0.5, 0.5, 0.5]}
    (claim,) = evaluate(study, rows(data))
    assert claim.details["ci"] == [pytest.approx(0.0), pytest.approx(0.0)]
    assert claim.verdict == PASS


def test_a_reversed_probability_fails_and_noise_is_inconclusive(tmp_path):
    study = study_with(tmp_path, IQM_CLAIM)
    reversed_ = {
        ("a", "easy"): [0.70, 0.71, 0.72, 0.73],
        ("a", "hard"): [0.10, 0.11, 0.12, 0.13],
        ("b", "easy"): [0.90, 0.91, 0.92, 0.93],
        ("b", "hard"): [0.30, 0.31, 0.32, 0.33],
    }
    verdicts = {c.name: c.verdict for c in evaluate(study, rows(reversed_))}
    assert set(verdicts.values()) == {FAIL}
    noise = {
        ("a", "easy"): [0.80, 0.90, 0.70, 0.85],
        ("a", "hard"): [0.20, 0.30, 0.25, 0.10],
        ("b", "easy"): [0.85, 0.75, 0.90, 0.80],
        ("b", "hard"): [0.25, 0.15, 0.30, 0.20],
    }
    verdicts = {c.name: c.verdict for c in evaluate(study, rows(noise))}
    assert set(verdicts.values()) == {INCONCLUSIVE}


def test_a_reference_run_can_set_a_tasks_high_score(tmp_path):
    path = tmp_path / "ref.yaml"
    path.write_text(
        textwrap.dedent(HEAD).replace(
            "hard: {low: 0.0, high: 0.5}", "hard: {low: 0.0, high: {where: {arch: b}}}"
        )
        + "  - {name: b is its own reference, kind: iqm, metric: test/acc, where: {arch: b, data: hard}, op: '>', value: 0.5}\n"
    )
    with pytest.raises(GauntletError, match="data is the task key; the claim spans the tasks"):
        load_study(path)
    path.write_text(
        textwrap.dedent(HEAD).replace(
            "hard: {low: 0.0, high: 0.5}", "hard: {low: 0.0, high: {where: {arch: b}}}"
        )
        + "  - {name: a reaches b, kind: iqm, metric: test/acc, where: {arch: a}, op: '>', value: 0.5}\n"
    )
    study = load_study(path)
    data = {
        ("a", "easy"): [0.95, 0.96, 0.94, 0.97],
        ("a", "hard"): [0.40, 0.42, 0.41, 0.39],
        ("b", "easy"): [0.80, 0.82, 0.81, 0.79],
        ("b", "hard"): [0.20, 0.22, 0.21, 0.18],
    }
    (claim,) = evaluate(study, rows(data))
    assert claim.details["tasks"]["hard"] == {"low": 0.0, "high": pytest.approx(0.2025)}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (
            "- {name: x, kind: iqm, metric: test/acc, op: '>', value: 0.5}\n",
            "claims\\[0\\].kind: iqm compares across tasks; declare across_tasks:",
        ),
        (
            "- {name: x, kind: median, metric: test/acc, op: '>', value: 0.5}\n",
            "claims\\[0\\].kind: expected iqm or prob_improvement",
        ),
    ],
)
def test_bad_across_task_claims_name_the_key(tmp_path, claims, message):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nseeds: [1, 2]\nclaims:\n" + textwrap.indent(claims, "  "))
    with pytest.raises(GauntletError, match=message):
        load_study(path)


def test_bad_normalisation_names_the_task(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nseeds: [1, 2]\nacross_tasks: {task: data, normalise: {digits: {low: 1, high: 1}}}\n"
    )
    with pytest.raises(
        GauntletError, match=r"across_tasks\.normalise\.digits\.high: expected a number"
    ):
        load_study(path)


def test_the_report_draws_performance_profiles_and_tabulates_the_iqm(tmp_path):
    from gauntlet.study.report import write_report
    from gauntlet.study.runner import Job, StudyRun

    study = study_with(tmp_path, IQM_CLAIM)
    data = {
        ("a", "easy"): [0.95, 0.96, 0.94, 0.97],
        ("a", "hard"): [0.40, 0.42, 0.41, 0.39],
        ("b", "easy"): [0.80, 0.82, 0.81, 0.79],
        ("b", "hard"): [0.20, 0.22, 0.21, 0.19],
    }
    labelled = rows(data)
    cells = study.cells()
    jobs = [Job(cell, i, (), ()) for i, cell in enumerate(c for c in cells for _ in range(8))]
    result = StudyRun(study=study, quick=False, jobs=jobs)
    by_arch = {
        "a": [r for r in labelled if r["arch"] == "a"],
        "b": [r for r in labelled if r["arch"] == "b"],
    }
    for index, job in enumerate(jobs):
        row = by_arch[job.cell.labels["arch"]][index % 8]
        result.completed[index] = {**row, "run_id": f"r{index}", "status": "completed"}
    claims = evaluate(study, result.labelled_rows())
    written = write_report(result, claims, tmp_path / "out", "gauntlet study tasks.yaml")
    assert written["performance_profile"].stat().st_size > 1000
    report = written["report.md"].read_text()
    assert (
        "## Across tasks" in report and "![performance profiles](performance_profile.png)" in report
    )
    payload = json.loads(written["results.json"].read_text())
    a = next(e for e in payload["across_tasks"] if e["model"] == "a")
    assert a["runs"] == {"easy": 4, "hard": 4}
    assert a["ci"][0] <= a["iqm"] <= a["ci"][1]
