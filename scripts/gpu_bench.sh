#!/usr/bin/env bash
# gauntlet bench on a GPU: the gpu_cnn / gpu_rnn / gpu_transformer presets in 32-true and
# bf16-mixed, eager and with torch.compile; then runs per hour with K = 1, 2, 4 and 8 jobs on one
# GPU (launcher=gpu_pool launcher.gpus=[0] launcher.jobs_per_gpu=K). Markdown tables and JSON go
# to $OUT (else logs/bench).
#
#   scripts/gpu_bench.sh            on a machine with CUDA (about 5 minutes on an H200)
#   scripts/gpu_bench.sh --dry-run  the same steps on a CPU, tiny and eager only (a smoke test)
#
# Offline installation: dependencies not already on the machine are wheels (or source archives)
# in .whl/; a dry run installs nothing.
# PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
if [[ "${1:-}" == "--dry-run" ]]; then
    DRY_RUN=1
elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/gpu_bench.sh [--dry-run]" >&2
    exit 2
fi

OUT_DIR="${OUT:-logs/bench}"
mkdir -p "$OUT_DIR"
export WANDB_MODE=offline WANDB_SILENT=true
# generated datasets (MNIST-1D) are cached between the bench invocations, outside $OUT
export GAUNTLET_CACHE_DIR="${GAUNTLET_CACHE_DIR:-$PWD/logs/.cache}"
PY="${PYTHON:-python3}"
if [[ $DRY_RUN == 1 && -z "${PYTHON:-}" && -x .venv/bin/python ]]; then
    PY=.venv/bin/python
fi

