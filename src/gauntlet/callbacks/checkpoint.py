"""ModelCheckpoint with its state key computed once.

Lightning names every callback hook it runs, on every step, by the callback's ``state_key``;
ModelCheckpoint's key is the ``repr`` of a dict of its settings, rebuilt on each of those calls
(about seven per training step). The settings it is made of are fixed at construction, so this
subclass keeps the first result. The class keeps Lightning's name, so the key, and so the
checkpoints it writes and reads, are exactly Lightning's.
"""

from __future__ import annotations

from pytorch_lightning.callbacks import ModelCheckpoint as LightningModelCheckpoint


class ModelCheckpoint(LightningModelCheckpoint):
    _cached_state_key: str | None = None

    @property
    def state_key(self) -> str:
        if self._cached_state_key is None:
            self._cached_state_key = super().state_key
        return self._cached_state_key
