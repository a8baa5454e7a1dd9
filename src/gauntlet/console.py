"""What gauntlet's commands print: the dependencies' chatter that does not apply is silenced.

Each entry names one message and where it arises, so nothing else from that module or logger is
hidden. Measured on pytorch_lightning 2.6.6, wandb 0.31 and torch 2.13.
"""

from __future__ import annotations

import logging
import re
import warnings

# Lightning's device report ("GPU available: False, used: False") and its advertisement for a
# hosted logger, both logged at INFO by its rank-zero logger at every Trainer construction
_LIGHTNING_INFO = "pytorch_lightning.utilities.rank_zero"
_LIGHTNING_NOISE = re.compile(r"(GPU|TPU|HPU) available: |💡 Tip: ")

# (module that warns, message): warnings that say nothing a gauntlet user can act on
_WARNINGS = (
    # Lightning still builds torch's LeafSpec, which torch 2.13 deprecates; harmless (warned
    # from a private module of pytorch_lightning.utilities: its public package is matched)
    ("pytorch_lightning.utilities", r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    # every run has a directory of its own, so the only run that finds checkpoints in its
    # checkpoints/ is a resumed one, which continues them on purpose
    (
        "pytorch_lightning.callbacks.model_checkpoint",
        r"Checkpoint directory .* exists and is not empty",
    ),
    # on a machine with SLURM installed, Lightning hints at every Trainer that `srun` could run
    # this command; gauntlet sends jobs to SLURM with launcher=submitit_slurm (docs/sweeps.md),
    # and a job started that way runs under srun already, where the hint is not given
    (
        "lightning_fabric.plugins.environments.slurm",
        r"The `srun` command is available on your system but is not used",
    ),
    # under DDP, Lightning asks for sync_dist=True on every epoch-level value; the perf/*
    # figures are each process's own, logged from rank zero only (rank_zero_only=True), where
    # a sync would wait forever for ranks that never log. The module's metrics do sync.
    (
        "pytorch_lightning.trainer.connectors.logger_connector.result",
        r"It is recommended to use `self\.log\('perf/",
    ),
)


class _DropMessages(logging.Filter):
    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


def quiet_dependencies() -> None:
    """Silence the messages above; called once per process before any Trainer is built."""
    target = logging.getLogger(_LIGHTNING_INFO)
    if not any(isinstance(f, _DropMessages) for f in target.filters):
        target.addFilter(_DropMessages(_LIGHTNING_NOISE))
    for module, message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


class _LogsAfterSignals:
    """A log handler that a signal handler can log through while it is writing.

    SLURM stops a job with SIGCONT then SIGTERM, and the handlers of both log (submitit's and
    Lightning's). A signal handler runs in the main thread between two bytecodes, so it can
    log while that thread is inside this handler's write; Python's buffered file then refuses
    the nested flush ("reentrant call") and logging prints its traceback. Here a record that
    arrives during a write waits, and is written just after it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._writing = False
        self._waiting: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # handle() holds the handler's lock (re-entrant), so only the writing thread gets here
        if self._writing:
            self._waiting.append(record)
            return
        self._writing = True
        try:
            super().emit(record)  # type: ignore[misc]
            while self._waiting:
                super().emit(self._waiting.pop(0))  # type: ignore[misc]
        finally:
            self._writing = False


class FileHandler(_LogsAfterSignals, logging.FileHandler):
    """The run's log file (``train.log``): :class:`logging.FileHandler`, safe to log to from
    a signal handler."""


class StreamHandler(_LogsAfterSignals, logging.StreamHandler):
    """The console: :class:`logging.StreamHandler`, safe to log to from a signal handler."""
