"""Claims judged with statistics over seeds, on known numbers, through the study machinery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gauntlet.errors import GauntletError
from gauntlet.study.claims import FAIL, INCONCLUSIVE, NO_DATA, PASS, evaluate
from gauntlet.study.runner import plan
from gauntlet.study.spec import load_study

REPO = Path(__file__).resolve().parents[1]

ARMS = """
name: arms
grid:
  arm: [none, dropout, other]
seeds: [1, 2, 3, 4, 5]
claims:
"""


def study_with(tmp_path: Path, claims: str, head: str = ARMS, name: str = "arms.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(head) + textwrap.indent(textwrap.dedent(claims), "  "))
    return load_study(path)


def rows(values: dict[str, list[float]], metric: str = "gap/acc", seeds=None) -> list[dict]:
    """Runs as the study runner labels them: the cell's axis label, the seed, the metrics."""
    out = []
    for arm, series in values.items():
        for i, value in enumerate(series):
            seed = (seeds or {}).get(arm, range(1, len(series) + 1))[i]
            out.append(
                {"run_id": f"{arm}-{seed}", "seed": seed, "arm": arm, "metrics": {metric: value}}
            )
    return out


def judged(study, values, **kw):
    return {claim.name: claim for claim in evaluate(study, rows(values, **kw))}


SHRINKS = """
- {name: shrinks, metric: gap/acc, where: {arm: dropout}, op: "<", than: {where: {arm: none}}}
"""


def test_a_large_real_difference_passes(tmp_path):
    study = study_with(tmp_path, SHRINKS)
    claim = judged(
        study,
        {
            "none": [0.060, 0.071, 0.052, 0.066, 0.058],
            "dropout": [0.020, 0.028, 0.015, 0.024, 0.019],
        },
    )["shrinks"]
    assert claim.verdict == PASS
    d = claim.details
    assert d["difference"] == pytest.approx(-0.0402)
    assert d["ci"][0] < d["ci"][1] < 0  # the whole interval on the claimed side
    assert d["p_value"] < 0.01
    assert d["paired"] is True and d["n"] == {"left": 5, "right": 5}
    assert d["effect"] < -3  # d_z: a difference many times the spread
    assert "p=" in claim.numbers and "95% CI" in claim.numbers


def test_a_difference_inside_seed_noise_is_inconclusive_and_says_how_many_seeds(tmp_path):
    # the overfitting study's dropout claim: 0.063 against 0.060 with a spread of about 0.01
    study = study_with(tmp_path, SHRINKS)
    claim = judged(study, {"none": [0.051, 0.069, 0.060], "dropout": [0.058, 0.068, 0.063]})[
        "shrinks"
    ]
    assert claim.verdict == INCONCLUSIVE
    assert not claim.passed and not claim.failed
    assert claim.details["ci"][0] < 0 < claim.details["ci"][1]
    assert claim.details["p_value"] > 0.05
    assert "seeds" in claim.advice and "towards fail" in claim.advice
    assert claim.details["seeds_needed"] == claim.advice


def test_a_reversed_difference_fails(tmp_path):
    study = study_with(tmp_path, SHRINKS)
    claim = judged(
        study,
        {
            "none": [0.020, 0.028, 0.015, 0.024, 0.019],
            "dropout": [0.060, 0.071, 0.052, 0.066, 0.058],
        },
    )["shrinks"]
    assert claim.verdict == FAIL
    assert claim.details["p_against"] < 0.01
    assert claim.advice == ""


BORDER = {
    "none": [0.565, 0.55, 0.56, 0.57, 0.58],
    "dropout": [0.60, 0.62, 0.56, 0.63, 0.59],
    "other": [0.57, 0.60, 0.50, 0.62, 0.57],
}
RAISES = """
- {name: raises, metric: gap/acc, where: {arm: dropout}, op: ">", than: {where: {arm: none}}}
"""
MORE = """
- {name: other raises, metric: gap/acc, where: {arm: other}, op: ">", than: {where: {arm: none}}}
- {name: other below, metric: gap/acc, where: {arm: other}, op: "<", than: {where: {arm: dropout}}}
"""


def test_holm_turns_a_borderline_pass_inconclusive_among_more_claims(tmp_path):
    alone = judged(study_with(tmp_path, RAISES, name="a.yaml"), BORDER)["raises"]
    among = judged(study_with(tmp_path, RAISES + MORE, name="b.yaml"), BORDER)
    assert alone.verdict == PASS
    assert alone.details["p_value"] == pytest.approx(alone.details["p_raw"])
    raises = among["raises"]
    assert raises.details["p_raw"] == pytest.approx(alone.details["p_raw"])
    assert raises.details["p_raw"] < 0.05 < raises.details["p_value"]
    assert raises.verdict == INCONCLUSIVE
    assert "/3" in raises.advice  # the seeds line uses Holm's strictest level


