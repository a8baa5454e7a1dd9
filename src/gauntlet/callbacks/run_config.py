"""Writes the run's resolved config into every checkpoint, so a checkpoint is all eval needs.

``gauntlet eval``, ``explain``, ``attack`` and a resume's model check read it back from
``checkpoint["gauntlet_config"]`` and rebuild the data and the model from it. The training
entry point adds this callback itself, whatever the ``callbacks`` group holds, and gives it the
manifest's (redacted) config: a checkpoint carries no secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl

CONFIG_KEY = "gauntlet_config"


class RunConfig(pl.Callback):
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config
