"""``gauntlet serve`` for real on a free port: its JSON API, the token, escaping, redaction,
404s, and that it never writes to the store."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gauntlet.leaderboard.store import Leaderboard
from serve_helpers import REPO, SCRIPT, SECRET, make_store, serving

TOKEN = "a-team-token-of-32-characters-xx"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log_dir = tmp_path_factory.mktemp("served")
    make_store(log_dir)
    return log_dir


@pytest.fixture(scope="module")
def base(store: Path):
    with serving(store) as url:
        yield url


def get(base: str, path: str, **kwargs) -> httpx.Response:
    return httpx.get(base + path, timeout=30, **kwargs)


def test_the_board_groups_by_identity_with_intervals(base) -> None:
    board = get(base, "/api/groups").json()
    by_label = {g["label"]: g for g in board["items"]}
    three = next(g for g in board["items"] if g["n"] == 3)
    assert sorted(three["run_ids"]) == ["a-s1", "a-s2", "a-s3"]
    stats = three["metrics"]["test/acc"]
    assert stats["mean"] == pytest.approx(0.96)
    assert stats["ci_low"] < 0.96 < stats["ci_high"] and stats["n"] == 3
    assert "digits_cnn · model.net.dropout=0.1" in by_label
    # the runs list filters as the CLI's do
    runs = get(base, "/api/runs", params={"where": "model.net.dropout=0.3"}).json()
    assert [r["run_id"] for r in runs["items"]] == ["b-s1"]
    page = get(base, "/api/runs", params={"limit": 2, "offset": 1}).json()
    assert page["total"] >= 5 and len(page["items"]) == 2


def test_best_per_task_ranks_each_models_best_group_and_marks_few_seeds(base) -> None:
    tasks = {t["data"]: t for t in get(base, "/api/tasks").json()}
    task = tasks["digits"]
    assert (task["data"], task["metric"]) == ("digits", "test/acc")
    (best,) = task["entries"]  # one model: its best group, the three seeds of dropout 0.1
    assert best["model"] == "cnn" and sorted(best["run_ids"]) == ["a-s1", "a-s2", "a-s3"]
    assert best["stats"]["mean"] == pytest.approx(0.96) and not best["few_seeds"]
    board = get(base, "/api/groups").json()
    assert board["items"][best["index"]]["run_ids"] == best["run_ids"]  # its row on the board
    tasks = {t["data"]: t for t in get(base, "/api/tasks", params={"min_seeds": 4}).json()}
    assert tasks["digits"]["entries"][0]["few_seeds"]  # marked, not hidden
    assert get(base, "/api/tasks", params={"min_seeds": "many"}).status_code == 400


def test_a_run_its_history_a_diff_a_sweep_and_a_study(base) -> None:
    run = get(base, "/api/runs/a-s2").json()
    assert run["status"] == "completed" and run["seed"] == 2
    assert run["overrides"] == ["model.net.dropout=0.1", "seed=2"]
    assert run["git"]["commit"] == "abc123" and run["epochs_recorded"] == 3
    assert run["commands"]["reproduce"] == "gauntlet reproduce a-s2"
    history = get(base, "/api/runs/a-s2/history").json()
    assert [e["epoch"] for e in history["epochs"]] == [0, 1, 2]
    assert history["epochs"][1]["metrics"]["train/loss"] == pytest.approx(1.0)
    diff = get(base, "/api/diff", params={"runs": "a-s1,b-s1"}).json()
    keys = {d["key"] for d in diff["differences"]["config"]}
    assert "model.net.dropout" in keys
    sweep = get(base, "/api/sweeps/drop").json()
    assert sweep["parameters"] == ["model.net.dropout"]  # not the seed: it is no parameter
    studies = get(base, "/api/studies").json()
    assert [s["name"] for s in studies] == ["dropout_study"] and studies[0]["verdicts"] == ["PASS"]
    study = get(base, "/api/studies/dropout_study").json()
    assert study["plan_hash"] == "plan1234"
    assert study["results"]["claims"][0]["interval"] == [0.04, 0.08]


def test_unknown_ids_and_paths_are_404s_with_a_message(base) -> None:
    for path in (
        "/api/runs/no-such-run",
        "/api/runs/no-such-run/history",
        "/api/studies/nope",
        "/api/sweeps/nope",
        "/api/groups/ffff",
        "/api/diff?runs=a-s1,nope",
        "/no/such/page",
        "/static/../../etc/passwd",
    ):
        response = get(base, path)
        assert response.status_code == 404, path
        assert "error" in response.json() and "Traceback" not in response.text, path
    bad = get(base, "/api/runs", params={"limit": "many"})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]


def test_values_are_escaped_and_pages_carry_a_content_security_policy(base) -> None:
    page = get(base, "/runs/evil")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # the shell holds no inline script and no inline event handler; data never enters it
    assert "<script>" not in page.text and " on" not in page.text.replace(" one", "")
    assert SCRIPT not in page.text
    script = get(base, "/static/app.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "document.write" not in script
    run = get(base, "/api/runs/evil")
    assert run.headers["content-type"].startswith("application/json")
    assert run.json()["experiment"] == SCRIPT  # data stays data; the page writes it as text


def test_secrets_never_leave_the_server(base) -> None:
    for path in ("/api/runs/leaky", "/api/runs", "/api/groups?all=1", "/api/diff?runs=leaky,a-s1"):
        text = get(base, path).text
        assert SECRET not in text, path
    run = get(base, "/api/runs/leaky").json()
    assert run["config"]["db_password"] != SECRET
    assert "postgresql://ann:" in run["config"]["leaderboard"]["url"]


def test_the_server_never_writes_to_the_store(store: Path) -> None:
    with Leaderboard.open(f"sqlite:///{store / 'leaderboard.db'}") as board:
        board.upsert(
            {
                "run_id": "ghost",
                "status": "running",
                "host": "elsewhere",
                "pid": 1,
                "heartbeat": "2026-12-01T00:00:00+00:00",
                "experiment": "digits_cnn",
            }
        )
    before = hashlib.sha256((store / "leaderboard.db").read_bytes()).hexdigest()
    with serving(store) as url:
        assert get(url, "/api/runs/ghost").json()["status"] == "lost"  # shown, not written
        get(url, "/api/groups?all=1")
        get(url, "/api/runs?all=1")
    after = hashlib.sha256((store / "leaderboard.db").read_bytes()).hexdigest()
    assert before == after
    with Leaderboard.open(f"sqlite:///{store / 'leaderboard.db'}", settle=False) as board:
        assert board.get("ghost")["status"] == "running"
        board.upsert({"run_id": "ghost", "status": "failed"})


def test_a_token_is_required_when_given_and_off_loopback(store: Path) -> None:
    with serving(store, "--token", TOKEN) as url:
        assert get(url, "/api/groups").status_code == 401
        assert get(url, "/").status_code == 401
        wrong = get(url, "/api/groups", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
        assert wrong.status_code == 401
        ok = get(url, "/api/groups", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["items"]
        with httpx.Client(base_url=url, timeout=30) as browser:
            first = browser.get("/runs/a-s1", params={"token": TOKEN})
            assert first.status_code == 303 and first.headers["location"] == "/runs/a-s1"
            assert "httponly" in first.headers["set-cookie"].lower()
            assert browser.get("/api/runs/a-s1").status_code == 200  # the cookie does it now
        assert get(url, "/api/runs", params={"token": "not-the-token-at-all"}).status_code == 401

    env = {**os.environ, "GAUNTLET_LEADERBOARD_URL": "", "GAUNTLET_SERVE_TOKEN": ""}
    command = [
        sys.executable,
        "-m",
        "gauntlet",
        "serve",
        "--log-dir",
        str(store),
        "--host",
        "0.0.0.0",
        "--port",
        "1",
    ]
    refused = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    assert refused.returncode == 2
    assert "--host 0.0.0.0" in refused.stderr and "token" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "GAUNTLET_LEADERBOARD_URL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "gauntlet", "serve", "--log-dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2 and "no leaderboard database" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_server_reads_only_what_changed_and_misses_nothing(tmp_path: Path) -> None:
    from gauntlet.leaderboard.serve.views import Views
    from serve_helpers import run

    make_store(tmp_path)
    url = f"sqlite:///{tmp_path / 'leaderboard.db'}"
    views = Views(Leaderboard.reader(url), refresh_s=0)
    before = {r["run_id"] for r in views.all_runs()}
    with Leaderboard.open(url, settle=False) as board:
        board.upsert(run("new", 0.1, 9, 0.99))  # started after everything read
        board.upsert(
            {
                **run("old-import", 0.1, 8, 0.5),
                "started": "2020-01-01T00:00:00+00:00",
                "finished": "2020-01-01T01:00:00+00:00",
            }
        )  # an import of an old run
        board.upsert({"run_id": "a-s1", "metrics": {"test/acc": 0.5}})  # a row changed in place
    views._reload()
    after = {r["run_id"]: r for r in views.all_runs()}
    assert set(after) == before | {"new", "old-import"}
    assert views.groups({"all": "1"})["runs"] == len(after)