def test_the_level_is_the_studys_own_and_goes_into_the_results(tmp_path):
    head = ARMS.replace("claims:", "statistics: {level: 0.2, resamples: 500, seed: 7}\nclaims:")
    study = study_with(tmp_path, RAISES + MORE, head=head)
    assert study.statistics.level == 0.2 and study.statistics.resamples == 500
    assert evaluate(study, rows(BORDER))[0].verdict == PASS  # 0.06 < 0.2
    again = evaluate(study, rows(BORDER))
    assert again[0].details["ci"] == evaluate(study, rows(BORDER))[0].details["ci"]


@pytest.mark.parametrize(
    "block, message",
    [
        ("{level: 0.7}", "statistics.level"),
        ("{resamples: 10}", "statistics.resamples"),
        ("{alpha: 0.05}", "statistics.alpha: valid keys: level, resamples, seed, power"),
    ],
)
def test_bad_statistics_settings_name_the_key(tmp_path, block, message):
    with pytest.raises(GauntletError, match=message):
        study_with(tmp_path, RAISES, head=ARMS.replace("claims:", f"statistics: {block}\nclaims:"))


def test_unpaired_seeds_use_welch_and_many_seeds_a_permutation_test(tmp_path):
    study = study_with(tmp_path, RAISES)
    seeds = {"none": [1, 2, 3], "dropout": [4, 5, 6]}
    welch = judged(study, {"none": [0.5, 0.52, 0.51], "dropout": [0.6, 0.62, 0.61]}, seeds=seeds)
    assert welch["raises"].details["test"] == "Welch t"
    assert welch["raises"].details["paired"] is False
    assert welch["raises"].details["effect_name"] == "cohen_d"
    many = {
        "none": [0.5 + 0.01 * (i % 3) for i in range(8)],
        "dropout": [0.6 + 0.01 * (i % 4) for i in range(8)],
    }
    paired = judged(study, many)["raises"]
    assert paired.details["test"] == "paired permutation (sign flips)"
    assert paired.verdict == PASS


CONSTANT = """
- {name: ceiling, metric: gap/acc, where: {arm: none}, op: ">=", value: 0.9, tol: 0.01}
- {name: probability, metric: gap/acc, op: "<=", value: 1.0}
"""


def test_a_constant_fails_when_the_interval_lies_below_it(tmp_path):
    study = study_with(tmp_path, CONSTANT)
    results = judged(study, {"none": [0.80, 0.82, 0.81], "dropout": [1.0, 1.0, 1.0]})
    assert results["ceiling"].verdict == FAIL
    assert results["ceiling"].details["ci"][1] < -0.01
    # every value exactly on the bound of "<=": true without any spread to test
    results = judged(study, {"dropout": [1.0, 1.0, 1.0]})
    assert results["probability"].verdict == PASS
    assert "no spread" in results["probability"].details["test"]


def test_one_seed_cannot_be_tested(tmp_path):
    study = study_with(tmp_path, SHRINKS)
    claim = judged(study, {"none": [0.06], "dropout": [0.02]})["shrinks"]
    assert claim.verdict == INCONCLUSIVE
    assert "at least 2 seeds" in claim.advice
    assert judged(study, {"none": [0.06]})["shrinks"].verdict == NO_DATA


TREND = """
- {name: rises, metric: test/acc, along: arm, trend: increasing}
"""


def test_trends_judge_every_step(tmp_path):
    study = study_with(tmp_path, TREND)
    clear = judged(
        study,
        {
            "none": [0.50, 0.52, 0.51, 0.53, 0.50],
            "dropout": [0.60, 0.61, 0.63, 0.62, 0.60],
            "other": [0.70, 0.72, 0.71, 0.74, 0.70],
        },
        metric="test/acc",
    )["rises"]
    assert clear.verdict == PASS
    assert [step["to"] for step in clear.details["steps"]] == ["dropout", "other"]
    assert all({"p_value", "ci", "effect", "n"} <= set(step) for step in clear.details["steps"])
    back = judged(
        study,
        {
            "none": [0.50, 0.52, 0.51, 0.53, 0.50],
            "dropout": [0.90, 0.91, 0.93, 0.92, 0.90],
            "other": [0.70, 0.72, 0.71, 0.74, 0.70],
        },
        metric="test/acc",
    )["rises"]
    assert back.verdict == FAIL  # the last step falls well beyond the noise
    noisy = judged(
        study,
        {"none": [0.50, 0.60, 0.55], "dropout": [0.56, 0.50, 0.60], "other": [0.58, 0.52, 0.61]},
        metric="test/acc",
    )["rises"]
    assert noisy.verdict == INCONCLUSIVE


