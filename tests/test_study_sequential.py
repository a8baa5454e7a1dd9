"""``gauntlet study --until-decided``: planned looks whose error rates hold, checked by simulation
through the functions a study uses, and a real study on digits killed in its second round."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from scipy import stats

from gauntlet.errors import GauntletError
from gauntlet.study.sequential import (
    ClaimLook,
    Plan,
    Tracker,
    bounds,
    derive_looks,
    simulate,
)
from gauntlet.study.spec import load_study
from gauntlet.study.statistics import FAIL, INCONCLUSIVE, PASS, Settings

REPO = Path(__file__).resolve().parents[1]
SHIPPED_LOOKS = (3, 5, 8, 12)


def test_with_many_seeds_the_boundaries_are_the_published_lan_demets_ones():
    # Lan-DeMets, one-sided 0.025, five equally spaced looks (Jennison and Turnbull 2000,
    # table 7.6; gsDesign): the t boundaries of 100..500 seeds are the z ones within a little
    looks = (100, 200, 300, 400, 500)
    published = {
        "obrien_fleming": (4.877, 3.357, 2.680, 2.290, 2.031),
        "pocock": (2.438, 2.427, 2.410, 2.397, 2.386),
    }
    for spending, zs in published.items():
        nominal = bounds(looks, 500, 0.025, spending)
        got = [float(stats.norm.isf(p)) if p > 0 else math.inf for p in nominal]
        # the first O'Brien-Fleming look spends 5e-7: too rare to place by simulation
        first = 1 if spending == "obrien_fleming" else 0
        for look, (z, expected) in enumerate(zip(got, zs, strict=True)):
            if look >= first:
                assert z == pytest.approx(expected, abs=0.035), (spending, look, got)


def test_null_studies_pass_at_most_at_the_level_and_naive_looks_do_not():
    plan = Plan(SHIPPED_LOOKS, "pocock", 0.05)
    result = simulate(plan, 0.0, 2000, Settings(resamples=199), seed=1)
    error = math.sqrt(0.05 * 0.95 / result.studies)
    print(
        f"null, looks {SHIPPED_LOOKS}: group-sequential PASS rate {result.pass_rate:.4f}, "
        f"naive repeated testing {result.naive_pass_rate:.4f} ({result.studies} studies)"
    )
    assert result.pass_rate <= 0.05 + 2 * error
    assert result.naive_pass_rate > 0.05 + 2 * error


def test_under_a_real_effect_fewer_seeds_than_a_fixed_design_of_the_same_power():
    plan = Plan(SHIPPED_LOOKS, "pocock", 0.05)
    result = simulate(plan, 1.0, 2000, Settings(resamples=199), seed=2)
    print(
        f"effect d=1, looks {SHIPPED_LOOKS}: power {result.pass_rate:.3f}, mean seeds "
        f"{result.mean_seeds:.2f}; a fixed design of that power: {result.fixed_seeds} seeds"
    )
    assert result.pass_rate > 0.8
    assert result.fixed_seeds is not None
    assert result.mean_seeds < result.fixed_seeds


def test_looks_derived_from_max_seeds_grow_by_about_sixty_percent():
    assert derive_looks(3, 12) == (3, 5, 8, 12)
    assert derive_looks(2, 3) == (2, 3)
    assert derive_looks(5, 5) == (5,)


def test_a_decided_claim_frees_its_share_and_spends_no_more():
    plan = Plan((3, 5), "pocock", 0.05)
    half, whole = (bounds((3,), 5, level, "pocock")[0] for level in (0.025, 0.05))
    between = (half + whole) / 2  # passes at the level, not at half of it
    tracker = Tracker(plan)
    tracker.look(1, [ClaimLook("strong", 3, 1e-9, 1.0), ClaimLook("borderline", 3, between, 0.9)])
    # Holm: the strong claim is rejected at level/2, which frees the level for the other
    assert tracker.claims["strong"].verdict == PASS
    assert tracker.claims["borderline"].verdict == PASS
    assert tracker.claims["borderline"].records[0].bound_claim == pytest.approx(whole)

    tracker = Tracker(plan)
    tracker.look(1, [ClaimLook("wrong", 3, 1.0, 1e-9), ClaimLook("open", 3, 0.5, 0.5)])
    assert tracker.claims["wrong"].verdict == FAIL
    tracker.look(2, [ClaimLook("wrong", 5, 1e-9, 1.0), ClaimLook("open", 5, 0.5, 0.5)])
    wrong = tracker.claims["wrong"]
    assert (wrong.verdict, wrong.decided_at, len(wrong.records)) == (FAIL, 1, 1)
    tracker.finish()
    assert tracker.claims["open"].verdict == INCONCLUSIVE
    assert [r.seeds for r in tracker.claims["open"].records] == [3, 5]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{looks: [5, 3]}", "sequential.looks: expected increasing whole numbers"),
        ("{looks: [1, 3]}", "the first at least 2"),
        ("{spending: linear}", "sequential.spending: expected pocock or obrien_fleming"),
        ("{look: [3]}", "sequential.look: valid keys: looks, spending"),
    ],
)
def test_a_bad_sequential_block_names_the_key(tmp_path, block, message):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nseeds: [1, 2, 3]\nsequential: {block}\n")
    with pytest.raises(GauntletError, match=message):
        load_study(path)


def gauntlet(*args: str, cwd: Path = REPO, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        **kw,
    )


def test_budget_flags_need_until_decided_and_until_decided_needs_looks(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("name: plain\nbase: digits_cnn\nseeds: [1, 2, 3]\n")
    logs = str(tmp_path / "logs")
    result = gauntlet("study", str(path), "--max-seeds", "8", "--log-dir", logs)
    assert result.returncode == 2
    assert "--max-seeds: only with --until-decided" in result.stderr
    result = gauntlet("study", str(path), "--until-decided", "--dry-run", "--log-dir", logs)
    assert result.returncode == 2
    assert "has no sequential.looks; give --max-seeds N" in result.stderr
    result = gauntlet(
        "study", str(path), "--until-decided", "--max-seeds", "12", "--dry-run", "--log-dir", logs
    )
    assert result.returncode == 0, result.stderr
    assert "looks at [3, 5, 8, 12] seeds per cell" in result.stdout


# -- a real study on digits ------------------------------------------------------------------

DIGITS = """
name: decide
base: digits_cnn
overrides:
  - trainer.max_epochs=2
  - trainer.limit_val_batches=1
  - trainer.limit_test_batches=2
  - logger=csv
  - model.net.hidden=16