# -- install (GPU machine: offline wheels and sdists, then gauntlet itself; not in a dry run) -----
if [[ $DRY_RUN == 0 ]]; then
    if compgen -G ".whl/*.whl" > /dev/null; then
        echo "== installing $(ls .whl/*.whl | wc -l) wheels from .whl/"
        "$PY" -m pip install --quiet --no-index --no-deps .whl/*.whl
    fi
    if [[ -d .whl/deps ]]; then # what those need and the machine lacks (wandb's dependencies)
        "$PY" -m pip install --quiet --no-index --find-links .whl --find-links .whl/deps wandb \
            || echo "== wandb's dependencies are incomplete in .whl/deps"
    fi
    for sdist in .whl/*.tar.gz; do # e.g. antlr4-python3-runtime ships as a source archive
        [[ -e $sdist ]] || continue
        if ! "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation "$sdist"; then
            # pure-Python sources: unpack them and put their src/ on the path
            mkdir -p logs/.deps
            tar -xzf "$sdist" -C logs/.deps
            src=$(find "logs/.deps/$(basename "$sdist" .tar.gz)" -maxdepth 1 -name src -type d)
            export PYTHONPATH="$PWD/${src:-logs/.deps/$(basename "$sdist" .tar.gz)}${PYTHONPATH:+:$PYTHONPATH}"
            echo "== $sdist unpacked onto PYTHONPATH"
        fi
    done
    if ! "$PY" -c "import gauntlet" 2> /dev/null; then
        if "$PY" -c "import setuptools" 2> /dev/null \
            && "$PY" -m pip install --quiet --no-deps --no-build-isolation -e .; then
            echo "== gauntlet installed (editable)"
        else
            echo "== no editable install (setuptools missing or it failed): using PYTHONPATH=src"
            export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
        fi
    fi
fi

# -- the device --------------------------------------------------------------------------------
if [[ $DRY_RUN == 1 ]]; then
    DEVICE="cpu (dry run)"
else
    DEVICE=$("$PY" - << 'EOF'
import sys
import torch

if not torch.cuda.is_available():
    sys.exit("gpu_bench.sh: CUDA is not visible to torch "
             f"{torch.__version__} (built for CUDA {torch.version.cuda}); nothing benchmarked")
print(torch.cuda.get_device_name())
EOF
    )
fi
echo "== device: $DEVICE"
"$PY" -c "import hydra, omegaconf, pytorch_lightning, torchmetrics, mnist1d, sklearn" || {
    echo "gpu_bench.sh: a dependency above does not import; add its wheel to .whl/" >&2
    exit 1
}
NOTE=""
LOGGER=()
if ! "$PY" -c "import wandb" 2> /dev/null; then
    NOTE="wandb does not import here: the full path ran with logger=csv (no wandb)."
    LOGGER=(logger=csv)
    echo "== $NOTE"
fi

# -- the benches -------------------------------------------------------------------------------
if [[ $DRY_RUN == 1 ]]; then
    PRECISIONS=(32-true bf16-mixed)
    COMPILES=(false)
    SIZE=(--steps 4 --rounds 1 trainer.accelerator=cpu data.fraction=0.1 data.batch_size=32
        model.net.hidden=32 model.net.depth=1)
    LIMIT=600
else
    PRECISIONS=(32-true bf16-mixed)
    COMPILES=(false true)
    SIZE=(--steps 150)
    LIMIT=150 # seconds per bench invocation, so the whole script ends in time
fi

RESULTS=()
# BENCH_CASES: precision:compile pairs; BENCH_LIMIT: seconds per bench invocation;
# BENCH_ROUNDS / BENCH_COMPILE_ROUNDS: alternating rounds of an eager / a compiled case;
# BENCH_COMPILE_LIMIT: seconds for a compiled case (default BENCH_LIMIT);
# BENCH_ARGS: more `gauntlet bench` flags, e.g. "--paired"
CASES=()
for compile in "${COMPILES[@]}"; do
    for precision in "${PRECISIONS[@]}"; do CASES+=("$precision:$compile"); done
done
read -r -a CASES <<< "${BENCH_CASES:-${CASES[*]}}"
LIMIT="${BENCH_LIMIT:-$LIMIT}"
COMPILE_LIMIT="${BENCH_COMPILE_LIMIT:-$LIMIT}"
for case in "${CASES[@]}"; do
    precision="${case%%:*}"
    compile="${case##*:}"
    name="bench_${precision}_compile-${compile}"
    rounds=(--rounds "${BENCH_ROUNDS:-3}")
    [[ $compile == true ]] && rounds=(--rounds "${BENCH_COMPILE_ROUNDS:-2}") # each round compiles twice
    limit=$LIMIT
    [[ $compile == true ]] && limit=$COMPILE_LIMIT
    echo "== $name"
    started=$SECONDS
    read -r -a extra <<< "${BENCH_ARGS:-}"
    if timeout "$limit" "$PY" -m gauntlet bench --experiment-prefix gpu_ ${extra[@]+"${extra[@]}"} \
        "${rounds[@]}" "${SIZE[@]}" "trainer.precision=$precision" "model.compile=$compile" ${LOGGER[@]+"${LOGGER[@]}"} \
        --json "$OUT_DIR/$name.json" > "$OUT_DIR/$name.log" 2>&1; then
        RESULTS+=("$OUT_DIR/$name.json")
        grep -E "^(cnn|rnn|transformer): " "$OUT_DIR/$name.log" || true
    else
        echo "   failed or over ${limit}s; the last lines of $OUT_DIR/$name.log:"
        tail -n 5 "$OUT_DIR/$name.log" | sed 's/^/   /'
    fi
    echo "   $((SECONDS - started)) s"
done

# -- several runs sharing the GPU (launcher=gpu_pool on GPU 0) ------------------------------------
# SHARE_JOBS: the jobs_per_gpu settings; SHARE_RUNS: runs per setting; SHARE_LIMIT: seconds each;
# SHARE_MEMORY_FRACTION: each job's cap on the GPU's memory (unset: 0.95 / jobs_per_gpu).
# A dry run places the jobs on "GPU 0" but trains them on the CPU (the pool's placement only).
if [[ $DRY_RUN == 1 ]]; then
    JOBS=(1 2)
    RUNS=2
    SHARE=(experiment=digits_cnn trainer.accelerator=cpu trainer.max_epochs=1 data.fraction=0.1
        data.batch_size=32 model.net.hidden=16 model.net.depth=1)
    SHARE_LIMIT_DEFAULT=300
else
    JOBS=(1 2 4 8)
    RUNS=8
    SHARE=(experiment=digits_cnn_gpu trainer.max_epochs=5)
    SHARE_LIMIT_DEFAULT=240
fi
read -r -a JOBS <<< "${SHARE_JOBS:-${JOBS[*]}}"
RUNS="${SHARE_RUNS:-$RUNS}"
SEEDS=$(seq -s, 1 "$RUNS")
SHARES=()
for jobs in "${JOBS[@]}"; do
    dir="$OUT_DIR/share-$jobs"
    echo "== $RUNS runs, $jobs at a time on one device"
    started=$(date +%s.%N)
    GAUNTLET_GPU_MEMORY_FRACTION="${SHARE_MEMORY_FRACTION:-null}" \
        timeout "${SHARE_LIMIT:-$SHARE_LIMIT_DEFAULT}" "$PY" -m gauntlet train -m \
        launcher=gpu_pool "launcher.gpus=[0]" "launcher.jobs_per_gpu=$jobs" \
        "${SHARE[@]}" ${LOGGER[@]+"${LOGGER[@]}"} test=false "seed=$SEEDS" \
        "paths.log_dir=$dir" "hydra.sweep.dir=$dir/sweep" > "$OUT_DIR/share-$jobs.log" 2>&1 || true
    ended=$(date +%s.%N)
    SHARES+=("$jobs:$started:$ended:$dir/sweep")
    grep -E "jobs: " "$OUT_DIR/share-$jobs.log" | tail -n 1 || tail -n 3 "$OUT_DIR/share-$jobs.log"
done

# -- one table, one JSON -----------------------------------------------------------------------
"$PY" - "$OUT_DIR" "$DEVICE" "$NOTE" ${RESULTS[@]+"${RESULTS[@]}"} << 'EOF'
import datetime
import json
import sys
from pathlib import Path

import torch

from gauntlet.bench.report import markdown_table

out, device, note, files = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [row for f in files for row in json.loads(Path(f).read_text())]
(out / "bench.json").write_text(json.dumps(rows, indent=2) + "\n")
today = datetime.date.today().isoformat()
text = (
    f"gauntlet bench, {today}, {device}, torch {torch.__version__}: steady-state samples/s of "
    "the full training path and of a plain PyTorch loop (same network, batches, optimizer)\n\n"
)
text += markdown_table(rows) if rows else "no bench finished\n"
if note:
    text += f"\n{note}\n"
(out / "bench.md").write_text(text)
print(text)
EOF
"$PY" - "$OUT_DIR" "$DEVICE" ${SHARES[@]+"${SHARES[@]}"} << 'EOF'
import datetime
import json
import sys
from pathlib import Path

out, device, settings = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
def most_at_once(manifests):
    """The most runs the GPU held at once, from the runs' start and end times."""
    events = []
    for m in manifests:
        if m.get("started") and m.get("finished"):
            events += [(m["started"], 1), (m["finished"], -1)]
    most = held = 0
    for _, change in sorted(events):  # same instant: the end first
        held += change
        most = max(most, held)
    return most


rows = []
for setting in settings:
    jobs, started, ended, sweep = setting.split(":", 3)
    manifests = [json.loads(p.read_text()) for p in Path(sweep).glob("*/manifest.json")]
    done = sum(m.get("status") == "completed" for m in manifests)
    wall = float(ended) - float(started)
    rows.append(
        {
            "jobs": int(jobs),
            "runs": done,
            "wall_s": wall,
            "runs_per_hour": done * 3600 / wall,
            "most_at_once": most_at_once(manifests),
            "gpus": sorted({str(m.get("gpu")) for m in manifests}),
        }
    )
one = next((r["runs_per_hour"] for r in rows if r["jobs"] == 1 and r["runs"]), None)
(out / "share.json").write_text(json.dumps(rows, indent=2) + "\n")
today = datetime.date.today().isoformat()
lines = [
    f"Runs per hour with jobs sharing one device, {today}, {device} "
    "(launcher=gpu_pool launcher.gpus=[0] launcher.jobs_per_gpu=K)",
    "",
    "| jobs at once | runs completed | most held at once | wall s | runs/hour | x one job |",
    "|---:|---:|---:|---:|---:|---:|",
]
for r in rows:
    gain = f"{r['runs_per_hour'] / one:.2f}" if one else "-"
    lines.append(
        f"| {r['jobs']} | {r['runs']} | {r['most_at_once']} | {r['wall_s']:.0f} | "
        f"{r['runs_per_hour']:.0f} | {gain} |"
    )
text = "\n".join(lines) + "\n"
(out / "share.md").write_text(text)
print(text)
EOF
[[ ${#RESULTS[@]} -gt 0 ]]
