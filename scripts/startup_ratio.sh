#!/usr/bin/env bash
# Start-up against the libraries' import, interleaved on one machine, one thread:
#   scripts/startup_ratio.sh [ROUNDS] [extra train overrides...]
# Each round times `python -c "import torch, pytorch_lightning, hydra"`, then a default 1-epoch
# `gauntlet train` without test, and prints the median wall time of each and their ratio.
set -euo pipefail
rounds=${1:-5}
shift || true
py=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline WANDB_SILENT=true
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
"$py" - "$rounds" "$logs" "$@" <<'PY'
import statistics, subprocess, sys, time
rounds, logs, extra = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
py = sys.executable
bare = [py, "-c", "import torch, pytorch_lightning, hydra"]
train = [py, "-m", "gauntlet", "train", "trainer.max_epochs=1", "test=false",
         f"paths.log_dir={logs}", *extra]
def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start
timed(bare); timed(train)  # warm the file cache
b, t = [], []
for i in range(rounds):
    pair = [(b, bare), (t, train)] if i % 2 == 0 else [(t, train), (b, bare)]
    for out, cmd in pair:
        out.append(timed(cmd))
    print(f"round {i + 1}: import {b[-1]:.2f} s, train {t[-1]:.2f} s, ratio {t[-1] / b[-1]:.2f}")
mb, mt = statistics.median(b), statistics.median(t)
ratios = [x / y for x, y in zip(t, b)]
print(f"median: import {mb:.2f} s, train {mt:.2f} s, ratio {mt / mb:.2f} "
      f"(per-round ratios {min(ratios):.2f}-{max(ratios):.2f})")
PY
