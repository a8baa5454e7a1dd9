"""The GPU pool's slots: ``jobs_per_gpu`` slots per GPU, each held by one job at a time.

A slot is a lock file in ``<sweep dir>/.gpu_pool/``; the joblib worker that starts a job takes a
free one (``flock``) before forking the job and drops it the moment the job's process ends,
however it ends. The kernel drops the lock of a worker that dies, so a slot is never lost. The
pool has as many workers as slots, so a worker always finds one free.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.sweep.gpu_slot import GPU_ENV, SLOT_ENV

log = logging.getLogger(__name__)

SLOTS_DIR = ".gpu_pool"


@dataclass(frozen=True)
class Slot:
    gpu: str  # the physical GPU, as CUDA_VISIBLE_DEVICES names it
    index: int  # which of the GPU's jobs_per_gpu slots

    def environment(self) -> dict[str, str]:
        return {"CUDA_VISIBLE_DEVICES": self.gpu, GPU_ENV: self.gpu, SLOT_ENV: str(self.index)}


def plan_slots(gpus: Any, jobs_per_gpu: Any, accelerator: str | None) -> list[Slot]:
    """The pool's slots, GPU by GPU within each slot index, so jobs spread over the GPUs first.

    ``gpus`` is "all" or a list of indices as this process numbers its GPUs; without a GPU the
    pool runs only with a given list and ``trainer.accelerator=cpu`` (to try its placement)."""
    if isinstance(jobs_per_gpu, bool) or not isinstance(jobs_per_gpu, int) or jobs_per_gpu < 1:
        raise GauntletError(
            f"launcher.jobs_per_gpu={jobs_per_gpu!r}: expected a whole number >= 1 "
            "(the jobs each GPU holds at once)"
        )
    visible = _visible_gpus()
    if gpus in (None, "all"):
        if not visible:
            raise GauntletError(
                "launcher=gpu_pool: this machine has no GPU that torch can see "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}). "
                "Run the sweep on a GPU machine, or use launcher=joblib on the CPU"
            )
        indices = list(range(len(visible)))
    else:
        indices = _indices(gpus)
        if not visible and str(accelerator or "").lower() != "cpu":
            raise GauntletError(
                f"launcher=gpu_pool: launcher.gpus={list(indices)} but this machine has no GPU "
                "that torch can see. Run the sweep on a GPU machine; on a CPU only the pool's "
                "placement can be tried, with trainer.accelerator=cpu"
            )
        wrong = [i for i in indices if visible and i >= len(visible)]
        if wrong:
            raise GauntletError(
                f"launcher.gpus={list(indices)}: no GPU {wrong[0]} here; this machine's GPUs "
                f"are 0..{len(visible) - 1}"
            )
    physical = [visible[i] if visible else str(i) for i in indices]
    return [Slot(gpu, k) for k in range(jobs_per_gpu) for gpu in physical]


def _indices(gpus: Any) -> list[int]:
    items = [gpus] if isinstance(gpus, (int, str)) else list(gpus)
    try:
        indices = [int(i) for i in items]
    except (TypeError, ValueError):
        indices = []
    if not indices or any(i < 0 for i in indices) or len(set(indices)) != len(indices):
        raise GauntletError(
            f"launcher.gpus={gpus!r}: expected 'all' or a list of distinct GPU indices, "
            "e.g. launcher.gpus=[0,2,3]"
        )
    return indices


def _visible_gpus() -> list[str]:
    """The physical ids of the GPUs this process sees, in torch's order."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    listed = [d for d in listed if d]
    if len(listed) >= count and "CUDA_VISIBLE_DEVICES" in os.environ:
        return listed[:count]
    return [str(i) for i in range(count)]


class SlotLock:
    """Take one free slot of the pool; ``release`` gives it back."""

    def __init__(self, sweep_dir: Path, slots: list[Slot]) -> None:
        self.directory = Path(sweep_dir) / SLOTS_DIR
        self.slots = slots
        self.fd: int | None = None
        self.slot: Slot | None = None

    def acquire(self) -> Slot:
        self.directory.mkdir(parents=True, exist_ok=True)
        waited_since = time.monotonic()
        warned = False
        while True:
            for slot in self.slots:
                fd = os.open(
                    self.directory / f"gpu{slot.gpu}-{slot.index}.lock", os.O_RDWR | os.O_CREAT
                )
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self.fd, self.slot = fd, slot
                return slot
            if not warned and time.monotonic() - waited_since > 30:
                # only a process outside this pool (another sweep into this directory) can hold one
                log.warning("every GPU slot in %s is held; waiting for one", self.directory)
                warned = True
            time.sleep(0.05)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock
            self.fd = None
