#!/usr/bin/env bash
# A screenshot of the leaderboard page filled with real runs: 3 models x 2 seeds on digits, two
# epochs each (a few minutes on 2 CPU cores), written to docs/images/leaderboard.png.
#   scripts/leaderboard_screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images/leaderboard.png}
gauntlet=${GAUNTLET:-.venv/bin/gauntlet}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "no chromium on PATH (Debian: apt-get install chromium)" >&2
    exit 1
fi
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export GAUNTLET_LEADERBOARD_URL="" WANDB_MODE=offline
"$gauntlet" train -m model=cnn,rnn,transformer seed=1,2 trainer.max_epochs=2 logger=csv \
    trainer.enable_progress_bar=false "paths.log_dir=$logs" hydra/job_logging=disabled >/dev/null
"$gauntlet" leaderboard --log-dir "$logs" --metric test/acc --metric test/f1 \
    --title "gauntlet leaderboard: digits, 3 models x 2 seeds" --output "$logs/board.html"
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$logs/profile" --window-size=1280,1500 --screenshot="$(realpath -m "$out")" \
    "file://$logs/board.html" 2>/dev/null
echo "wrote $out"
