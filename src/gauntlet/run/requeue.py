"""A SLURM job that is preempted or requeued comes back as the same run.

Lightning's SLURM support does most of it: with ``--signal=USR1@90`` (the ``submitit_slurm``
preset's ``additional_parameters``) its ``SLURMEnvironment`` saves ``hpc_ckpt_N.ckpt`` in the run
directory and asks SLURM to requeue the job before it is stopped. SLURM then stops the job with
SIGTERM (so does ``scontrol requeue``, and preemption in requeue mode) and runs the same batch
script again later: with submitit, the same Hydra job in the same run directory.

What this module adds, the gaps Lightning leaves:

- the run records its SLURM job id (``slurm_job_id``), so the restarted job knows the run in
  its directory is its own;
- on that SIGTERM the run is recorded ``requeued`` (not ``failed``): SLURM has already counted
  the restart (``scontrol show job``'s ``Restarts`` is above this process's
  ``SLURM_RESTART_COUNT``), which a plain ``scancel`` does not do;
- a SIGTERM that lands before the run's record takes it over (while the run is being built)
  ends the process: submitit's job environment otherwise ignores it, and the run would train
  to its end under a job that SLURM has already requeued, then run again;
- a restarted job whose run had already completed (the requeue landed after its end) trains
  nothing again: it reports the recorded result;
- the restarted job continues that run (same run_id, manifest, leaderboard row and wandb run)
  from its newest checkpoint, ``checkpoints/last.ckpt`` or Lightning's ``hpc_ckpt_N.ckpt``,
  with no ``ckpt_path`` from the user.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JOB_FIELD = "slurm_job_id"
# set by the run's SIGTERM handler when SLURM is requeueing this job: whatever error ends the
# run after that (SLURM signals every process of the job, the wandb service too) it is requeued
_requeued: list[str] = []
# Lightning's name for the checkpoint it saves on SLURM's signal, in the trainer's root dir
HPC_CHECKPOINTS = "hpc_ckpt_*.ckpt"


def slurm_job() -> str | None:
    """This process's SLURM job, or None outside SLURM. An array task is named
    ``ARRAYID_TASK``: its bare ``SLURM_JOB_ID`` can be the array's own id, which ``scontrol
    requeue`` (or ``scancel``) reads as every task of the array."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def restarts_so_far() -> int:
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    except ValueError:
        return 0


def job_fields() -> dict[str, Any]:
    """What the manifest records of the SLURM job running the run (nothing outside SLURM)."""
    job = slurm_job()
    return {JOB_FIELD: job} if job else {}


def is_requeue_of(previous: dict[str, Any]) -> bool:
    """Whether this process is the restart of the SLURM job that ran ``previous`` (a manifest
    found in the run directory) before it was requeued."""
    job = slurm_job()
    return (
        job is not None
        and previous.get(JOB_FIELD) == job
        and restarts_so_far() > 0
        and previous.get("status") != "completed"
    )


def requeue_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint a requeued run continues from: its last.ckpt or Lightning's hpc
    checkpoint (saved on SLURM's signal, mid-epoch), whichever was written last."""
    candidates = [run_dir / "checkpoints" / "last.ckpt", *run_dir.glob(HPC_CHECKPOINTS)]
    found = [path for path in candidates if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def requeued_reason() -> str | None:
    """On SIGTERM: why, when SLURM is requeueing this job (else None, as for ``scancel``)."""
    job = slurm_job()
    scontrol = shutil.which("scontrol")
    if job is None or scontrol is None:
        return None
    try:
        shown = subprocess.run(
            [scontrol, "show", "job", job, "--oneliner"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("could not ask SLURM whether job %s is requeued: %s", job, err)
        return None
    found = re.search(r"\bRestarts=(\d+)", shown)
    if found is None or int(found.group(1)) <= restarts_so_far():
        return None
    return (
        f"requeued by SLURM (job {job}, restart {found.group(1)}); it continues as this run "
        "from its last checkpoint when the job starts again"
    )


def notice_sigterm() -> None:
    """From the run's SIGTERM handler: remember whether SLURM is requeueing this job."""
    if slurm_job() is not None and not _requeued:
        reason = requeued_reason()
        if reason:
            _requeued.append(reason)


def requeued() -> str | None:
    """Why this run stops, when a SIGTERM came from SLURM requeueing its job; else None."""
    return _requeued[0] if _requeued else None


def finished_before_requeue(run_dir: Path) -> dict[str, Any] | None:
    """The manifest of the run this restarted SLURM job had already completed (SLURM requeued
    it after the run's end, during its last seconds), or None: the job has nothing to train."""
    from gauntlet.run.manifest import MANIFEST, read_manifest

    job = slurm_job()
    if job is None or restarts_so_far() == 0 or not (run_dir / MANIFEST).is_file():
        return None
    previous = read_manifest(run_dir)
    if previous.get(JOB_FIELD) == job and previous.get("status") == "completed":
        return previous
    return None


def stop_on_sigterm_until_recorded() -> None:
    """Until the run's record installs its own SIGTERM handler, a SIGTERM ends the process as
    it would by default, after noting whether SLURM is requeueing the job.

    Under submitit the inherited handler only logs "Bypassing signal SIGTERM": a requeue that
    lands while the run is being built would be ignored, the run would train to its end, and
    the requeued job would then start it again.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        notice_sigterm()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
