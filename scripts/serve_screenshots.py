"""Screenshots of `gauntlet serve` filled with real runs, for the README: the board and a run's
page, written to docs/images/serve_board.png and docs/images/serve_run.png.

    .venv/bin/python scripts/serve_screenshots.py [LOG_DIR]

Trains a digits CNN with two dropouts x three seeds, four epochs each (a few minutes on two CPU
cores) unless LOG_DIR already holds runs, serves them on a free port, and drives headless
Chromium (Debian: apt-get install chromium) over the DevTools protocol.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from cdp import chromium  # noqa: E402
from serve_helpers import serving  # noqa: E402


def main() -> None:
    logs = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    env = {**os.environ, "GAUNTLET_LEADERBOARD_URL": "", "WANDB_MODE": "offline"}
    if not (logs / "leaderboard.db").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gauntlet",
                "train",
                "-m",
                "model.net.dropout=0.1,0.3",
                "seed=1,2,3",
                "trainer.max_epochs=4",
                "logger=csv",
                "sweep=dropout",
                "trainer.enable_progress_bar=false",
                f"paths.log_dir={logs}",
                "hydra/job_logging=disabled",
            ],
            check=True,
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )
    images = REPO / "docs" / "images"
    with serving(logs) as base, chromium(1280, 1000) as browser:
        browser.open(base + "/")
        browser.wait_for("document.querySelectorAll('tr[data-run]').length > 0")
        browser.screenshot(images / "serve_board.png")
        run_id = browser.evaluate("document.querySelector('tr[data-run]').getAttribute('data-run')")
        browser.open(f"{base}/runs/{run_id}")
        browser.wait_for("document.querySelectorAll('#curves polyline.series').length >= 4")
        browser.screenshot(images / "serve_run.png")
    print(f"wrote {images / 'serve_board.png'} and {images / 'serve_run.png'} from {logs}")


if __name__ == "__main__":
    main()
