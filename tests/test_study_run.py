"""``gauntlet study`` end to end: real multiruns, the leaderboard, the report, the exit code."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

TINY = """
name: tiny
description: Two widths x two augmentations x two seeds, a few batches each.
base: digits_cnn
overrides:
  - trainer.max_epochs=1
  - trainer.limit_train_batches=2
  - trainer.limit_val_batches=1
  - trainer.limit_test_batches=1
  - logger=csv
grid:
  model.net.hidden: [8, 16]
  augment: [none, light]
seeds: [1, 2]
metrics: [test/acc, test/loss]
plots:
  - {name: acc, x: model.net.hidden, y: test/acc, lines: augment}
claims:
  - {name: accuracy is a probability, metric: test/acc, op: "<=", value: 1.0}
"""
FAILING = """
  - {name: impossible accuracy, metric: test/acc, where: {augment: light}, op: ">", value: 1.0}
"""


def study(*args: str, log_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", "study", *args, "--log-dir", str(log_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )


def run_dirs(log_dir: Path) -> list[Path]:
    return sorted(p.parent for p in log_dir.glob("multiruns/*/*/manifest.json"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny study with a passing and a failing claim, run once for the module."""
    root = tmp_path_factory.mktemp("study")
    path = root / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY) + FAILING)
    log_dir = root / "logs"
    result = study(str(path), "--launcher", "joblib", log_dir=log_dir)
    return root, path, log_dir, result


def test_the_failing_claim_fails_the_command(tiny):
    _, _, log_dir, result = tiny
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 of 2 claims do not hold" in result.stdout
    assert "8 of 8 completed (0 from earlier, 8 launched now)" in result.stdout
    report = (log_dir / "studies" / "tiny" / "report.md").read_text()
    assert "| accuracy is a probability | **PASS** |" in report
    assert "| impossible accuracy | **FAIL** |" in report


def test_every_run_is_tagged_and_the_cells_aggregate_their_manifests(tiny):
    _, _, log_dir, _ = tiny
    dirs = run_dirs(log_dir)
    assert len(dirs) == 8
    by_cell: dict[tuple, list[float]] = defaultdict(list)
    seeds: dict[tuple, set[int]] = defaultdict(set)
    for run_dir in dirs:
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "completed"
        assert manifest["study"] == "tiny" and manifest["experiment"] == "digits_cnn"
        cell = (manifest["config"]["model"]["net"]["hidden"], manifest["choices"]["augment"])
        by_cell[cell].append(manifest["metrics"]["test/acc"])
        seeds[cell].add(manifest["seed"])
    assert set(by_cell) == {(8, "none"), (8, "light"), (16, "none"), (16, "light")}
    assert all(s == {1, 2} for s in seeds.values())

    results = json.loads((log_dir / "studies" / "tiny" / "results.json").read_text())
    cells = {(c["group"]["model.net.hidden"], c["group"]["augment"]): c for c in results["cells"]}
    assert set(cells) == set(by_cell)
    report = (log_dir / "studies" / "tiny" / "report.md").read_text()
    for cell, values in by_cell.items():
        stats = cells[cell]["metrics"]["test/acc"]
        assert stats["n"] == 2
        assert stats["mean"] == pytest.approx(statistics.fmean(values))
        assert stats["std"] == pytest.approx(statistics.stdev(values))
        mean, std = statistics.fmean(values), statistics.stdev(values)
        assert f"| {cell[0]} | {cell[1]} | 2 | {mean:.4f} ± {std:.4f} |" in report


def test_the_report_has_its_plot_and_html_page(tiny):
    _, _, log_dir, _ = tiny
    out = log_dir / "studies" / "tiny"
    png = out / "acc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![test/acc vs model.net.hidden](acc.png)" in (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    assert "<table" in page and "study tiny" in page and "impossible accuracy" in page


def test_a_rerun_launches_nothing_and_passes_without_the_failing_claim(tiny):
    root, _, log_dir, _ = tiny
    before = run_dirs(log_dir)
    launches = sorted(log_dir.glob("studies/tiny/logs/multirun-*.log"))
    passing = root / "tiny_passing.yaml"
    passing.write_text(textwrap.dedent(TINY))  # same name and grid, the failing claim gone
    result = study(str(passing), log_dir=log_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 of 8 completed (8 from earlier, 0 launched now)" in result.stdout
    assert run_dirs(log_dir) == before
    assert sorted(log_dir.glob("studies/tiny/logs/multirun-*.log")) == launches
    assert (
        "| accuracy is a probability | **PASS** |"
        in (log_dir / "studies" / "tiny" / "report.md").read_text()
    )


def test_report_only_says_what_is_missing(tiny):
    root, _, log_dir, _ = tiny
    grown = root / "tiny_grown.yaml"
    grown.write_text(textwrap.dedent(TINY).replace("seeds: [1, 2]", "seeds: [1, 2, 3]"))
    result = study(str(grown), "--report-only", log_dir=log_dir)
    assert result.returncode == 1
    assert "8 of 12 completed" in result.stdout and "4 without a result" in result.stdout
    dry = study(str(grown), "--dry-run", log_dir=log_dir)
    assert dry.returncode == 0
    assert "12 runs, 8 done, 4 to run" in dry.stdout
    assert "seed=3" in dry.stdout and "seed=1" not in dry.stdout


def test_a_bad_launcher_is_refused_with_the_choices(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY))
    result = study(str(path), "--launcher", "threads", log_dir=tmp_path)
    assert result.returncode == 2
    assert "--launcher 'threads'" in result.stderr and "joblib" in result.stderr


SHIPPED_SLOW = [
    "architectures",
    "data_scarcity",
    "overfitting",
    "compute",
    "interpretability",
    "listops",
]


def quick(name: str, tmp_path: Path) -> dict:
    result = study(
        str(REPO / "experiments" / f"{name}.yaml"),
        "--quick",
        "--launcher",
        "joblib",
        log_dir=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "studies" / f"{name}_quick"
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True
    assert all(run["status"] == "completed" for run in results["runs"])
    assert results["claims"], "quick mode still evaluates the claims"
    assert list(out.glob("*.png")), "quick mode still draws the plots"
    assert "Quick run: the claims are evaluated but not checked." in (out / "report.md").read_text()
    return results


def test_robustness_quick(tmp_path):
    results = quick("robustness", tmp_path)
    assert len(results["runs"]) == 4
    for cell in results["cells"]:
        assert cell["metrics"]["robust/acc@eps=0.1"]["n"] == 1
        # eps 0 attacks nothing: the robust accuracy is the clean test accuracy
        assert cell["metrics"]["robust/acc@eps=0"]["mean"] == pytest.approx(
            cell["metrics"]["test/acc"]["mean"], abs=1e-6
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_SLOW)
def test_shipped_study_quick(name, tmp_path):
    results = quick(name, tmp_path)
    if name == "interpretability":
        for cell in results["cells"]:
            for method in ("integrated_gradients", "saliency", "lime", "kernel_shap"):
                assert cell["metrics"][f"interpret/{method}/deletion_auc"]["n"] == 1
