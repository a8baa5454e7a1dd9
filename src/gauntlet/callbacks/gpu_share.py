"""Several runs on one GPU: cap each process's share of the GPU's memory.

The ``joblib_gpu`` launcher preset runs ``n_jobs`` jobs at once on ``cuda:0``; ``gpu_pool`` runs
``jobs_per_gpu`` jobs on each GPU. Each job's steps
are short (the presets' models are small), so one run leaves most of a large GPU idle; several
runs fill it. A cap keeps one job's caching allocator from taking the memory the others need:
past its share a job fails with CUDA's out-of-memory error instead of starving its neighbours.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl

from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


# what the jobs of one GPU leave free together: the CUDA contexts live outside the cap
HEADROOM = 0.05


class GPUMemoryShare(pl.Callback):
    """``fraction`` of the device's memory for this process (None: no cap). No-op on a CPU.

    ``jobs_per_gpu`` (the gpu_pool launcher's) sets the share when ``fraction`` is not given:
    (1 - HEADROOM) / jobs_per_gpu, and no cap for a job that has its GPU alone."""

    def __init__(self, fraction: float | None = None, jobs_per_gpu: int | None = None) -> None:
        if fraction is not None and not 0.0 < float(fraction) <= 1.0:
            raise GauntletError(
                f"GAUNTLET_GPU_MEMORY_FRACTION={fraction}: expected a share of the GPU's memory "
                "in (0, 1], e.g. 0.24 for four jobs on one GPU"
            )
        if jobs_per_gpu is not None and (not isinstance(jobs_per_gpu, int) or jobs_per_gpu < 1):
            raise GauntletError(
                f"launcher.jobs_per_gpu={jobs_per_gpu!r}: expected a whole number >= 1"
            )
        if fraction is None and jobs_per_gpu and jobs_per_gpu > 1:
            fraction = (1.0 - HEADROOM) / jobs_per_gpu
        self.fraction = None if fraction is None else float(fraction)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        import torch

        device = trainer.strategy.root_device
        if self.fraction is None or device.type != "cuda":
            return
        torch.cuda.set_per_process_memory_fraction(self.fraction, device)
        log.info("GPU memory: this run may use %.0f%% of %s", 100 * self.fraction, device)
