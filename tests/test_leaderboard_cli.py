"""``gauntlet leaderboard``: filters, grouping, ranking, every output format, import, exit codes."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.leaderboard import aggregate, write_html
from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.store import Leaderboard

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _no_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAUNTLET_LEADERBOARD_URL", raising=False)


def manifest(run_id: str, model: str, dropout: float, seed: int, acc: float | None, **extra):
    return {
        "schema": 1,
        "run_id": run_id,
        "status": "completed" if acc is not None else "failed",
        "experiment": f"digits_{model}",
        "model": model,
        "data": "digits",
        "seed": seed,
        "started": f"2026-11-28T18:{seed:02d}:00+00:00",
        "config": {
            "model": {"net": {"_target_": f"gauntlet.models.{model}", "dropout": dropout}},
            "seed": seed,
        },
        "metrics": {} if acc is None else {"test/acc": acc, "test/loss": 1 - acc},
        **extra,
    }


RUNS = [
    manifest("c1", "cnn", 0.1, 1, 0.90),
    manifest("c2", "cnn", 0.1, 2, 0.80),
    manifest("c3", "cnn", 0.1, 3, 0.70),
    manifest("c4", "cnn", 0.2, 1, 0.60),
    manifest("c5", "cnn", 0.2, 2, 0.64),
    manifest("r1", "rnn", 0.1, 1, 0.50),
    manifest("r2", "rnn", 0.1, 2, None, error="RuntimeError: diverged"),
]


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """A log directory whose leaderboard holds RUNS."""
    directory = tmp_path / "logs"
    with Leaderboard.open(f"sqlite:///{directory / 'leaderboard.db'}") as board:
        for run in RUNS:
            board.upsert(run)
    return directory


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_json(capsys: pytest.CaptureFixture[str], log_dir: Path, *args: object) -> list[dict]:
    code, out, err = run_cli(capsys, "--log-dir", log_dir, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def test_the_default_table_aggregates_the_seeds_of_each_setup(
    capsys: pytest.CaptureFixture[str], log_dir: Path
) -> None:
    code, out, _ = run_cli(capsys, "--log-dir", log_dir, "--all")
    assert code == 0
    # the two cnn dropouts are two setups, told apart by the key in which they differ
    assert "digits_cnn · model.net.dropout=0.1" in out
    assert "digits_cnn · model.net.dropout=0.2" in out
    # dropout 0.1: 0.9, 0.8, 0.7 -> 0.8 ± t(0.975, 2) * 0.1 / sqrt(3) = 0.8 ± 0.2484
    assert "0.8000 ± 0.2484" in out
    # dropout 0.2: 0.6, 0.64 -> 0.62 ± t(0.975, 1) * 0.02828 / sqrt(2) = 0.62 ± 0.2541
    assert "0.6200 ± 0.2541" in out
    # rnn: two runs, one failed without metrics -> n=1 for the metric, shown without a spread
    assert "0.5000 (n=1)" in out and "± 0.0000" not in out
    assert "7 runs in 3 groups" in out
    # by default only completed runs, and the summary says what it left out
    code, out, _ = run_cli(capsys, "--log-dir", log_dir)
    assert "6 runs in 3 groups" in out and "not shown: 1 failed (--all" in out


def test_group_by_config_keys_sort_and_top(
    capsys: pytest.CaptureFixture[str], log_dir: Path
) -> None:
    groups = as_json(capsys, log_dir, "--group-by", "model.net.dropout", "--all")
    assert [g["model.net.dropout"] for g in groups] == [0.1, 0.2]
    # dropout 0.1: 0.9, 0.8, 0.7, 0.5 (and one failed run) -> 0.725; 0.2: 0.6, 0.64 -> 0.62
    assert groups[0]["runs"] == 5 and groups[0]["test/acc.n"] == 4
    assert sorted(groups[0]["run_ids"]) == ["c1", "c2", "c3", "r1", "r2"]
    assert groups[0]["test/acc.mean"] == pytest.approx(0.725)
    assert groups[1]["test/acc.mean"] == pytest.approx(0.62)
    assert groups[1]["test/acc.std"] == pytest.approx(math.sqrt(0.0008))

    ascending = as_json(capsys, log_dir, "--group-by", "model.net.dropout", "--ascending")
    assert [g["model.net.dropout"] for g in ascending] == [0.2, 0.1]
    top = as_json(
        capsys, log_dir, "--group-by", "model", "--group-by", "model.net.dropout", "--top", "1"
    )
    assert [(g["model"], g["model.net.dropout"]) for g in top] == [("cnn", 0.1)]
    by_loss = as_json(
        capsys, log_dir, "--metric", "test/loss", "--ascending", "--runs", "--top", "2"
    )
    assert [r["run_id"] for r in by_loss] == ["c1", "c2"]


def test_where_status_and_column_filters(capsys: pytest.CaptureFixture[str], log_dir: Path) -> None:
    def ids(*args: object) -> list[str]:
        return [r["run_id"] for r in as_json(capsys, log_dir, "--runs", "--all", *args)]

    # runs rank by test/acc, best first; the failed run (no metric) comes last
    assert ids("--where", "model.net.dropout=0.1") == ["c1", "c2", "c3", "r1", "r2"]
    assert sorted(ids("--where", "model.net.dropout=0.2")) == ["c4", "c5"]
    assert ids("--where", "model.net.dropout=0.1", "--where", "seed=2") == ["c2", "r2"]
    assert ids("--status", "failed") == ["r2"]
    assert ids("--model", "rnn", "--status", "completed") == ["r1"]
    assert sorted(ids("--where", "test/acc=0.9", "--where", "status=completed")) == ["c1"]
    assert ids("--where", "model.net.dropout=0.3") == []


def test_a_mistyped_key_or_metric_is_named_with_suggestions(
    capsys: pytest.CaptureFixture[str], log_dir: Path
) -> None:
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--where", "model.net.dropuot=0.1")
    assert code == 2
    assert "--where 'model.net.dropuot'" in err and "model.net.dropout" in err
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--where", "dropout")
    assert code == 2 and "expected KEY=VALUE" in err
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--metric", "test/accuracy")
    assert code == 2 and "recorded metrics: test/acc, test/loss" in err
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--group-by", "model.nett.dropout")
    assert code == 2 and "did you mean model.net.dropout" in err
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--sort", "seed")
    assert code == 2 and "--sort 'seed'" in err and "--runs" in err


def test_csv_output_parses_with_one_column_per_statistic(
    capsys: pytest.CaptureFixture[str], log_dir: Path
) -> None:
    code, out, _ = run_cli(capsys, "--log-dir", log_dir, "--format", "csv", "--metric", "test/acc")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "group",
        "config_key",
        "runs",
        "test/acc.mean",
        "test/acc.std",
        "test/acc.n",
        "test/acc.ci_low",
        "test/acc.ci_high",
        "run_ids",
    ]
    assert [r["group"] for r in rows] == [
        "digits_cnn · model.net.dropout=0.1",
        "digits_cnn · model.net.dropout=0.2",
        "digits_rnn",
    ]
    assert float(rows[0]["test/acc.mean"]) == pytest.approx(0.8)
    assert float(rows[0]["test/acc.std"]) == pytest.approx(0.1)
    assert float(rows[0]["test/acc.ci_high"]) == pytest.approx(0.8 + 0.24841377118)
    # the failed rnn run is left out by default; one run has no interval
    assert (rows[2]["runs"], rows[2]["test/acc.n"], float(rows[2]["test/acc.std"])) == ("1", "1", 0)
    assert rows[2]["test/acc.ci_low"] == ""

    code, out, _ = run_cli(
        capsys,
        "--log-dir",
        log_dir,
        "--format",
        "csv",
        "--runs",
        "--all",
        "--group-by",
        "model.net.dropout",
    )
    runs = {r["run_id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert set(runs) == {r["run_id"] for r in RUNS}
    assert runs["c4"]["model.net.dropout"] == "0.2" and runs["c4"]["test/acc"] == "0.6"
    assert runs["r2"]["test/acc"] == "" and runs["r2"]["status"] == "failed"


def test_markdown_output_is_a_table_with_escaped_cells(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = tmp_path / "logs"
    with Leaderboard.open(f"sqlite:///{directory / 'leaderboard.db'}") as board:
        board.upsert(manifest("a", "cnn", 0.1, 1, 0.9, experiment="pipe|name"))
        board.upsert(manifest("b", "rnn", 0.1, 1, 0.8))
    code, out, _ = run_cli(
        capsys,
        "--log-dir",
        directory,
        "--format",
        "md",
        *("--group-by", "experiment", "--group-by", "model", "--group-by", "data"),
    )
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    split = [re.split(r"(?<!\\)\|", line)[1:-1] for line in table]
    assert [cell.strip() for cell in split[0]] == [
        "experiment",
        "model",
        "data",
        "runs",
        "test/acc (mean ± 95% CI)",
    ]
    assert all(set(cell.strip()) <= set("-:") for cell in split[1])
    assert [cell.strip() for cell in split[2]] == [
        "pipe\\|name",
        "cnn",
        "digits",
        "1",
        "0.9000",
    ]
    assert len(split) == 4 and all(len(row) == 5 for row in split)


def test_html_is_self_contained_and_escapes_every_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = tmp_path / "logs"
    with Leaderboard.open(f"sqlite:///{directory / 'leaderboard.db'}") as board:
        board.upsert(manifest(SCRIPT, "cnn", 0.1, 1, 0.9, experiment=SCRIPT))
        board.upsert(manifest("b", "rnn$x$", 0.1, 1, 0.8))
    for extra in ([], ["--runs"]):
        page_path = tmp_path / "board.html"
        code, out, _ = run_cli(
            capsys, "--log-dir", directory, "--output", page_path, "--title", "<b>t</b>", *extra
        )
        assert code == 0 and "as html to" in out
        page = page_path.read_text()
        assert SCRIPT not in page and "<b>t</b>" not in page
        assert "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page
        # the data, as JSON no value can break out of, for gauntlet serve's own script
        data = re.search(r'<script type="application/json" id="snapshot">(.*?)</script>', page)
        snapshot = json.loads(data.group(1))
        assert f"/api/runs/{SCRIPT}" in snapshot["answers"] and "b" in snapshot["sections"]
        assert snapshot["answers"][f"/api/runs/{SCRIPT}"]["experiment"] == SCRIPT
        assert page.count("<script>") == 1  # the page's script, nothing from the data
        assert not re.search(r'src="', page)  # nothing loaded from elsewhere
        assert "connect-src 'none'" in page  # nor fetched
        assert not re.search(r'href="(https?:)?//', page)  # links stay on this machine
        assert "<link" not in page
        assert 'addEventListener("click"' in page and "function sortTable" in page


def test_write_html_is_usable_on_its_own(tmp_path: Path) -> None:
    groups = aggregate(RUNS, ["model.net.dropout"], ["test/acc", "test/loss"])
    path = write_html(groups, tmp_path / "study.html", ["test/acc", "test/loss"], "dropout study")
    page = path.read_text()
    assert "<title>dropout study</title>" in page
    assert '<th class="num">model.net.dropout</th>' in page
    assert len(re.findall(r"data:image/png;base64,", page)) == 2


def test_output_format_follows_the_file_suffix(
    capsys: pytest.CaptureFixture[str], log_dir: Path, tmp_path: Path
) -> None:
    for name, check in (
        ("board.csv", lambda text: next(csv.reader(io.StringIO(text)))[0] == "group"),
        ("board.json", lambda text: json.loads(text)[0]["runs"] == 3),
        ("board.jsonl", lambda text: json.loads(text.splitlines()[2])["group"] == "digits_rnn"),
        ("board.md", lambda text: "| group |" in text),
        ("board.txt", lambda text: "0.8000 ± 0.2484" in text),
    ):
        code, out, _ = run_cli(capsys, "--log-dir", log_dir, "--output", tmp_path / name)
        # the console wraps at 80 columns, so a long temporary path (an xdist worker's) breaks
        assert code == 0 and name in out.replace("\n", "")
        assert check((tmp_path / name).read_text())


def test_import_is_idempotent_and_names_corrupt_manifests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs = tmp_path / "multirun"
    for index, run in enumerate(RUNS):
        run_dir = runs / "2026-11-28" / str(index)
        run_dir.mkdir(parents=True)
        (run_dir / "manifest.json").write_text(json.dumps(run))
    corrupt = runs / "broken" / "manifest.json"
    corrupt.parent.mkdir()
    corrupt.write_text('{"run_id": "x", ')
    no_id = runs / "no_id" / "manifest.json"
    no_id.parent.mkdir()
    no_id.write_text('{"status": "completed"}')
    logs = tmp_path / "logs"

    code, out, err = run_cli(capsys, "import", runs, "--log-dir", logs)
    assert code == 0
    assert f"imported {len(RUNS)} of {len(RUNS) + 2} manifests" in out
    assert str(corrupt.resolve()) in err and str(no_id.resolve()) in err and "run_id" in err
    code, _, _ = run_cli(capsys, "import", runs, runs / "2026-11-28", "--log-dir", logs)
    assert code == 0
    with Leaderboard.open(f"sqlite:///{logs / 'leaderboard.db'}") as board:
        assert board.count() == len(RUNS)
        assert board.get("c1")["run_dir"] == str((runs / "2026-11-28" / "0").resolve())


def test_import_fails_only_when_nothing_could_be_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("not json")
    code, _, err = run_cli(capsys, "import", bad, "--log-dir", tmp_path / "logs")
    assert code == 1 and str((bad / "manifest.json").resolve()) in err
    assert "none of the manifests" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "import", empty, "--log-dir", tmp_path / "logs")
    assert code == 1 and "no manifest.json found" in err
    code, _, err = run_cli(capsys, "import", tmp_path / "nope", "--log-dir", tmp_path / "logs")
    assert code == 2 and str(tmp_path / "nope") in err and "does not exist" in err


def test_a_missing_database_and_bad_arguments_exit_non_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, log_dir: Path
) -> None:
    code, _, err = run_cli(capsys, "--log-dir", tmp_path / "never")
    assert code == 2 and str(tmp_path / "never" / "leaderboard.db") in err
    assert "gauntlet leaderboard import" in err
    assert not (tmp_path / "never").exists()
    assert run_cli(capsys, "--log-dir", log_dir, "--top", "0")[0] == 2
    assert run_cli(capsys, "--log-dir", log_dir, "--format", "xml")[0] == 2
    assert run_cli(capsys, "--log-dir", log_dir, "--status", "done")[0] == 2
    assert run_cli(capsys, "--help")[0] == 0


def test_no_matching_runs_is_not_an_error(
    capsys: pytest.CaptureFixture[str], log_dir: Path
) -> None:
    code, out, _ = run_cli(capsys, "--log-dir", log_dir, "--data", "mnist1d")
    assert code == 0 and "no runs match" in out


def test_a_password_in_the_url_never_reaches_the_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "GAUNTLET_LEADERBOARD_URL", "postgresql+psycopg://bob:s3cret@127.0.0.1:1/team"
    )
    for args in ([], ["import", str(tmp_path)]):
        code, out, err = run_cli(capsys, *args)
        assert code == 2
        assert "postgresql+psycopg://bob:***@127.0.0.1:1/team" in err
        assert "s3cret" not in out + err


@pytest.mark.integration
def test_the_gauntlet_command_dispatches_to_the_leaderboard(log_dir: Path) -> None:
    if importlib.util.find_spec("gauntlet.__main__") is None:
        pytest.skip("the top-level `python -m gauntlet` entry point is not there yet")
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "leaderboard",
            "--log-dir",
            str(log_dir),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    groups = {g["group"].split(" · ")[0] for g in json.loads(ok.stdout)}
    assert groups == {"digits_cnn", "digits_rnn"}
    missing = subprocess.run(
        [sys.executable, "-m", "gauntlet.leaderboard", "--log-dir", str(log_dir.parent / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no leaderboard database" in missing.stderr


def test_by_task_ranks_each_models_best_group(capsys: pytest.CaptureFixture[str], log_dir: Path):
    with Leaderboard.open(f"sqlite:///{log_dir / 'leaderboard.db'}") as board:
        board.upsert({**manifest("m1", "cnn", 0.1, 1, 0.99), "data": "mnist1d"})
    keys = ["--group-by", "model", "--group-by", "model.net.dropout"]
    code, out, err = run_cli(capsys, "--log-dir", log_dir, "--by-task", *keys)
    assert code == 0, err
    assert "digits · test/acc" in out and "mnist1d · test/acc" in out
    records = as_json(capsys, log_dir, "--by-task", *keys, "--metric", "test/acc")
    digits = [r for r in records if r["data"] == "digits" and r["metric"] == "test/acc"]
    # cnn's best dropout (0.1: 0.9, 0.8, 0.7) ranks above rnn's only completed run (0.5)
    assert [(r["rank"], r["model"], r["model.net.dropout"]) for r in digits] == [
        (1, "cnn", 0.1),
        (2, "rnn", 0.1),
    ]
    assert digits[0]["mean"] == pytest.approx(0.8) and digits[0]["n"] == 3
    assert sorted(digits[0]["run_ids"]) == ["c1", "c2", "c3"]
    assert [r["model"] for r in records if r["data"] == "mnist1d"] == ["cnn"]  # a task apart
    lowest = as_json(capsys, log_dir, "--by-task", *keys, "--metric", "test/loss", "--ascending")
    assert [r["model"] for r in lowest if r["data"] == "digits"] == ["cnn", "rnn"]
    assert lowest[0]["mean"] == pytest.approx(0.2)  # 1 - acc: cnn's best by loss is dropout 0.1
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--by-task", "--runs")
    assert code == 2 and "--by-task ranks groups" in err


def test_output_into_a_missing_directory_is_one_error_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], log_dir: Path, tmp_path: Path
) -> None:
    for fmt_args in ([], ["--by-task", "--format", "csv"]):
        for name in ("board.html", "board.csv"):
            target = tmp_path / "no" / "such" / name
            code, out, err = run_cli(capsys, "--log-dir", log_dir, *fmt_args, "--output", target)
            assert code == 2, err
            assert f"--output {target}" in err and "does not exist" in err
            assert "Traceback" not in out + err and len(err.strip().splitlines()) <= 2
            assert not (tmp_path / "no").exists()
    taken = tmp_path / "board.csv"
    taken.mkdir()
    code, _, err = run_cli(capsys, "--log-dir", log_dir, "--output", taken)
    assert code == 2 and "is a directory" in err


def test_every_status_a_run_records_is_a_status_choice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gauntlet.run.record import STATUSES

    assert {"requeued", "pruned", "lost"} <= set(STATUSES)
    directory = tmp_path / "logs"
    with Leaderboard.open(f"sqlite:///{directory / 'leaderboard.db'}") as board:
        for index, status in enumerate(STATUSES):
            board.upsert({**manifest(f"s{index}", "cnn", 0.1, index, 0.5), "status": status})
    for index, status in enumerate(STATUSES):
        rows = as_json(capsys, directory, "--runs", "--status", status)
        assert [r["run_id"] for r in rows] == [f"s{index}"], status


def test_the_summary_counts_one_group_in_the_singular(
    capsys: pytest.CaptureFixture[str], log_dir: Path, tmp_path: Path
) -> None:
    page = tmp_path / "one.md"
    code, out, err = run_cli(
        capsys, "--log-dir", log_dir, "--model", "rnn", "--output", page, "--format", "md"
    )
    assert code == 0, err
    assert "1 run in 1 group " in out.replace("\n", " ") and "1 groups" not in out
    code, out, _ = run_cli(capsys, "--log-dir", log_dir, "--output", page, "--format", "md")
    assert "6 runs in 3 groups" in out