grid:
  arm:
    trained: {model.optimizer.lr: 0.01, trainer.log_every_n_steps: 50}
    untrained: {model.optimizer.lr: 0.0, trainer.log_every_n_steps: 50}
    trained_again: {model.optimizer.lr: 0.01, trainer.log_every_n_steps: 49}
seeds: [1, 2, 3]
metrics: [test/acc]
sequential: {looks: [3, 4]}
claims:
  - name: training beats no training
    metric: test/acc
    where: {arm: trained}
    op: ">"
    than: {where: {arm: untrained}}
  - name: logging less often trains better
    metric: test/acc
    where: {arm: trained_again}
    op: ">"
    than: {where: {arm: trained}}
"""


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """The digits study killed (SIGKILL to its process group) once its second round has
    started a run, then the same command again."""
    root = tmp_path_factory.mktemp("decide")
    path = root / "decide.yaml"
    path.write_text(textwrap.dedent(DIGITS))
    logs = root / "logs"
    out = logs / "studies" / "decide"
    command = [sys.executable, "-m", "gauntlet", "study", str(path), "--until-decided"]
    command += ["--log-dir", str(logs)]
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    first = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state_at_kill = None
    try:
        deadline = time.monotonic() + 500
        while time.monotonic() < deadline and first.poll() is None:
            round_two = [p for p in (out / "logs").glob("look2-*.log") if "seed=4" in p.read_text()]
            if round_two:
                time.sleep(4)  # inside a run of round 2
                state_at_kill = json.loads((out / "sequential.json").read_text())
                break
            time.sleep(0.5)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    resumed = gauntlet("study", str(path), "--until-decided", "--log-dir", str(logs))
    return path, logs, out, state_at_kill, resumed


@pytest.mark.slow
def test_a_study_killed_in_round_two_resumes_from_its_recorded_looks(killed_and_resumed):
    _, logs, out, state_at_kill, resumed = killed_and_resumed
    assert state_at_kill is not None, "round 2 never started"
    assert state_at_kill["looks_done"] == 1
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    state = json.loads((out / "sequential.json").read_text())
    assert state["looks_done"] == 2
    assert [r["look"] for r in state["rounds"]] == [1, 2]
    # nothing ran twice: one completed run per cell and seed
    completed = Counter()
    for manifest in logs.glob("multiruns/*/*/manifest.json"):
        data = json.loads(manifest.read_text())
        if data.get("status") == "completed":
            overrides = data.get("overrides") or []
            arm = next(o for o in overrides if o.startswith("model.optimizer.lr="))
            every = next(o for o in overrides if o.startswith("trainer.log_every_n_steps="))
            completed[(arm, every, data["seed"])] += 1
    assert set(completed.values()) == {1}
    # 3 cells x 3 seeds, then seed 4 only in the two cells of the undecided claim
    assert len(completed) == 11


@pytest.mark.slow
def test_a_large_difference_is_decided_at_the_first_look_and_none_runs_to_max_seeds(
    killed_and_resumed,
):
    _, _, out, _, resumed = killed_and_resumed
    results = json.loads((out / "results.json").read_text())
    sequential = results["sequential"]
    assert sequential["plan"] == {"looks": [3, 4], "spending": "pocock", "level": 0.05}
    claims = {c["name"]: c for c in sequential["claims"]}
    trained = claims["training beats no training"]
    assert (trained["verdict"], trained["decided_at"], trained["seeds_used"]) == (PASS, 1, 3)
    assert len(trained["looks"]) == 1
    look = trained["looks"][0]
    assert look["p_claim"] <= look["bound_claim"]
    same = claims["logging less often trains better"]
    assert (same["verdict"], same["decided_at"], same["seeds_used"]) == (INCONCLUSIVE, None, 4)
    assert [r["seeds"] for r in same["looks"]] == [3, 4]
    assert (sequential["runs_used"], sequential["fixed_design_runs"]) == (11, 12)
    report = (out / "report.md").read_text()
    assert "## Sequential looks" in report
    assert "runs used: 11, a fixed design at 4 seeds per cell: 12" in report
    assert "| look | seeds | p (claim) | boundary | p (opposite) | boundary | result |" in report
    assert "decided at look 1 with 3 seeds" in report
    html = (out / "report.html").read_text()
    assert "Sequential looks" in html and "runs used: 11" in html
    assert "runs used: 11" in resumed.stdout


@pytest.mark.slow
def test_a_resumed_study_refuses_looks_it_did_not_plan(killed_and_resumed):
    path, logs, _, _, _ = killed_and_resumed
    result = gauntlet(
        "study", str(path), "--until-decided", "--max-seeds", "3", "--log-dir", str(logs)
    )
    assert result.returncode == 2
    assert "sequential.json: this study's looks were fixed at" in result.stderr
