"""A trial leads back to its gauntlet run: the run's ``run_id`` as the trial's user attribute.

Optuna's own tools (``optuna trials``, optuna-dashboard) read the storage alone; with
``run_id`` there, a trial names the run to look up (``gauntlet leaderboard``, ``reproduce``).
The id is read from the manifest the job wrote in its output directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna

RUN_ID = "run_id"


def set_run_id(trial: optuna.trial.Trial, output_dir: str | None) -> None:
    """Store the run id of the job that ran in ``output_dir``, when it wrote a manifest."""
    if output_dir is None:
        return
    try:
        run_id = json.loads((Path(output_dir) / "manifest.json").read_text()).get("run_id")
    except (OSError, ValueError):
        return  # the job stopped before its run started: nothing to lead back to
    if run_id:
        trial.set_user_attr(RUN_ID, str(run_id))