# -- through `gauntlet study` on recorded runs --------------------------------------------------


def record(study_path: Path, log_dir: Path, values: dict[str, list[float]], metric="gap/acc"):
    """Manifests of the study's planned runs, with known metrics, in its real leaderboard."""
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    study = load_study(study_path)
    with Leaderboard.open(resolve_url(None, log_dir)) as board:
        for i, job in enumerate(plan(study, log_dir=log_dir)):
            arm = job.cell.labels["arm"]
            if arm not in values:
                continue
            board.upsert(
                {
                    "run_id": f"r{i}",
                    "status": "completed",
                    "study": study.name,
                    "seed": job.seed,
                    "overrides": job.overrides,
                    "metrics": {metric: values[arm][job.seed - 1]},
                }
            )


def gauntlet_study(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", "study", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.integration
def test_the_study_command_reports_the_statistics_and_exits_by_verdict(tmp_path):
    head = ARMS.replace("seeds: [1, 2, 3, 4, 5]", "seeds: [1, 2, 3]")
    hostile = '- {name: "<img src=x onerror=alert(1)> noise", metric: gap/acc, where: {arm: other}, op: "<", than: {where: {arm: none}}}\n'
    path = tmp_path / "arms.yaml"
    path.write_text(textwrap.dedent(head) + textwrap.indent(hostile, "  "))
    log_dir = tmp_path / "logs"
    values = {"none": [0.051, 0.069, 0.060], "other": [0.058, 0.068, 0.063]}
    record(path, log_dir, {**values, "dropout": [0.05, 0.05, 0.05]})

    result = gauntlet_study(str(path), "--report-only", "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INCONCLUSIVE" in result.stdout and "seeds" in result.stdout
    strict = gauntlet_study(str(path), "--report-only", "--strict", "--log-dir", str(log_dir))
    assert strict.returncode == 1
    assert "inconclusive (--strict)" in strict.stdout

    out = log_dir / "studies" / "arms"
    results = json.loads((out / "results.json").read_text())
    assert results["statistics"] == {
        "level": 0.05,
        "resamples": 9999,
        "seed": 0,
        "power": 0.8,
        "correction": "holm",
    }
    (claim,) = results["claims"]
    assert claim["verdict"] == "INCONCLUSIVE"
    assert {"p_value", "ci", "effect", "n"} <= set(claim["details"])
    assert claim["details"]["n"] == {"left": 3, "right": 3}
    report = (out / "report.md").read_text()
    assert "**INCONCLUSIVE**" in report and "Inconclusive claims" in report
    assert "<img" not in report and "&lt;img" in report
    page = (out / "report.html").read_text()
    assert "<h2>Claims</h2>" in page and "<img src=x" not in page


@pytest.mark.integration
def test_a_failing_claim_exits_1(tmp_path):
    path = tmp_path / "arms.yaml"
    path.write_text(textwrap.dedent(ARMS) + textwrap.indent(textwrap.dedent(SHRINKS), "  "))
    log_dir = tmp_path / "logs"
    record(
        path,
        log_dir,
        {
            "none": [0.020, 0.028, 0.015, 0.024, 0.019],
            "dropout": [0.060, 0.071, 0.052, 0.066, 0.058],
            "other": [0.0] * 5,
        },
    )
    result = gauntlet_study(str(path), "--report-only", "--log-dir", str(log_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 of 1 claims do not hold" in result.stdout


# -- study files checked before anything runs ---------------------------------------------------


@pytest.mark.integration
def test_a_claim_on_a_metric_no_run_records_is_refused_before_running(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(
        "name: typo\nbase: digits_cnn\nseeds: [1]\n"
        "claims: [{name: acc, metric: test/accuracy, op: '>', value: 0.5}]\n"
    )
    for extra in ([], ["--dry-run"]):
        result = gauntlet_study(str(path), *extra, "--log-dir", str(tmp_path / "logs"))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "claims[0] (acc) reads 'test/accuracy'" in result.stderr
        assert "The runs record:" in result.stderr and "test/acc," in result.stderr
    assert not list((tmp_path / "logs").glob("multiruns/*"))


def test_an_empty_study_file_is_refused(tmp_path):
    for text in ("", "# nothing yet\n", "{}\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        with pytest.raises(GauntletError, match="the study file is empty"):
            load_study(path)
