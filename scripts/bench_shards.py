"""Benchmarks of data=shards: the memory bound and the throughput (figures in docs/data.md).

    python scripts/bench_shards.py memory --gb 2 --work /tmp/shards-bench
    python scripts/bench_shards.py throughput --mb 200 --work /tmp/shards-bench

``memory`` packs ``--gb`` of random 3x32x32 images (10 classes) into shards, then trains one
epoch on them and on a tiny pack of the same shape; the peak memory of the whole process tree
(the run and its DataLoader workers: their proportional set sizes summed, so pages a forked
worker shares with its parent count once; sampled every 20 ms from /proc) is reported for both,
and their difference is what the data costs beyond the libraries.

``throughput`` trains one epoch on ``--mb`` of such images held in memory (data=arrays) and
from shards with 0..3 DataLoader workers, and reports each run's samples per second
(``perf/samples_per_s``, the mean over the epoch's timed steps).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SHAPE = (3, 32, 32)
TRAIN = [
    "logger=csv",
    "model=cnn",
    "model.net.hidden=8",
    "model.net.depth=1",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "test=true",
]


def write_arrays(path: Path, samples: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = np.lib.format.open_memmap(
        path.with_suffix(".x.npy"), mode="w+", dtype=np.float32, shape=(samples, *SHAPE)
    )
    for start in range(0, samples, 4096):
        stop = min(samples, start + 4096)
        x[start:stop] = rng.random((stop - start, *SHAPE), dtype=np.float32)
    x.flush()
    np.save(path.with_suffix(".y.npy"), np.arange(samples) % 10)
    return path


def gauntlet(*args: str, env: dict | None = None) -> tuple[float, int]:
    """Run ``gauntlet ARGS``; (peak summed PSS of its process tree in MB, exit code)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gauntlet", *args],
        env={**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": "", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = proc.communicate()
    watcher.join()
    if proc.returncode:
        print(err[-3000:], file=sys.stderr)
    return peak[0], proc.returncode


def tree_rss_mb(pid: int) -> float:
    """The proportional set size (PSS) of ``pid`` and its descendants, summed: DataLoader workers
    are forked, and their pages shared with the parent count once, not once per process."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total / 1024


def pack(work: Path, name: str, samples: int, shard_size: str) -> Path:
    out = work / f"{name}-shards"
    if (out / "pack.json").is_file():  # packed by an earlier run of this script
        return out
    arrays = write_arrays(work / f"{name}.npz", samples)
    peak, code = gauntlet(
        "data", "pack", "--to", str(out), "--shard-size", shard_size, "data=arrays",
        f"data.path={arrays.with_suffix('.x.npy')}", f"data.labels={arrays.with_suffix('.y.npy')}",
    )  # fmt: skip
    assert code == 0, "pack failed"
    size = sum(f.stat().st_size for f in out.rglob("*.arrow")) / 2**20
    print(f"packed {name}: {samples} samples, {size:,.0f} MB of shards (pack peak {peak:,.0f} MB)")
    return out


def train_on(work: Path, run: str, *data: str) -> tuple[float, dict]:
    run_dir = work / "runs" / run
    peak, code = gauntlet(
        "train", *data, *TRAIN, f"hydra.run.dir={run_dir}", f"paths.log_dir={work / 'logs'}",
        env={"GAUNTLET_NUM_THREADS": "1"},
    )  # fmt: skip
    assert code == 0, f"{run} failed"
    return peak, json.loads((run_dir / "manifest.json").read_text())["metrics"]


def memory(args: argparse.Namespace) -> None:
    sample_mb = int(np.prod(SHAPE)) * 4 / 2**20
    big = pack(args.work, "big", int(args.gb * 1024 / sample_mb), args.shard_size)
    tiny = pack(args.work, "tiny", 2000, "1MB")
    rows = []
    for name, shards in (("tiny", tiny), ("big", big)):
        peak, metrics = train_on(
            args.work, f"memory-{name}", "data=shards", f"data.path={shards}",
            f"data.batch_size={args.batch_size}", f"data.num_workers={args.workers}",
        )  # fmt: skip
        rows.append((name, peak, metrics.get("perf/samples_per_s", float("nan"))))
    print("\n| shards | peak PSS of the run and its workers (MB) | samples/s |\n|---|---|---|")
    for name, peak, speed in rows:
        print(f"| {name} | {peak:,.0f} | {speed:,.0f} |")
    print(f"\nthe data beyond the libraries: {rows[1][1] - rows[0][1]:,.0f} MB")


def throughput(args: argparse.Namespace) -> None:
    sample_mb = int(np.prod(SHAPE)) * 4 / 2**20
    samples = int(args.mb / sample_mb)
    shards = pack(args.work, "speed", samples, "16MB")
    arrays = args.work / "speed.x.npy"
    runs = [("in memory (data=arrays)", ["data=arrays", f"data.path={arrays}",
             f"data.labels={args.work / 'speed.y.npy'}"])]  # fmt: skip
    for workers in range(args.max_workers + 1):
        runs.append(
            (
                f"shards, {workers} workers",
                ["data=shards", f"data.path={shards}", f"data.num_workers={workers}"],
            )
        )
    print(f"\n{samples} samples of {SHAPE}\n\n| data | samples/s |\n|---|---|")
    for round_ in range(args.rounds):  # interleaved, so a busy machine weighs on all alike
        for i, (name, data) in enumerate(runs):
            _, metrics = train_on(
                args.work, f"speed-{round_}-{i}", *data, f"data.batch_size={args.batch_size}"
            )
            print(f"| {name} (round {round_ + 1}) | {metrics['perf/samples_per_s']:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["memory", "throughput"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/shards-bench"))
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--shard-size", default="64MB")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-workers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    {"memory": memory, "throughput": throughput}[args.what](args)


if __name__ == "__main__":
    main()
