"""The plain loop: a minimal hand-written PyTorch training step, the bench's reference."""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext

from gauntlet.bench.configs import PRECISIONS, strip_to
from gauntlet.clock import StepClock, Timing
from gauntlet.errors import GauntletError


class PlainLoop:
    """A minimal hand-written training step: the same network (same seed, so the same initial
    weights), optimizer, scheduler, precision, accumulation and clipping as the config's run."""

    def __init__(self, cfg) -> None:
        import torch
        import torch.nn.functional as F
        from torch.nn.utils import clip_grad_norm_, clip_grad_value_

        from gauntlet.train import build

        # the trainer is built only to name the device
        datamodule, module, trainer = build(strip_to(copy.deepcopy(cfg), "lightning"))
        extras = {"augment": module.augment, "mixup/cutmix": module.mixing}
        extras["adversarial"] = module.adversarial
        on = [name for name, value in extras.items() if value is not None]
        if on:
            raise GauntletError(
                f"{', '.join(on)} switched on: bench compares a plain training step; switch it "
                "off (augment=none, model.mixup.alpha=0, model.cutmix.alpha=0, "
                "model.adversarial.attack=null)"
            )
        self.datamodule = datamodule
        self.device = device = trainer.strategy.root_device
        module.configure_model()  # model.compile=true compiles the network the same way
        self.net = module.net.to(device).train()
        configured = module.configure_optimizers()
        if isinstance(configured, dict):
            self.optimizer = configured["optimizer"]
            self.scheduler = configured["lr_scheduler"]["scheduler"]
        else:
            self.optimizer, self.scheduler = configured, None
        dtype = PRECISIONS[str(cfg.trainer.precision)]
        if dtype == "float16" and device.type == "cpu":
            dtype = "bfloat16"  # as Lightning does: no fp16 autocast on a CPU
        self.autocast = (
            (lambda: torch.autocast(device.type, dtype=getattr(torch, dtype)))
            if dtype
            else nullcontext
        )
        self.scaler = torch.amp.GradScaler(device.type) if dtype == "float16" else None
        self.accumulate = int(cfg.trainer.accumulate_grad_batches)
        self.clip = cfg.trainer.get("gradient_clip_val")
        by_value = cfg.trainer.get("gradient_clip_algorithm") == "value"
        self.clip_grad = clip_grad_value_ if by_value else clip_grad_norm_
        self.cross_entropy = F.cross_entropy
        self.smoothing = module.label_smoothing
        self.val_batches = self._batches("val", shuffle=False)
        self.val_s = 0.0  # time spent validating, for a paired run's split of its wall time

    def _batches(self, split: str, shuffle: bool, epoch_fn=None):
        from gauntlet.data.base import TensorBatches

        dm = self.datamodule
        return TensorBatches(
            dm.splits[split].to(self.device),
            dm.batch_size if shuffle else dm.eval_batch_size,
            shuffle=shuffle,
            seed=dm.seed,
            epoch_fn=epoch_fn,
        )

    def step(self, x, y, i: int, last: int) -> None:
        """Batch ``i`` of an epoch whose last batch is ``last``."""
        scaler, optimizer = self.scaler, self.optimizer
        with self.autocast():
            loss = self.cross_entropy(self.net(x), y, label_smoothing=self.smoothing)
        loss = loss / self.accumulate
        (scaler.scale(loss) if scaler else loss).backward()
        if (i + 1) % self.accumulate == 0 or i == last:
            if self.clip:
                if scaler:
                    scaler.unscale_(optimizer)
                self.clip_grad(self.net.parameters(), self.clip)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def epoch_end(self) -> None:
        if self.scheduler is not None:
            self.scheduler.step()

    def validate(self) -> tuple[float, float]:
        """The epoch's validation pass: mean loss and accuracy over the validation split."""
        import torch

        started = time.perf_counter()
        self.net.eval()
        loss, correct, n = 0.0, 0, 0
        with torch.inference_mode(), self.autocast():
            for x, y in self.val_batches:
                logits = self.net(x)
                loss += float(self.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(-1) == y).sum())
                n += len(y)
        self.net.train()
        self.val_s += time.perf_counter() - started
        return loss / max(n, 1), correct / max(n, 1)


def run_plain(cfg, epochs: int, warmup_epochs: int, cpu_time: bool = False) -> Timing:
    """The plain loop alone, over the same batches as the full path, validating after every
    epoch as the full path does."""
    import torch

    loop = PlainLoop(cfg)
    epoch = 0
    batches = loop._batches("train", shuffle=True, epoch_fn=lambda: epoch)
    clock = StepClock(loop.device, cpu_time)
    started = time.perf_counter()
    for epoch in range(epochs):
        last = len(batches) - 1
        for i, (x, y) in enumerate(batches):
            loop.step(x, y, i, last)
            clock.mark(epoch, len(y))
        loop.validate()
        loop.epoch_end()
    if loop.device.type == "cuda":
        torch.cuda.synchronize(loop.device)
    return clock.timing("plain", time.perf_counter() - started, warmup_epochs)
