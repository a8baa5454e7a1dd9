"""``train/loss_step``: the training loss of single steps, when ``trainer.log_every_n_steps``
is set. Lightning writes it to the loggers every that many steps; without the setting gauntlet
logs per epoch only and this callback is not added."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import Callback


class StepLoss(Callback):
    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:  # a step the module skipped
            return
        # the tensor itself: it is read back to the host only on the steps that are written
        pl_module.log(
            "train/loss_step", loss.detach(), on_step=True, on_epoch=False, batch_size=len(batch[1])
        )
