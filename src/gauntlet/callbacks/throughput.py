"""Throughput: samples/s, step time, peak memory and epoch wall time, logged once per epoch.

Per step it only takes a timestamp with the step clock the bench also uses,
:class:`~gauntlet.clock.StepClock`: ``time.perf_counter`` on CPU, a CUDA event on GPU (no
synchronisation), so it costs next to nothing. Everything is reduced at the end of the epoch:

- ``perf/step_ms``: median time of one training step (batch end to batch end, so data loading
  and the loop's own work are inside it), warm-up steps excluded;
- ``perf/samples_per_s``: samples of the timed steps over their total time, times the world
  size (every rank trains an equal share);
- ``perf/peak_mem_mb``: CUDA max allocated on a GPU, the process's max RSS on a CPU;
- ``perf/epoch_s``: the epoch's wall time, validation included;
- ``perf/effective_batch_size``: batch size x gradient accumulation x world size;
- ``perf/startup_s`` (first epoch only, where the OS says when the process started): seconds
  from the start of the process to the first training step, imports included, and
  ``perf/startup_cpu_s``, the CPU time the process spent on the way (steadier on a busy machine).
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from typing import Any

import pytorch_lightning as pl
import torch

from gauntlet.clock import StepClock

log = logging.getLogger(__name__)


def batch_size_of(batch: Any) -> int:
    """The number of samples in a batch: the leading size of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            size = batch_size_of(item)
            if size:
                return size
    return 0


def cpu_peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def process_start_time() -> float | None:
    """When this process started (epoch seconds), from /proc on Linux; None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            # field 22, starttime, in clock ticks since boot; fields restart after the ")"
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Throughput(pl.Callback):
    """Logs ``perf/*`` at the end of every training epoch; see the module docstring."""

    def __init__(self, warmup_steps: int = 3) -> None:
        if warmup_steps < 0:
            from gauntlet.errors import GauntletError

            raise GauntletError(
                f"callbacks.throughput.warmup_steps={warmup_steps}: expected an integer >= 0"
            )
        self.warmup_steps = warmup_steps
        self.history: list[dict[str, float]] = []
        self._cuda: torch.device | None = None
        self._clock: StepClock | None = None
        self._steps_seen = 0
        self._epoch_start = 0.0
        self._startup_s: float | None = None
        self._startup_cpu_s = 0.0

    # -- per step: one timestamp -----------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        device = trainer.strategy.root_device
        self._cuda = device if device.type == "cuda" else None
        self._clock = StepClock(device)
        if self._cuda is not None:
            torch.cuda.reset_peak_memory_stats(self._cuda)
        self._steps_seen = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._clock.forget(trainer.current_epoch)
        self._epoch_start = time.perf_counter()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        epoch = trainer.current_epoch
        if epoch not in self._clock.marks:
            self._clock.mark(epoch)  # the first step is timed from its start
            if self._steps_seen == 0 and self._startup_s is None:
                started = process_start_time()
                self._startup_s = time.time() - started if started is not None else None
                self._startup_cpu_s = time.process_time()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._clock.mark(trainer.current_epoch, batch_size_of(batch))

    # -- per epoch: reduce and log ---------------------------------------------------------
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        steps = self._clock.intervals(epoch)
        sizes = self._clock.sizes.get(epoch, [])[1:]  # the first mark is the first step's start
        self._clock.forget(epoch)
        if not steps:
            return
        # warm-up (first steps of the run: compilation, allocator, caches) is not steady state
        skip = max(0, self.warmup_steps - self._steps_seen)
        self._steps_seen += len(steps)
        timed, timed_sizes = steps[skip:], sizes[skip:]
        if not timed:  # an epoch shorter than the warm-up: its last step is the best estimate
            timed, timed_sizes = steps[-1:], sizes[-1:]
        world = trainer.world_size
        batch = getattr(trainer.datamodule, "batch_size", None) or max(sizes)
        peak = (
            torch.cuda.max_memory_allocated(self._cuda) / 2**20
            if self._cuda is not None
            else cpu_peak_rss_mb()
        )
        values = {
            "perf/samples_per_s": sum(timed_sizes) / max(sum(timed), 1e-12) * world,
            "perf/step_ms": statistics.median(timed) * 1000.0,
            "perf/peak_mem_mb": peak,
            "perf/epoch_s": time.perf_counter() - self._epoch_start,
            "perf/effective_batch_size": float(batch * trainer.accumulate_grad_batches * world),
        }
        if self._startup_s is not None and not self.history:
            values["perf/startup_s"] = self._startup_s
            values["perf/startup_cpu_s"] = self._startup_cpu_s
        self.history.append({"epoch": trainer.current_epoch, **values})
        # every rank computes its own figures; logging them from rank zero needs no sync
        pl_module.log_dict(values, rank_zero_only=True)
