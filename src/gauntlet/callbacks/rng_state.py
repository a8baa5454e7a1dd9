"""Keeps every random number generator in the checkpoint, so a resumed run is the same run.

Lightning restores the weights, optimizer, scheduler and loop counters; it does not restore the
Python, NumPy and torch (CPU and CUDA) generators, so dropout masks, mixup draws and attack
noise after a resume would differ from those of a run that never stopped. This callback writes
the generators' states into every checkpoint (``checkpoint["gauntlet_rng"]``) and puts them
back at the start of the first training epoch after a resume: the last moment before anything
draws from them.

The batch order needs no generator state: :class:`gauntlet.data.base.TensorBatches` draws each
epoch's permutation from ``(data seed, epoch)``. That pair is stored too
(``checkpoint["gauntlet_data_order"]``), and resuming with another data seed is warned about.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

log = logging.getLogger(__name__)

RNG_KEY = "gauntlet_rng"
DATA_ORDER_KEY = "gauntlet_data_order"


def capture_rng() -> dict[str, Any]:
    """The state of every global generator, as plain values and tensors (loadable with
    ``torch.load(weights_only=True)``)."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(mt_state), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` saved."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
            torch.cuda.set_rng_state_all(cuda)
        else:
            log.warning(
                "the checkpoint holds the RNG states of %d CUDA devices, this machine has %d; "
                "CUDA random draws after the resume will differ from the original run",
                len(cuda),
                torch.cuda.device_count() if torch.cuda.is_available() else 0,
            )


class RNGState(pl.Callback):
    """Saves the generators in every checkpoint and restores them when training resumes.

    Under DDP each rank writes nothing of its own (rank 0 writes the checkpoint), so every rank
    restores rank 0's states; the per-rank batch shares come from the seeded permutation and
    stay exact.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[str, Any] | None = None
        self._saved_order: dict[str, int] | None = None

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[RNG_KEY] = capture_rng()
        order = _data_order(trainer)
        if order is not None:
            checkpoint[DATA_ORDER_KEY] = order

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(RNG_KEY)
        if state is None:
            log.warning(
                "the checkpoint has no RNG states (written without the rng_state callback); "
                "the resumed run will not match an uninterrupted one exactly"
            )
            return
        self._pending = state
        self._saved_order = checkpoint.get(DATA_ORDER_KEY)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(trainer)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # a run resumed in the middle of an epoch starts no epoch (Lightning calls no
        # on_train_epoch_start): the states go back before its first batch instead
        self._restore(trainer)

    def _restore(self, trainer: pl.Trainer) -> None:
        if self._pending is None:
            return
        restore_rng(self._pending)
        self._pending = None
        saved, now = self._saved_order, _data_order(trainer)
        if saved and now and saved.get("seed") != now.get("seed"):
            log.warning(
                "resuming with data seed %s, the checkpoint was written with %s: "
                "the batch order from here on differs from the original run",
                now.get("seed"),
                saved.get("seed"),
            )
        log.info("restored the RNG states saved at epoch %d", trainer.current_epoch)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = None


def _data_order(trainer: pl.Trainer) -> dict[str, int] | None:
    datamodule = getattr(trainer, "datamodule", None)
    seed = getattr(datamodule, "seed", None)
    if seed is None:
        return None
    # the next epoch's permutation is drawn from (seed, epoch); nothing else is needed
    return {"seed": int(seed), "epoch": int(trainer.current_epoch)}
