"""The transfer, scaling and synthetic-data studies: their files, their ``--quick`` forms and
the figures drawn from them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.study.figures import power_law
from gauntlet.study.spec import load_study

REPO = Path(__file__).resolve().parents[1]
STUDIES = ["transfer", "scaling", "data_scarcity_synthetic"]


def gauntlet(*args: str, log_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.update(OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1800,
    )


@pytest.mark.parametrize("name", STUDIES)
def test_the_study_files_read_and_plan(name):
    study = load_study(REPO / "experiments" / f"{name}.yaml")
    assert study.claims and study.plots and len(study.seeds) == 3
    cells = study.cells()
    assert len(cells) == {"transfer": 6, "scaling": 24, "data_scarcity_synthetic": 18}[name]


def test_the_power_law_fit_recovers_a_known_exponent():
    sizes = [1e3, 3e3, 1e4, 3e4, 1e5]
    points = [(n, 1 - 2.0 * n**-0.3) for n in sizes]
    fit = power_law(points)
    assert fit["alpha"] == pytest.approx(0.3, rel=1e-6)
    assert fit["b"] == pytest.approx(2.0, rel=1e-6)
    assert power_law(points[:2]) is None  # two sizes cannot tell a curve


def quick(name: str, log_dir: Path) -> dict:
    result = gauntlet(
        "gauntlet",
        "study",
        f"experiments/{name}.yaml",
        "--quick",
        "--log-dir",
        str(log_dir),
        log_dir=log_dir,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = log_dir / "studies" / f"{name}_quick"
    results = json.loads((out / "results.json").read_text())
    assert all(run["status"] == "completed" for run in results["runs"])
    assert not results["post_failures"]
    assert results["claims"]
    return results


@pytest.mark.slow
def test_transfer_quick_fills_the_source_x_target_matrix(tmp_path):
    results = quick("transfer", tmp_path)
    assert len(results["runs"]) == 12
    for cell in results["cells"]:
        for source in ("cnn", "rnn", "transformer"):
            assert cell["metrics"][f"robust/transfer_acc/{source}@eps=0.2"]["n"] == 2
    out = tmp_path / "studies" / "transfer_quick"
    figures = gauntlet("gauntlet.study.figures", "transfer", str(out), log_dir=tmp_path)
    assert figures.returncode == 0, figures.stderr[-3000:]
    assert (out / "transfer_heatmap.png").is_file()
    table = (out / "figures_transfer.md").read_text()
    assert "| CNN |" in table and "white-box" in table


@pytest.mark.slow
def test_scaling_quick_draws_accuracy_against_params_and_flops(tmp_path):
    results = quick("scaling", tmp_path)
    assert len(results["runs"]) == 24
    for cell in results["cells"]:
        assert cell["metrics"]["perf/train_flops"]["mean"] > 0
    out = tmp_path / "studies" / "scaling_quick"
    figures = gauntlet("gauntlet.study.figures", "scaling", str(out), log_dir=tmp_path)
    assert figures.returncode == 0, figures.stderr[-3000:]
    for name in ("acc_vs_params", "acc_vs_flops", "gap_vs_params"):
        assert (out / f"scaling_{name}.png").is_file()
    fits = [
        line
        for line in (out / "figures_scaling.md").read_text().splitlines()
        if "| digits" in line or "| mnist1d" in line
    ]
    assert len(fits) == 6 and all(not math.isnan(float(line.split("|")[3])) for line in fits)


@pytest.mark.slow
def test_synthetic_scarcity_quick_runs_every_generator(tmp_path):
    results = quick("data_scarcity_synthetic", tmp_path)
    assert len(results["runs"]) == 18
