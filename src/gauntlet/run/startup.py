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

The clock is set at the run's edge (``with clock.timing():``); the code it times says only where
a phase is (:func:`phase`, :func:`fitting`, :func:`callback`), which costs nothing where no clock
is set (a benchmark building the same run, a test).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
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
# the clock of the run being started in this thread, if any
_current: ContextVar[StartupClock | None] = ContextVar("gauntlet_startup_clock", default=None)


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
        self._fit_called: float | None = None
        self._train_ended: float | None = None
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

    @contextmanager
    def timing(self) -> Iterator[StartupClock]:
        """Inside, :func:`phase`, :func:`fitting` and :func:`callback` time into this clock."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def phase(name: str) -> AbstractContextManager[None]:
    """Time ``name`` on the current run's clock (nothing where none is set)."""
    clock = _current.get()
    return clock.phase(name) if clock is not None else nullcontext()


@contextmanager
def fitting() -> Iterator[None]:
    """Wraps the call to ``trainer.fit``: with :func:`callback`, it times ``fit_setup`` and
    ``fit_teardown`` on the current run's clock."""
    clock = _current.get()
    if clock is None:
        yield
        return
    clock._fit_called, clock._train_ended = time.perf_counter(), None
    yield
    if clock._train_ended is not None:
        clock.add("fit_teardown", time.perf_counter() - clock._train_ended)


def callback() -> Any:
    """The Lightning callback that sees training start and end for the current run's clock;
    None where no clock is set."""
    import pytorch_lightning as pl

    clock = _current.get()
    if clock is None:
        return None

    class StartupMarks(pl.Callback):
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            if clock._fit_called is not None:
                clock.add("fit_setup", time.perf_counter() - clock._fit_called)
                clock._fit_called = None

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            clock._train_ended = time.perf_counter()

    return StartupMarks()
