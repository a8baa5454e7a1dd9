"""The step clock: one timestamp at every step boundary, reduced to step times afterwards.

A mark costs one ``perf_counter`` (or ``process_time``) on a CPU and one recorded CUDA event on
a GPU, with no synchronisation: the only sync is when the intervals are read, once an epoch or
once a run. The bench and the throughput callback (``perf/*``) both time their steps with it,
so it sits below both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any


@dataclass
class Timing:
    """One run of one path: per-step intervals of the timed window, and the run's wall time."""

    path: str
    step_s: list[float] = field(default_factory=list)
    samples: int = 0
    wall_s: float = 0.0

    @property
    def seconds(self) -> float:
        return sum(self.step_s)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def step_us(self) -> float:
        return self.seconds / len(self.step_s) * 1e6 if self.step_s else float("nan")


class StepClock:
    """Timestamps at step boundaries, kept per epoch with the size of the batch each one ends.

    ``cpu_time`` takes process CPU time instead of wall time: steadier on a CPU that others
    share (a GPU is always timed by CUDA events).
    """

    def __init__(self, device: Any, cpu_time: bool = False) -> None:
        import torch

        self.cuda = device.type == "cuda"
        self._now = time.process_time if cpu_time else time.perf_counter
        self._torch = torch
        self.marks: dict[int, list[Any]] = {}
        self.sizes: dict[int, list[int]] = {}

    def mark(self, epoch: int, size: int = 0) -> None:
        """A step boundary in ``epoch``, ending a batch of ``size`` samples (0 for a start)."""
        if self.cuda:
            stamp = self._torch.cuda.Event(enable_timing=True)
            stamp.record()
        else:
            stamp = self._now()
        self.marks.setdefault(epoch, []).append(stamp)
        self.sizes.setdefault(epoch, []).append(size)

    def intervals(self, epoch: int) -> list[float]:
        """Seconds between consecutive marks of ``epoch``: interval ``i`` ends on mark ``i + 1``."""
        marks = self.marks.get(epoch, [])
        if not self.cuda:
            return [b - a for a, b in pairwise(marks)]
        if marks:
            marks[-1].synchronize()
        return [a.elapsed_time(b) / 1000.0 for a, b in pairwise(marks)]

    def forget(self, epoch: int) -> None:
        self.marks.pop(epoch, None)
        self.sizes.pop(epoch, None)

    def timing(
        self,
        path: str,
        wall_s: float,
        warmup_epochs: int,
        every: int = 1,
        offset: int = 0,
        warmup: bool = False,
    ) -> Timing:
        """The intervals that end on marks ``offset``, ``offset + every``, ... of each epoch
        after the first ``warmup_epochs`` (of every epoch with ``warmup``).

        A clock that both paths of a paired run mark in turn (full, plain, full, ...) gives the
        full path's steps with ``every=2, offset=2`` and the plain loop's with ``every=2,
        offset=3``; the first step of each epoch is left out either way.
        """
        out = Timing(path, wall_s=wall_s)
        for epoch in sorted(self.marks):
            if epoch < warmup_epochs and not warmup:
                continue
            steps, sizes = self.intervals(epoch), self.sizes[epoch]
            for i in range(offset or 1, len(sizes), every):
                out.step_s.append(steps[i - 1])
                out.samples += sizes[i]
        return out
