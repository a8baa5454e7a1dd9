"""A network of your own: any nn.Module whose constructor takes gauntlet's InputSpec (``spec``)
plus its own hyperparameters, and whose forward(x) returns logits.

The ranges annotated on the hyperparameters are checked before a run starts, naming the key:
``model.net.dropout=1.5`` stops with "model.net.dropout must be >= 0.0 and < 1.0, got 1.5".
"""

import math
from typing import Annotated

from annotated_types import Ge, Interval
from torch import nn


class TinyMLP(nn.Module):
    def __init__(
        self,
        spec,
        hidden: Annotated[int, Ge(1)] = 64,
        dropout: Annotated[float, Interval(ge=0.0, lt=1.0)] = 0.1,
    ):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),  # (B, C, H, W) or (B, T, F) -> (B, features)
            nn.Linear(math.prod(spec.shape), hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, spec.num_classes),
        )

    def forward(self, x):
        return self.layers(x)  # (B, num_classes)
