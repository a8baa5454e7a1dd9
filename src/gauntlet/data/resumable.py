"""A training loader that resumes mid-epoch: its state goes into the checkpoint.

Lightning asks a loader that has ``state_dict``/``load_state_dict`` for its state whenever it
writes a checkpoint, stores it with the loop's own progress, and hands it back before the
first batch after a resume. The state is small: the epoch, the number of batches of that epoch
already trained on, the seed, and the data's layout. Since the order of an epoch is a pure
function of (seed, epoch, layout) (see :mod:`gauntlet.data.epoch_plan`), the resumed loader
starts the same epoch again and leaves out those batches without reading them. A checkpoint
written on another layout (shards packed again with another size) is refused: its batches
would not be the ones skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


class SizedBatches:
    """A sized, re-iterable view of a batch generator: the evaluation splits of the streamed
    datamodules, which have no position to resume."""

    def __init__(self, make: Callable[[], Iterable[Any]], length: int) -> None:
        self.make, self.length = make, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        return iter(self.make())


class ResumableBatches:
    """The batches of one epoch from ``make(epoch, skip)``, ``length(epoch)`` of them.

    ``progress()`` says how many batches of the current epoch have been trained on (the
    trainer's count); ``layout`` identifies the data and its order, and must match on resume.
    """

    def __init__(
        self,
        make: Callable[[int, int], Iterable],
        length: Callable[[int], int],
        epoch: Callable[[], int],
        progress: Callable[[], int],
        seed: int,
        layout: str,
        where: str,
    ) -> None:
        self.make, self.length, self.epoch, self.progress = make, length, epoch, progress
        self.seed, self.layout, self.where = seed, layout, where
        self._resume: dict[str, Any] | None = None

    def __len__(self) -> int:
        return self.length(self.epoch())

    def __iter__(self) -> Iterator:
        epoch, skip = self.epoch(), 0
        if self._resume is not None:
            if int(self._resume["epoch"]) == epoch:
                skip = min(int(self._resume["batches"]), self.length(epoch))
                log.info("resuming epoch %d after its first %d batches", epoch, skip)
            self._resume = None
        return iter(self.make(epoch, skip))

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch(),
            "batches": self.progress(),
            "seed": self.seed,
            "layout": self.layout,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("layout") != self.layout:
            raise GauntletError(
                f"{self.where}: the checkpoint was written while training on another layout of "
                f"the data ({state.get('layout')}, now {self.layout}): the shards were packed "
                "again (another --shard-size or other data), so the batches it trained on "
                "cannot be skipped exactly. Resume on the shards it was trained on, or start a "
                "new run from the checkpoint's weights"
            )
        if int(state.get("seed", self.seed)) != self.seed:
            log.warning(
                "resuming with data seed %s, the checkpoint was written with %s: the rest of "
                "this epoch is drawn in another order",
                self.seed,
                state.get("seed"),
            )
        self._resume = dict(state)


def trainer_hooks(trainer: Any) -> tuple[Callable[[], int], Callable[[], int], int, int]:
    """(epoch, batches trained this epoch, rank, world size) read from a trainer, or a stand-in
    outside one."""
    if trainer is None:
        return (lambda: 0), (lambda: 0), 0, 1

    def progress() -> int:
        # during a checkpoint written at a batch's end, that batch counts as processed
        return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    return (lambda: int(trainer.current_epoch)), progress, trainer.global_rank, trainer.world_size
