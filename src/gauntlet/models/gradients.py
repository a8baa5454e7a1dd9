"""Taking a gradient with respect to a network's input, whatever mode the network is in.

Attacks (adversarial training, ``gauntlet attack``) and attributions (``gauntlet explain``) all
ask for it, so it sits with the networks rather than with one of those commands.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


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
