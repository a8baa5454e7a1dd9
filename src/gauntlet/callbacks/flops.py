"""Training compute: ``perf/train_flops``, FLOPs of one training sample times the samples seen.

The FLOPs of a forward and backward pass are counted once, when the first training batch
arrives, by ``torch.utils.flop_counter.FlopCounterMode`` on a copy of the network (so no
weight's ``.grad``, no batch-norm statistic of the real one and no draw of the run's random
generators changes). From then on each step
only adds its batch size to the samples seen. Logged once per training epoch:

- ``perf/flops_per_sample``: forward + backward FLOPs of the network for one sample;
- ``perf/train_flops``: that times every training sample seen so far, across ranks.

The count is the network's matrix work (the counter covers matmuls, convolutions and
attention, which dominate these models, plus the fused LSTM kernel of the CPU, given a formula
here); extra passes a training recipe adds, such as the attack steps of
adversarial training, are not in it. The samples seen are kept in checkpoints, so a resumed
run goes on counting from where it stopped.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gauntlet.callbacks.throughput import batch_size_of
from gauntlet.compat.torch import drop_hooks

log = logging.getLogger(__name__)


def _rnn_layer_flops(input_shape: Any, w_ih: Any, w_hh: Any, *_: Any, **__: Any) -> int:
    # one recurrent layer: the input and hidden matmuls of every gate at every step
    steps = math.prod(input_shape[:-1])  # T x B, in either layout
    return 2 * steps * (math.prod(w_ih) + math.prod(w_hh))


def _rnn_layer_backward_flops(input_shape: Any, w_ih: Any, w_hh: Any, *_: Any, **__: Any) -> int:
    # the gradients of the input and of both weight matrices: twice the forward matmuls
    return 2 * _rnn_layer_flops(input_shape, w_ih, w_hh)


# Fused CPU kernels the counter has no formula for (measured on torch 2.13): the LSTM runs as
# one oneDNN op per layer, which the counter would count as zero
_CUSTOM = {}
if hasattr(torch.ops.aten, "mkldnn_rnn_layer"):
    _CUSTOM[torch.ops.aten.mkldnn_rnn_layer] = _rnn_layer_flops
    _CUSTOM[torch.ops.aten.mkldnn_rnn_layer_backward] = _rnn_layer_backward_flops


def flops_per_sample(net: nn.Module, x: torch.Tensor) -> float:
    """Forward + backward FLOPs of ``net`` on the batch ``x``, divided by its size."""
    probe = copy.deepcopy(net).train()
    # the class's own forward, not a torch.compile wrapper set on the instance (compiling under
    # the counter would capture nothing and spoil the real compile), and no hooks the user set
    probe.__dict__.pop("forward_embedded", None)
    drop_hooks(probe)
    params = [p for p in probe.parameters() if p.requires_grad]
    # the probe's dropout draws from the run's random generators: it gets a fork of them, so
    # the run draws the same numbers with or without the probe, and a resumed run (which
    # probes again at its first step) goes on exactly as the uninterrupted one
    devices = [x.device] if x.device.type == "cuda" else []
    with (
        torch.random.fork_rng(devices=devices),
        FlopCounterMode(display=False, custom_mapping=_CUSTOM) as counter,
    ):
        out = probe(x)
        if params:
            torch.autograd.grad(out.float().sum(), params, allow_unused=True)
    return counter.get_total_flops() / max(1, x.shape[0])


class TrainFlops(pl.Callback):
    """Logs ``perf/flops_per_sample`` and ``perf/train_flops``; see the module docstring."""

    def __init__(self, probe_samples: int = 8) -> None:
        if probe_samples < 1:
            from gauntlet.errors import GauntletError

            raise GauntletError(
                f"callbacks.flops.probe_samples={probe_samples}: expected an integer >= 1"
            )
        self.probe_samples = probe_samples
        self.per_sample: float | None = None
        self.samples_seen = 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.per_sample is not None:
            return
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        net = getattr(pl_module, "net", pl_module)
        self.per_sample = flops_per_sample(net, x[: self.probe_samples])
        log.info("training FLOPs per sample: %.4g", self.per_sample)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # every rank trains an equal share of the samples
        self.samples_seen += batch_size_of(batch) * trainer.world_size

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.per_sample is None:
            return
        pl_module.log_dict(
            {
                "perf/flops_per_sample": float(self.per_sample),
                "perf/train_flops": float(self.per_sample * self.samples_seen),
            },
            rank_zero_only=True,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"samples_seen": self.samples_seen}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.samples_seen = int(state_dict.get("samples_seen", 0))
