"""Where a run's start-up goes: the wall time of each phase, as ``perf/startup_<phase>_s``.

The phases, in the order a run meets them:

- ``import``: Python's start, ``gauntlet.cli``, and the import of torch and Lightning (what
  ``python -c "import torch, pytorch_lightning, hydra"`` pays too);
- ``compose``: the rest of the way from the CLI's entry to the run: the command's own imports,
  Hydra's composition and the config checks (``import`` and ``compose`` are the first job's
  of a process only: later multirun jobs share them);
- ``manifest``: the new manifest (run id, git commit, package versions, host);
- ``data``: the datamodule, built and set up (and a generator fitted on it);
- ``network``: the network, the augmentation and the LightningModule;
- ``trainer``: the callbacks, the loggers and the ``Trainer``;
- ``record``: the run's lock, its first manifest write and its leaderboard row;
- ``wandb``: the wandb run's start (where a wandb logger is configured);
- ``fit_setup``: ``trainer.fit`` until training starts (Lightning's set-up: strategy,
  devices, the checkpoint to resume from, the sanity check);
- ``fit_teardown``: the end of training until ``trainer.fit`` returns (the last checkpoint,
  the curves picture, the loggers' last writes).

``perf/startup_s`` (the throughput callback) is the whole way from the process start to the
first step. The figures land in the manifest's metrics and the leaderboard row, so a slower
start-up shows in any run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PREFIX = "perf/startup_"
# every phase a run may record, in order (``import`` and ``compose`` through the CLI only,
# ``wandb`` with a wandb logger)
PHASES = (
    "import",
    "compose",
    "manifest",
    "data",
    "network",
    "trainer",
    "record",
    "wandb",
    "fit_setup",
    "fit_teardown",
)
# set by the CLI as it starts a command: the end of `import`, the start of `compose`
_entered_at: float | None = None


def mark_entry(entered: bool = True) -> None:
    """The CLI's entry: what came before it is ``import``, what follows it ``compose``.
    ``entered=False`` forgets it as the command ends, so no later run in the process claims it."""
    global _entered_at
    _entered_at = time.time() if entered else None


class StartupClock:
    """The seconds each phase took, added up by name (see the module docstring)."""

    def __init__(self, libraries_s: float = 0.0) -> None:
        """``libraries_s``: the seconds spent importing torch and Lightning since the entry."""
        self.seconds: dict[str, float] = {}
        global _entered_at
        if _entered_at is not None:
            from gauntlet.callbacks.throughput import process_start_time

            started, now = process_start_time(), time.time()
            if started is not None:
                self.seconds["import"] = max(0.0, _entered_at - started) + libraries_s
            self.seconds["compose"] = max(0.0, now - _entered_at - libraries_s)
            _entered_at = None  # later jobs of a multirun did not compose in this time

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def metrics(self) -> dict[str, float]:
        return {f"{PREFIX}{name}_s": round(s, 4) for name, s in self.seconds.items()}


class FitMarks:
    """Times ``fit_setup`` and ``fit_teardown`` into ``clock``: :meth:`fitting` wraps the call
    to ``trainer.fit``, :meth:`callback` is the callback that sees its first and last steps."""

    def __init__(self, clock: StartupClock) -> None:
        self.clock = clock
        self._called: float | None = None
        self._train_ended: float | None = None

    @contextmanager
    def fitting(self) -> Iterator[None]:
        self._called, self._train_ended = time.perf_counter(), None
        yield
        if self._train_ended is not None:
            self.clock.add("fit_teardown", time.perf_counter() - self._train_ended)

    def callback(self) -> Any:
        import pytorch_lightning as pl

        marks, clock = self, self.clock

        class StartupMarks(pl.Callback):
            def on_train_start(self, trainer, pl_module) -> None:
                if marks._called is not None:
                    clock.add("fit_setup", time.perf_counter() - marks._called)
                    marks._called = None

            def on_train_end(self, trainer, pl_module) -> None:
                marks._train_ended = time.perf_counter()

        return StartupMarks()
