"""A real ``gauntlet serve`` on a free port, and a store of known runs for it to show."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gauntlet.leaderboard.store import Leaderboard

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "<script>alert(1)</script>"
SECRET = "hunter2-very-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(run_id: str, dropout: float, seed: int, acc: float, **extra) -> dict:
    return {
        "run_id": run_id,
        "status": "completed",
        "experiment": "digits_cnn",
        "model": "cnn",
        "data": "digits",
        "seed": seed,
        "started": f"2026-12-05T10:{seed:02d}:00+00:00",
        "finished": f"2026-12-05T10:{seed:02d}:30+00:00",
        "config": {
            "model": {"net": {"_target_": "gauntlet.models.cnn.CNN", "dropout": dropout}},
            "trainer": {"max_epochs": 3},
            "seed": seed,
        },
        "overrides": [f"model.net.dropout={dropout}", f"seed={seed}"],
        "git": {"commit": "abc123", "dirty": False},
        "metrics": {"test/acc": acc},
        **extra,
    }


def add_history(board: Leaderboard, run_id: str, epochs: int, start: float = 0.5) -> None:
    for epoch in range(epochs):
        board.record_history(
            run_id,
            epoch,
            {
                "train/loss": 2.0 / (epoch + 1),
                "val/loss": 2.2 / (epoch + 1) + 0.05 * epoch,
                "train/acc": start + 0.1 * epoch,
                "val/acc": start + 0.08 * epoch,
            },
            step=10 * (epoch + 1),
        )


def make_store(log_dir: Path) -> dict[str, str]:
    """Runs of two setups (three seeds; one), a sweep, a study, hostile text and secrets.
    Returns the ids the tests look for."""
    url = f"sqlite:///{log_dir / 'leaderboard.db'}"
    with Leaderboard.open(url) as board:
        for seed, acc in ((1, 0.95), (2, 0.96), (3, 0.97)):
            board.upsert(run(f"a-s{seed}", 0.1, seed, acc, sweep="drop"))
            add_history(board, f"a-s{seed}", 3)
        board.upsert(run("b-s1", 0.3, 1, 0.90, sweep="drop"))
        add_history(board, "b-s1", 3, start=0.4)
        board.upsert(
            run(
                "evil",
                0.2,
                1,
                0.5,
                experiment=SCRIPT,
                tags=[SCRIPT],
                overrides=[f"+note={SCRIPT}"],
            )
        )
        board.record_study(
            "dropout_study",
            "plan1234",
            plan={"axes": {"model.net.dropout": [0.1, 0.3]}, "seeds": [1, 2, 3]},
            settings={"level": 0.05, "resamples": 999},
            results={
                "metrics": ["test/acc"],
                "cells": [
                    {
                        "label": "dropout=0.1",
                        "n": 3,
                        "metrics": {"test/acc": {"mean": 0.96, "n": 3}},
                    }
                ],
                "claims": [
                    {
                        "claim": "dropout=0.1 > dropout=0.3 on test/acc",
                        "verdict": "PASS",
                        "difference": 0.06,
                        "interval": [0.04, 0.08],
                        "p_adjusted": 0.01,
                    }
                ],
            },
        )
    # a row written by older code that never masked its secrets: the server masks them itself
    leaked = run(
        "leaky",
        0.5,
        1,
        0.8,
    )
    leaked["config"]["leaderboard"] = {"url": f"postgresql://ann:{SECRET}@db:5432/g"}
    leaked["config"]["db_password"] = SECRET
    with sqlite3.connect(log_dir / "leaderboard.db") as conn:
        conn.execute(
            "INSERT INTO runs (run_id, status, experiment, seed, config, metrics, extra) "
            "VALUES (?, 'completed', 'digits_cnn', 1, ?, ?, ?)",
            (
                "leaky",
                json.dumps(leaked["config"]),
                json.dumps({"test/acc": 0.8}),
                json.dumps({"overrides": [f"leaderboard.url=postgresql://ann:{SECRET}@db/g"]}),
            ),
        )
    return {"url": url}


@contextlib.contextmanager
def serving(log_dir: Path, *args: str, env: dict | None = None) -> Iterator[str]:
    """``gauntlet serve`` in its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "serve",
            "--log-dir",
            str(log_dir),
            "--port",
            str(port),
            *args,
        ],
        cwd=REPO,
        env={**os.environ, "GAUNTLET_LEADERBOARD_URL": "", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a big store is read before the server listens
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited: {process.stdout.read()}")
            try:
                httpx.get(base + "/static/app.css", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
