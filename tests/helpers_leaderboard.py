"""The leaderboard tests' shared parts: a start manifest as ``train`` records it, and eight
writer processes upserting into one store at once (SQLite in ``test_leaderboard_store``,
PostgreSQL in ``test_leaderboard_postgres``)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import sys

from gauntlet.leaderboard.store import Leaderboard

WRITERS = 8
RUNS_PER_WRITER = 10


def start_manifest(run_id: str, **fields: object) -> dict:
    manifest = {
        "schema": 1,
        "run_id": run_id,
        "status": "running",
        "experiment": "digits_cnn",
        "study": None,
        "model": "cnn",
        "data": "digits",
        "seed": 42,
        "user": "alice",
        "host": "node1",
        "run_dir": f"/runs/{run_id}",
        "started": "2026-11-28T18:05:01+00:00",
        "finished": None,
        "metrics": {},
        "config": {"model": {"net": {"dropout": 0.1}}, "seed": 42},
        "overrides": ["model=cnn", "seed=42"],
        "git": {"commit": "abc123", "dirty": False},
        "num_params": 12345,
        "wandb": {"id": "w-1", "dir": "/runs/wandb"},
        "error": None,
        "tags": ["baseline"],
    }
    manifest.update(fields)
    return manifest


def _write_runs(url: str, writer: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    """One writer process: opens the store with the others (the first open creates the schema),
    then records start and end of its runs."""
    barrier.wait(timeout=60)
    with Leaderboard.open(url) as board:
        for index in range(RUNS_PER_WRITER):
            run_id = f"w{writer}-r{index}"
            board.upsert(start_manifest(run_id, seed=index, experiment=f"writer{writer}"))
            board.upsert(
                {
                    "run_id": run_id,
                    "status": "completed",
                    "metrics": {"test/acc": writer + index / 100},
                }
            )


def run_parallel_writers(url: str) -> None:
    """WRITERS processes upserting at once; asserts that every row arrived complete."""
    # fork where it exists: separate processes with their own connections, without re-importing
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    barrier = context.Barrier(WRITERS)
    processes = [
        context.Process(target=_write_runs, args=(url, writer, barrier))
        for writer in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    with Leaderboard.open(url) as board:
        rows = board.runs()
    assert len(rows) == WRITERS * RUNS_PER_WRITER
    by_id = {row["run_id"]: row for row in rows}
    for writer in range(WRITERS):
        for index in range(RUNS_PER_WRITER):
            row = by_id[f"w{writer}-r{index}"]
            assert row["status"] == "completed"
            assert row["experiment"] == f"writer{writer}" and row["seed"] == index
            assert row["metrics"] == {"test/acc": writer + index / 100}
