"""How `gauntlet serve` holds up on a big board: time to first byte, time to a full board, and
latency under concurrent readers while runs write.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/serve_scale_bench.py \
        [--runs 20000] [--groups 2000] [--epochs 5] [--clients 20] [--writers 4] [--seconds 30]

Builds a SQLite store of RUNS runs in GROUPS training identities (each with a realistic resolved
config and EPOCHS epochs of history) in a temporary directory, serves it with `gauntlet serve` in
its own process, then measures:

- start-up: the server reads the whole store once before it listens;
- TTFB: the first byte of the page shell (``/``) and of the first ``/api/groups``;
- full board: what the board page fetches (``/api/groups`` and ``/api/runs?limit=100``), the
  first time;
- under load: CLIENTS threads each polling as an open page does (stamp, groups, runs) while
  WRITERS processes record new runs and their epochs, for SECONDS; p50/p95/max per request.

Prints a Markdown table and writes JSON beside it (--json).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from serve_helpers import serving  # noqa: E402


def config(group: int, seed: int) -> dict:
    return {
        "seed": seed,
        "experiment_name": f"exp{group % 20}",
        "data": {
            "_target_": "gauntlet.data.digits.DigitsDataModule",
            "seed": seed,
            "fraction": round(0.1 + (group % 10) / 10, 2),
            "batch_size": 64,
        },
        "model": {
            "net": {
                "_target_": "gauntlet.models.cnn.CNN",
                "hidden": 16 + group % 7,
                "dropout": round((group % 5) / 10, 2),
                "layers": 2 + group % 3,
            },
            "optimizer": {
                "_target_": "torch.optim.AdamW",
                "lr": 10 ** -(2 + group % 4),
                "weight_decay": 0.01 * (group // 200),
            },
        },
        "trainer": {
            "max_epochs": 10,
            "precision": "32-true",
            "accelerator": "cpu",
            "gradient_clip_val": None,
            "default_root_dir": f"/runs/{group}-{seed}",
        },
        "paths": {"log_dir": "/runs", "output_dir": f"/runs/{group}-{seed}"},
        "callbacks": {
            "model_checkpoint": {"dirpath": f"/runs/{group}-{seed}/ckpt", "monitor": "val/acc"}
        },
    }


def build(path: Path, runs: int, groups: int, epochs: int) -> None:
    from sqlalchemy import insert

    from gauntlet.leaderboard.rows import to_row
    from gauntlet.leaderboard.store import Leaderboard
    from gauntlet.leaderboard.tables import history
    from gauntlet.leaderboard.tables import runs as runs_table

    board = Leaderboard.open(f"sqlite:///{path}")
    seeds = max(1, runs // groups)
    rows, epochs_rows = [], []
    for index in range(runs):
        group, seed = index % groups, index // groups
        run_id = f"2026120{seed % 9}-{index:06d}"
        rows.append(
            to_row(
                {
                    "run_id": run_id,
                    "status": "completed",
                    "experiment": f"exp{group % 20}",
                    "model": "cnn",
                    "data": "digits",
                    "seed": seed,
                    "started": f"2026-12-0{1 + seed % 9}T10:{index % 60:02d}:00+00:00",
                    "finished": f"2026-12-0{1 + seed % 9}T11:{index % 60:02d}:00+00:00",
                    "config": config(group, seed),
                    "overrides": [f"seed={seed}", f"+g={group}"],
                    "metrics": {
                        "test/acc": 0.5 + 0.4 * ((group * 7919) % 1000) / 1000 + 0.001 * seed,
                        "test/loss": 1.0 - 0.05 * seed,
                    },
                }
            )
        )
        for epoch in range(epochs):
            epochs_rows.append(
                {
                    "run_id": run_id,
                    "epoch": epoch,
                    "step": 10 * epoch,
                    "metrics": {
                        "train/loss": 1 / (epoch + 1),
                        "val/loss": 1.1 / (epoch + 1),
                        "val/acc": 0.5 + 0.04 * epoch,
                    },
                }
            )
    with board._transaction(write=True) as conn:  # one bulk load, not 20,000 upserts
        conn.execute(insert(runs_table), rows)
        conn.execute(insert(history), epochs_rows)
    board.close()
    del seeds


def writer(url: str, number: int, stop_at: float) -> None:
    from gauntlet.leaderboard.store import Leaderboard

    board = Leaderboard.open(url, settle=False)
    index = 0
    while time.time() < stop_at:
        run_id = f"live-{number}-{index}"
        board.upsert(
            {
                "run_id": run_id,
                "status": "running",
                "experiment": "live",
                "seed": index,
                "config": config(number, index),
                "metrics": {},
            }
        )
        for epoch in range(3):
            board.record_history(run_id, epoch, {"train/loss": 1 / (epoch + 1), "val/acc": 0.5})
            time.sleep(0.2)
        board.upsert({"run_id": run_id, "status": "completed", "metrics": {"test/acc": 0.7}})
        index += 1
    board.close()


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    """(seconds to the first byte, seconds to the whole answer)."""
    start = time.perf_counter()
    with client.stream("GET", path) as response:
        first = None
        for _ in response.iter_bytes():
            if first is None:
                first = time.perf_counter() - start
        response.raise_for_status()
    return first or 0.0, time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="gauntlet-scale-"))
    db = log_dir / "leaderboard.db"
    started = time.perf_counter()
    build(db, args.runs, args.groups, args.epochs)
    built = time.perf_counter() - started
    results: dict = {
        "runs": args.runs,
        "groups": args.groups,
        "epochs": args.epochs,
        "clients": args.clients,
        "writers": args.writers,
        "build_s": built,
        "db_mb": db.stat().st_size / 2**20,
    }
    start = time.perf_counter()
    with serving(log_dir) as base, httpx.Client(base_url=base, timeout=300) as client:
        results["startup_s"] = time.perf_counter() - start  # reads the board before it listens
        results["ttfb_page_s"] = timed(client, "/")[0]
        first, whole = timed(client, "/api/groups")
        results["ttfb_groups_s"], results["groups_s"] = first, whole
        board_start = time.perf_counter()
        timed(client, "/api/groups")
        timed(client, "/api/runs?limit=100")
        results["full_board_s"] = time.perf_counter() - board_start

        stop_at = time.time() + args.seconds
        url = f"sqlite:///{db}"
        writers = [
            multiprocessing.Process(target=writer, args=(url, n, stop_at))
            for n in range(args.writers)
        ]
        for process in writers:
            process.start()
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def reader() -> None:
            with httpx.Client(base_url=base, timeout=300) as own:
                while time.time() < stop_at:
                    for path in ("/api/stamp", "/api/groups", "/api/runs?limit=100"):
                        try:
                            _, took = timed(own, path)
                        except httpx.HTTPError as error:
                            with lock:
                                errors.append(str(error))
                            continue
                        with lock:
                            latencies.append(took)
                    time.sleep(1.0)  # an open page polls about this often

        threads = [threading.Thread(target=reader) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for process in writers:
            process.join()
        results.update(
            requests=len(latencies),
            errors=len(errors),
            p50_s=statistics.median(latencies),
            p95_s=pct(latencies, 0.95),
            max_s=max(latencies),
        )
    rows = [
        (
            "store",
            f"{args.runs} runs, {args.groups} groups, {args.epochs} epochs each "
            f"({results['db_mb']:.0f} MB SQLite)",
        ),
        ("start-up (reads the whole store once, then listens)", f"{results['startup_s']:.1f} s"),
        ("time to first byte, page", f"{results['ttfb_page_s'] * 1000:.0f} ms"),
        ("time to first byte, first /api/groups", f"{results['ttfb_groups_s'] * 1000:.0f} ms"),
        (
            "full board (groups + newest 100 runs), first time",
            f"{results['full_board_s'] * 1000:.0f} ms",
        ),
        (
            f"p50 / p95 / max under {args.clients} clients, {args.writers} writing runs",
            f"{results['p50_s'] * 1000:.0f} / {results['p95_s'] * 1000:.0f} / "
            f"{results['max_s'] * 1000:.0f} ms ({results['requests']} requests, {results['errors']} errors)",
        ),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("GAUNTLET_LEADERBOARD_URL", "")
    main()
