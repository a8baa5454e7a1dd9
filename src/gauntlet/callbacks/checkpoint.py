"""Checkpoints written atomically, and ModelCheckpoint without per-step work.

:class:`AtomicCheckpointIO` is the trainer's checkpoint plugin: every checkpoint (``last.ckpt``,
``best.ckpt``) is written to a temporary file in its own directory, flushed to the disk and then
renamed over the old one, so a kill or a full disk during the write leaves the previous good
checkpoint in place. Lightning's own plugin writes through fsspec, whose move from its temporary
directory is a copy when the log directory is on another filesystem.

:class:`ModelCheckpoint` is Lightning's, without per-step work when it saves only at epoch ends.

Lightning names every callback hook it runs, on every step, by the callback's ``state_key``;
ModelCheckpoint's key is the ``repr`` of a dict of its settings, rebuilt on each of those calls
(about seven per training step). The settings it is made of are fixed at construction, so this
subclass keeps the first result. The class keeps Lightning's name, so the key, and so the
checkpoints it writes and reads, are exactly Lightning's.

Its batch-end hook also returns at once when neither ``every_n_train_steps`` nor
``train_time_interval`` is set, which is where Lightning's own checks would end anyway.
"""

from __future__ import annotations

import io
from typing import Any

from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint as LightningModelCheckpoint

from gauntlet.run.files import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        import torch

        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        # serialised in memory first (as Lightning does): a full disk then fails in Python's
        # write, with an OSError that names the errno, not in torch's C++ stream
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(buffer.getbuffer())


class ModelCheckpoint(LightningModelCheckpoint):
    _cached_state_key: str | None = None

    @property
    def state_key(self) -> str:
        if self._cached_state_key is None:
            self._cached_state_key = super().state_key
        return self._cached_state_key

    def on_train_batch_end(self, trainer, pl_module, outputs, batch: Any, batch_idx: int) -> None:
        if self._every_n_train_steps < 1 and self._train_time_interval is None:
            return  # saves only at epoch ends
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
