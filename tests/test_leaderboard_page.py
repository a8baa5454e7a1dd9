"""The leaderboard's static page (gauntlet serve's page with its answers embedded) in a real
headless Chromium: rows, pages of runs and sweeps, filter, diff, best per task."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.store import Leaderboard

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (Debian: apt-get install chromium; .ci/run does)"
)


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )


def dom(page: Path, fragment: str = "") -> str:
    """The page's DOM after its script ran, as Chromium dumps it."""
    done = chromium(
        "--dump-dom", page.resolve().as_uri() + (f"#{quote(fragment)}" if fragment else "")
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def board_page(train, tmp_path):
    """Two real runs of one sweep and a third of another setup, and the page of all three."""
    from omegaconf import OmegaConf

    runs = [
        train("trainer.deterministic=true", name="a"),
        train("trainer.deterministic=true", "model.net.hidden=16", name="b"),
        train("trainer.deterministic=true", "model=rnn", name="c"),
    ]
    for manifest, run_dir in runs:  # what the Hydra app writes beside each run (not in-process)
        (run_dir / ".hydra").mkdir(exist_ok=True)
        OmegaConf.save(OmegaConf.create(manifest["config"]), run_dir / ".hydra" / "config.yaml")
    (a, _), (b, _), (c, _) = runs
    with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
        for run in (a, b):  # as a multirun would have recorded them
            board.upsert({"run_id": run["run_id"], "sweep": "widths"})
    page = tmp_path / "out" / "board.html"
    page.parent.mkdir()
    # grouped by sweep, so that the sweep's two setups share one row of the board
    by_sweep = ["--group-by", "sweep", "--group-by", "model", "--group-by", "data"]
    assert main(["--log-dir", str(tmp_path), "--all", *by_sweep, "--output", str(page)]) == 0
    return page, a, b, c


@needs_chromium
def test_the_page_lists_groups_and_runs_with_links_to_their_pages(board_page):
    page, a, b, c = board_page
    html = dom(page)
    board_rows = re.findall(r'<tr data-group="[^"]*" data-index="\d+"', html)
    assert len(board_rows) == 2  # the sweep's two runs under the sweep, and the rnn
    for run in (a, b, c):
        assert f'data-run="{run["run_id"]}"' in html
        assert f'href="#/runs/{run["run_id"]}"' in html
    # every link is a page of this file: none into the disk that wrote it
    assert set(re.findall(r'<a href="(.)', html)) == {"#"}
    assert 'href="#/sweeps/widths"' in html
    run_page = dom(page, f"/runs/{a['run_id']}")
    assert f'id="run-id">{a["run_id"]}</span>' in run_page
    curves = run_page[run_page.index('id="curves"') :]
    assert re.search(r'<polyline[^>]*class="series"', curves)  # drawn from the stored history
    assert re.search(r'<circle[^>]*class="point"', curves)
    assert "<td>model.net.hidden</td>" in dom(page, f"/runs/{b['run_id']}")  # its config
    sweep = dom(page, "/sweeps/widths")
    chart = re.search(r'<svg[^>]*id="parallel-chart".*?</svg>', sweep, re.S).group(0)
    assert len(re.findall(r'<polyline[^>]*class="trial"', chart)) == 2
    assert "model.net.hidden" in chart  # the parameter the sweep varies is an axis


@needs_chromium
def test_the_filter_and_a_groups_run_count_narrow_the_rows(board_page):
    page, a, b, c = board_page
    filtered = dom(page, "filter=rnn")
    hidden = re.findall(r'<tr data-run="([^"]+)"[^>]*hidden', filtered)
    assert sorted(hidden) == sorted([a["run_id"], b["run_id"]])
    shown = re.findall(r'<tr data-group="[^"]*" data-index="\d+"(?![^>]*hidden)', filtered)
    assert len(shown) == 1
    group = re.search(rf'<tr data-run="{a["run_id"]}" data-in-group="(\d+)"', filtered).group(1)
    sweep_only = dom(page, f"group={group}")
    hidden = re.findall(r'<tr data-run="([^"]+)"[^>]*hidden', sweep_only)
    assert hidden == [c["run_id"]]


@needs_chromium
def test_two_ticked_runs_show_their_diff(board_page):
    page, a, b, _ = board_page
    html = dom(page, f"/compare?runs={a['run_id']},{b['run_id']}")
    title = re.search(r'<p id="diff-title">(\d+) differences between (\S+) and (\S+)</p>', html)
    assert title and {title.group(2), title.group(3)} == {a["run_id"], b["run_id"]}
    rows = re.findall(
        r'<tr class="difference"><td class="section">(\w+)</td><td>([^<]+)</td>', html
    )
    assert ("config", "model.net.hidden") in rows
    assert all(section != "packages" for section, _ in rows)  # one machine, one environment
    same = dom(page, f"/compare?runs={a['run_id']},{a['run_id']}")
    assert "Tick two runs" in same  # the same run twice is one ticked box


@needs_chromium
def test_a_screenshot_of_the_page(board_page, tmp_path):
    page, *_ = board_page
    shot = tmp_path / "page.png"
    done = chromium("--window-size=1280,900", f"--screenshot={shot}", page.resolve().as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 10_000


@needs_chromium
def test_the_page_ranks_each_models_best_group_per_task(board_page):
    page, a, b, c = board_page
    html = dom(page)
    tasks = html[html.index('<section id="tasks">') :]
    table = re.search(
        r'<table class="sortable task" data-data="digits" data-metric="test/acc">(.*?)</table>',
        tasks,
        re.S,
    )
    assert table, tasks[:2000]
    models = re.findall(
        r'<tr data-model="(\w+)"><td class="num" data-sort="[^"]+">(\d)</td>', table.group(1)
    )
    assert sorted(models, key=lambda m: m[1]) == models and {m for m, _ in models} == {"cnn", "rnn"}
    ranked = [m for m, _ in models]
    acc = {r["run_id"]: r["metrics"]["test/acc"] for r in (a, b, c)}
    means = {"cnn": (acc[a["run_id"]] + acc[b["run_id"]]) / 2, "rnn": acc[c["run_id"]]}
    assert ranked == sorted(means, key=means.get, reverse=True)
    # the cnn's best group is the sweep's two runs: its run count shows only them
    row = re.search(r'<tr data-model="cnn">.*?</tr>', table.group(1), re.S).group(0)
    assert a["run_id"] in row and b["run_id"] in row
    group = re.search(r'href="#group=(\d+)"', row).group(1)
    hidden = re.findall(r'<tr data-run="([^"]+)"[^>]*hidden', dom(page, f"group={group}"))
    assert hidden == [c["run_id"]]


@pytest.mark.slow  # three more real runs for its page
@needs_chromium
def test_the_sweeps_parallel_coordinates_have_ticks_a_colour_scale_and_fit_the_page(board_page):
    page, *_ = board_page
    html = dom(page, "/sweeps/widths")
    chart = re.search(r'<svg[^>]*id="parallel-chart".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r'class="tick-label"', chart)) >= 5  # the metric's axis alone has five
    assert 'class="colour-scale"' in chart
    strokes = set(re.findall(r'<polyline[^>]*stroke="(rgb\([^"]+\))"[^>]*class="trial"', chart))
    assert len(strokes) == 2  # two runs, two accuracies, two colours
    width = int(re.search(r'<svg[^>]*width="(\d+)"[^>]*id="parallel-chart"', html).group(1))
    assert width <= 1280  # Chromium's default headless window: the chart fits it
    axes = re.findall(r'<text[^>]*class="axis"[^>]*>([^<]+)</text>', chart)
    assert "model.net.hidden" in axes and not any("seed" in a or "paths" in a for a in axes)
