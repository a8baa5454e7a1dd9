"""Checkpoints written in the background, in order, atomically: the loop does not wait for them.

A checkpoint's write (serialise, write, flush to the disk, rename) takes tens of milliseconds for
the presets here, twice an epoch when the best improves (best and last), which is as long as a
digits epoch's steps. :class:`AsyncCheckpointIO` takes a copy of the checkpoint's tensors on the
CPU where the loop asks for it (so later steps cannot change what is written; on a GPU the copy
leaves the device) and hands the write to one worker thread:

- writes and removals run in the order they were asked for, so ``best.ckpt``'s old file is never
  removed before its new one is on disk;
- each write is :class:`~gauntlet.callbacks.checkpoint.AtomicCheckpointIO`'s, so a kill leaves
  the previous good file; a run killed with a write pending resumes from the one before, exactly;
- the first failed write (a full disk) stops all later ones and is raised once, in the loop, at
  the next checkpoint or when fit ends; raised at fit's end while another error is already
  ending the run, it is logged instead, so the first cause stays the run's error;
- fit's end (Lightning's teardown) waits for every write, so ``trainer.test`` and the run's
  record find the files complete.

Lightning's own ``AsyncCheckpointIO`` (2.6) copies on the device, removes files without waiting
for earlier writes, and can raise a second error while the first ends the run.
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gauntlet.callbacks.checkpoint import AtomicCheckpointIO

log = logging.getLogger(__name__)


def _cpu_copy(checkpoint: dict[str, Any]) -> dict[str, Any]:
    import torch
    from lightning_utilities.core.apply_func import apply_to_collection

    # containers are rebuilt too, so a list the run goes on appending to is copied as it is now
    return apply_to_collection(checkpoint, torch.Tensor, lambda t: t.detach().to("cpu", copy=True))


class AsyncCheckpointIO(AtomicCheckpointIO):
    def __init__(self) -> None:
        super().__init__()
        self._executor: ThreadPoolExecutor | None = None
        self._error: BaseException | None = None
        self._raised = False

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        self._raise_failure()
        self._submit(
            AtomicCheckpointIO.save_checkpoint, _cpu_copy(checkpoint), path, storage_options
        )

    def remove_checkpoint(self, path: Any) -> None:
        self._raise_failure()
        self._submit(AtomicCheckpointIO.remove_checkpoint, path)

    def teardown(self) -> None:
        self.wait()
        if self._error is not None and not self._raised and sys.exc_info()[1] is not None:
            self._raised = True  # the run is already ending on another error: keep that one
            log.error("a checkpoint could not be written: %s", self._error)
        self._raise_failure()

    def wait(self) -> None:
        """Block until every write asked for so far is done."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _submit(self, method: Any, *args: Any) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="gauntlet-checkpoint")

        def work() -> None:
            if self._error is not None:
                return  # after a failed write, nothing more is written
            try:
                method(self, *args)
            except BaseException as err:
                self._error = err

        self._executor.submit(work)

    def _raise_failure(self) -> None:
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error
