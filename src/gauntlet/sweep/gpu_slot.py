"""Which GPU a multirun job runs on: the ``gpu_pool`` launcher sets it, the run records it.

The launcher places each job on one GPU and tells the job's process, through its environment,
the physical GPU (:data:`GPU_ENV`, as ``CUDA_VISIBLE_DEVICES`` names it) and the slot on it
(:data:`SLOT_ENV`, 0 .. jobs_per_gpu - 1). Inside the job that GPU is ``cuda:0``, so the run's
own device says nothing of where it ran; its manifest's ``gpu`` and ``gpu_slot`` do.
"""

from __future__ import annotations

import os
from typing import Any

GPU_ENV = "GAUNTLET_GPU"
SLOT_ENV = "GAUNTLET_GPU_SLOT"


def gpu_placement() -> dict[str, Any]:
    """``gpu`` and ``gpu_slot`` for the manifest, or nothing outside a GPU pool."""
    gpu = os.environ.get(GPU_ENV, "").strip()
    if not gpu:
        return {}
    slot = os.environ.get(SLOT_ENV, "").strip()
    return {
        "gpu": int(gpu) if gpu.isdigit() else gpu,
        "gpu_slot": int(slot) if slot.isdigit() else None,
    }
