"""ClassifierModule: trains any Network with its injected optimizer, scheduler and tricks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from gauntlet.compat.lightning.trainer import attached_trainer
from gauntlet.errors import GauntletError
from gauntlet.models.base import Network
from gauntlet.models.build import check_factory, parameters
from gauntlet.models.compile import compile_network
from gauntlet.models.mixing import build_mixing

log = logging.getLogger(__name__)

# what configure_optimizers passes a scheduler itself (total_steps: when the config leaves it out)
SCHEDULER_SUPPLIED = ("optimizer", "total_steps")
# schedulers whose steps count batches, not epochs
STEP_SCHEDULERS = ("OneCycleLR", "CyclicLR")


def build_adversarial(settings: Mapping[str, Any] | None) -> Any | None:
    """The adversarial training step from the ``model.adversarial`` node; None when ``attack``
    is null."""
    if settings is None:
        return None
    if not isinstance(settings, Mapping):
        raise GauntletError(
            f"model.adversarial: expected its settings (attack fgsm|pgd or null, eps, ratio, "
            f"steps), got {type(settings).__name__}; e.g. model.adversarial.attack=fgsm"
        )
    if not settings.get("attack"):
        return None
    from gauntlet.models.adversarial import AdversarialTraining

    return AdversarialTraining(**dict(settings))


class ClassifierModule(pl.LightningModule):
    """One ``model_step`` serves train, val and test; metrics are torchmetrics objects.

    Per epoch it logs ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``val/acc_best``
    (all epoch means, measured the same way), the generalisation gap ``gap/loss`` (val - train)
    and ``gap/acc`` (train - val), and keeps them as rows in ``history`` for the curves and the
    overfitting monitor. Test logs ``test/loss``, ``test/acc`` and ``test/f1``.

    ``mixup`` / ``cutmix`` are the ``model.mixup`` / ``model.cutmix`` nodes (``alpha``; 0 = off):
    the loss is then taken on soft targets while accuracy stays against the hard labels.
    ``adversarial`` is the ``model.adversarial`` node (``attack`` fgsm|pgd or null, ``eps``,
    ``ratio``, ``steps``). ``mixing`` is read only from the configs of older runs, where it is
    null.

    ``optimizer`` and ``scheduler`` are any ``torch.optim`` / ``torch.optim.lr_scheduler`` class
    as a partial (``_partial_: true``) holding only that class's own arguments; gauntlet passes
    ``params`` and ``optimizer``, and ``total_steps`` to a scheduler that takes it and was not
    given one (OneCycleLR). ``scheduler_interval`` is ``epoch`` or ``step``; null steps the
    schedulers that count batches (OneCycleLR, CyclicLR) every batch and the others every epoch.
    """

    def __init__(
        self,
        net: Network,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        label_smoothing: float = 0.0,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        adversarial: Mapping[str, Any] | None = None,
        compile: bool = False,
        mixup: Mapping[str, Any] | None = None,
        cutmix: Mapping[str, Any] | None = None,
        scheduler_interval: str | None = None,
        mixing: None = None,
    ) -> None:
        super().__init__()
        self.net = net
        check_factory(optimizer, "model.optimizer", supplied=("params",))
        if scheduler is not None:
            check_factory(scheduler, "model.scheduler", supplied=SCHEDULER_SUPPLIED)
        if scheduler_interval not in (None, "epoch", "step"):
            raise GauntletError(
                f"model.scheduler_interval={scheduler_interval!r}: choose epoch, step or null"
            )
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.label_smoothing = label_smoothing
        self.augment = augment
        if mixing is not None:
            raise GauntletError(
                "model.mixing: no longer read; switch mixup and CutMix on with "
                "model.mixup.alpha and model.cutmix.alpha (0 = off)"
            )
        self.mixing = build_mixing(mixup, cutmix)
        self.adversarial = build_adversarial(adversarial)
        self.compile_net = compile
        n = net.spec.num_classes
        # Training steps only keep their loss and predictions (see `count_train_batch`); once
        # per epoch their sums go into these metrics, which reduce them across processes.
        # No NaN check: a NaN loss reaches the epoch mean, where the run is failed as diverged.
        self.train_loss = MeanMetric(nan_strategy="disable")
        self.train_acc = MeanMetric(nan_strategy="disable")
        self._train_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.val_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=n, average="micro")
        self.test_f1 = MulticlassF1Score(num_classes=n, average="macro")
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # a resumed run keeps its best so far
        self.history: list[dict[str, float]] = []
        self._val_row: dict[str, float] = {}

    # -- model -----------------------------------------------------------------------------
    def configure_model(self) -> None:
        """``model.compile=true``: compile the network's ``forward_embedded`` in place."""
        if self.compile_net:
            compile_network(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # target: class ids, or soft targets (B, C) from mixup/cutmix
        return F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)

    def model_step(self, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        logits = self.net(x)
        return self.loss(logits, y), logits, y

    def on_train_start(self) -> None:
        """Log what the datamodule measured of its data (``data/truncated_frac`` for text)."""
        measured = getattr(self.trainer.datamodule, "data_metrics", None) or {}
        if measured:
            self.log_dict({key: float(value) for key, value in measured.items()})

    # -- steps -----------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        if self.augment is not None:
            x = self.augment(x)
        mask = self.net.padding_mask(x)  # from the ids, before they are embedded
        e = self.net.embed(x)
        target: torch.Tensor = y
        if self.mixing is not None:
            e, target, mask = self.mixing(e, y, self.net.spec.num_classes, mask)
        if self.adversarial is not None:
            e = self.adversarial.perturb(self.net, e, y, mask)
        logits = self.net.forward_embedded(e, mask)
        loss = self.loss(logits, target)
        self.count_train_batch(loss, logits, y)
        return loss

    def count_train_batch(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Keep the batch's loss and predicted classes for the epoch's training metrics.

        One kernel per step (the argmax), no host sync and no metric-object dispatch; the
        comparison with the labels and the sums run once, at the end of the epoch.
        """
        self._train_batches.append((loss.detach(), logits.argmax(dim=-1), y))

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self.model_step(batch)
        self.val_loss.update(loss, weight=len(y))
        self.val_acc.update(logits, y)

    def test_step(self, batch, batch_idx: int) -> None:
        loss, logits, y = self.model_step(batch)
        self.test_loss.update(loss, weight=len(y))
        self.test_acc.update(logits, y)
        self.test_f1.update(logits, y)

    # -- epoch ends: compute once, log epoch aggregates only -------------------------------
    def on_validation_epoch_end(self) -> None:
        loss, acc = self.val_loss.compute(), self.val_acc.compute()
        self.val_loss.reset()
        self.val_acc.reset()
        if self.trainer.sanity_checking:
            return
        self.val_acc_best.update(acc)
        best = self.val_acc_best.compute()
        # torchmetrics' compute() has already reduced over the processes, so every rank holds
        # the same values; sync_dist says so to Lightning, which otherwise warns under DDP
        self.log_dict(
            {"val/loss": loss, "val/acc": acc, "val/acc_best": best}, prog_bar=True, sync_dist=True
        )
        self._val_row = {"val/loss": float(loss), "val/acc": float(acc)}

    def on_train_epoch_end(self) -> None:
        if self._train_batches:
            batches, self._train_batches = self._train_batches, []
            # batches restored from a mid-epoch checkpoint come back on the CPU
            losses = torch.stack([loss.to(self.device) for loss, _, _ in batches])
            predicted = torch.cat([p.to(self.device) for _, p, _ in batches])
            labels = torch.cat([y.to(self.device) for _, _, y in batches])
            # weighted, so the reduction over processes gives the mean over all their batches
            self.train_loss.update(losses.float().mean(), weight=len(losses))
            self.train_acc.update((predicted == labels).float().mean(), weight=len(labels))
        loss, acc = self.train_loss.compute(), self.train_acc.compute()
        self.train_loss.reset()
        self.train_acc.reset()
        row = {"epoch": self.current_epoch, "train/loss": float(loss), "train/acc": float(acc)}
        row.update(self._val_row)
        self._val_row = {}
        logged = {"train/loss": loss, "train/acc": acc}
        if "val/loss" in row:
            # the gap is positive when the model does better on what it trained on
            row["gap/loss"] = row["val/loss"] - row["train/loss"]
            row["gap/acc"] = row["train/acc"] - row["val/acc"]
            logged.update({"gap/loss": row["gap/loss"], "gap/acc": row["gap/acc"]})
        self.log_dict(logged, sync_dist=True)  # reduced already, as above
        self.history.append(row)
        if self.trainer.is_global_zero:
            log.info(
                "epoch %d: %s",
                row["epoch"],
                "  ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "epoch"),
            )

    def on_test_epoch_end(self) -> None:
        self.log_dict(
            {
                "test/loss": self.test_loss.compute(),
                "test/acc": self.test_acc.compute(),
                "test/f1": self.test_f1.compute(),
            },
            sync_dist=True,  # reduced already, as above
        )
        for metric in (self.test_loss, self.test_acc, self.test_f1):
            metric.reset()

    # -- optimisation ----------------------------------------------------------------------
    def configure_optimizers(self):
        # no weight decay on biases and norm weights (1-d parameters)
        decay = [p for p in self.net.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in self.net.parameters() if p.requires_grad and p.ndim < 2]
        groups = [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = self.optimizer_factory(params=groups)
        if self.scheduler_factory is None:
            return optimizer
        make = self.scheduler_factory
        func = getattr(make, "func", make)
        given = getattr(make, "keywords", {})
        extra = {}
        takes_total = "total_steps" in parameters(func)[0]
        if takes_total and given.get("total_steps") is None and given.get("epochs") is None:
            # OneCycleLR: one cycle over the whole fit; built before fit (to check the config),
            # with no trainer attached yet, one step stands in
            trainer = attached_trainer(self)
            extra["total_steps"] = int(trainer.estimated_stepping_batches) if trainer else 1
        scheduler = make(optimizer=optimizer, **extra)
        interval = self.scheduler_interval or (
            "step" if getattr(func, "__name__", "") in STEP_SCHEDULERS else "epoch"
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }

    # -- checkpoints carry the history, so a resumed run keeps its curves -------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gauntlet_history"] = list(self.history)
        # a checkpoint written mid-epoch keeps the epoch's batches so far, so that a run resumed
        # from it reports the same training metrics for that epoch
        checkpoint["gauntlet_train_batches"] = [
            tuple(t.detach().cpu() for t in batch) for batch in self._train_batches
        ]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("gauntlet_history", []))
        self._train_batches = [tuple(b) for b in checkpoint.get("gauntlet_train_batches", [])]
