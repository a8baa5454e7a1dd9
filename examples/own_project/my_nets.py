"""A network of your own: any nn.Module whose constructor takes gauntlet's InputSpec (``spec``)
plus its own hyperparameters, and whose forward(x) returns logits."""

import math

from torch import nn


class TinyMLP(nn.Module):
    def __init__(self, spec, hidden: int = 64, dropout: float = 0.1):
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
