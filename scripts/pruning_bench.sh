#!/usr/bin/env bash
# Parallel pruning against none: the same Optuna search of cnn_optuna (TPE, seed 1234), N trials,
# JOBS at a time on joblib workers, once with PRUNER (asha: Optuna's successive halving) and
# once without pruning. Prints the wall time, the trials completed and pruned, and the best
# val/acc_best of each; each search's files stay in $OUT (default logs/pruning_bench).
#
#   scripts/pruning_bench.sh [TRIALS] [JOBS] [PRUNER] [extra overrides...]   (16 2 asha)
# NONE_FIRST=1 runs the unpruned search first (to pair two invocations in both orders).
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-16}
jobs=${2:-2}
pruner=${3:-asha}
shift $(($# < 3 ? $# : 3))
py=${PYTHON:-.venv/bin/python}
out=${OUT:-logs/pruning_bench}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 WANDB_MODE=offline WANDB_SILENT=true
export GAUNTLET_LEADERBOARD_URL="sqlite:///$PWD/$out/leaderboard.db"
unset GAUNTLET_OPTUNA_STORAGE
mkdir -p "$out"
rows=()
order=("$pruner" none)
[[ ${NONE_FIRST:-0} == 1 ]] && order=(none "$pruner")
for setting in "${order[@]}"; do
    dir="$out/$setting"
    rm -rf "$dir"
    started=$(date +%s.%N)
    "$py" -m gauntlet train -m hparams_search=cnn_optuna launcher=joblib \
        "hydra.launcher.n_jobs=$jobs" "hydra.sweeper.n_jobs=$jobs" "hydra.sweeper.n_trials=$trials" \
        "hydra.sweeper.pruner.name=$setting" trainer.enable_progress_bar=false "$@" \
        "paths.log_dir=$dir" "hydra.sweep.dir=$dir/sweep" > "$dir.log" 2>&1 || true
    ended=$(date +%s.%N)
    rows+=("$setting:$started:$ended:$dir/sweep")
done
"$py" - "$trials" "$jobs" "${rows[@]}" <<'PY'
import datetime
import sys

from omegaconf import OmegaConf

trials, jobs, settings = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"cnn_optuna, {trials} trials, {jobs} at a time (launcher=joblib), {datetime.date.today()}")
print("| pruner | wall s | completed | pruned | failed | best val/acc_best |")
print("|---|---:|---:|---:|---:|---:|")
for setting in settings:
    name, started, ended, sweep = setting.split(":", 3)
    res = OmegaConf.load(f"{sweep}/optimization_results.yaml")
    count = dict(res.trials)
    best = res.get("best_value")
    print(
        f"| {name} | {float(ended) - float(started):.0f} | {count.get('COMPLETE', 0)} | "
        f"{count.get('PRUNED', 0)} | {count.get('FAIL', 0)} | "
        f"{'-' if best is None else f'{best:.4f}'} |"
    )
PY
