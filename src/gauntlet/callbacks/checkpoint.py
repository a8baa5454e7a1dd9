"""Checkpoints written atomically, and the ModelCheckpoint that configs name.

:class:`AtomicCheckpointIO` is the trainer's checkpoint plugin: every checkpoint (``last.ckpt``,
``best.ckpt``) is written to a temporary file in its own directory, flushed to the disk and then
renamed over the old one, so a kill or a full disk during the write leaves the previous good
checkpoint in place. Lightning's own plugin writes through fsspec, whose move from its temporary
directory is a copy when the log directory is on another filesystem.

:class:`ModelCheckpoint` is :class:`gauntlet.compat.lightning.checkpoint.ModelCheckpoint`,
named here because configs (``conf/callbacks/default.yaml``) and recorded runs name it here.
"""

from __future__ import annotations

import io
from typing import Any

from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from gauntlet.compat.lightning.checkpoint import ModelCheckpoint
from gauntlet.run.files import atomic_path

__all__ = ["AtomicCheckpointIO", "ModelCheckpoint"]


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
