"""Putting a network in the right state to take gradients with respect to its input."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration of the block; every submodule's own flag comes back afterwards."""
    modes = {module: module.training for module in net.modules()}
    net.eval()
    try:
        yield net
    finally:
        for module, training in modes.items():
            module.training = training


def backward_through_rnn(net: nn.Module) -> contextlib.AbstractContextManager:
    """A context in which the input gradient of `net` can be taken whatever its mode.

    cuDNN implements the backward pass of its recurrent kernels only in training mode, so an RNN
    in eval mode on a GPU raises when asked for an input gradient. Inside this context cuDNN is
    switched off for networks that hold a recurrent layer and are in eval mode; everything else
    keeps the fast kernels.
    """
    has_rnn = any(isinstance(module, nn.RNNBase) for module in net.modules())
    if has_rnn and not net.training:
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def device_of(net: nn.Module) -> torch.device:
    """The device holding the network's parameters (CPU for a network without any)."""
    for param in net.parameters():
        return param.device
    return torch.device("cpu")
