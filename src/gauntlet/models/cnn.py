"""A convolutional network: Conv2d on images, Conv1d over time on sequences and tokens.

On padded tokens the real ones are moved to the front (``real_first``) and every convolution
reads zeros where the padding is, as it reads zeros past either end of the sequence: a kernel
that reaches into the padding would otherwise read the activations the padding takes on after
the first block (normalisation and GELU make them non-zero), so a text's features would depend
on how much padding follows it. Pooling averages the real positions only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gauntlet.data.spec import InputSpec
from gauntlet.models.base import Network, real_first
from gauntlet.settings import PositiveInt, Share

SECOND_CONV = 4  # the index of the second convolution in ConvBlock.body


class ConvBlock(nn.Module):
    """conv -> norm -> GELU, twice, with a residual path; stride 2 halves the resolution."""

    def __init__(self, dims: int, c_in: int, c_out: int, kernel: int, stride: int, dropout: float):
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        pad = kernel // 2
        self.kernel, self.stride = kernel, stride
        self.body = nn.Sequential(
            conv(c_in, c_out, kernel, stride=stride, padding=pad, bias=False),
            norm(c_out),
            nn.GELU(),
            nn.Dropout(dropout),
            conv(c_out, c_out, kernel, padding=pad, bias=False),
            norm(c_out),
        )
        self.skip = (
            nn.Identity()
            if c_in == c_out and stride == 1
            else nn.Sequential(conv(c_in, c_out, 1, stride=stride, bias=False), norm(c_out))
        )
        self.act = nn.GELU()

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` (B, 1, T): 1 at real positions of a padded token sequence, else None."""
        if mask is None:
            return self.act(self.body(h) + self.skip(h))
        h = h * mask
        out_mask = self.out_mask(mask)
        inner = h
        for i, layer in enumerate(self.body):
            if i == SECOND_CONV:  # the second convolution reads zeros at the padding too
                inner = inner * out_mask
            inner = layer(inner)
        return self.act(inner + self.skip(h)) * out_mask

    def out_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The positions left after the stride: real where the kernel covers a real input."""
        if self.stride == 1:
            return mask
        return F.max_pool1d(mask, self.kernel, self.stride, padding=self.kernel // 2)


class CNN(Network):
    def __init__(
        self,
        spec: InputSpec,
        hidden: PositiveInt = 32,
        depth: PositiveInt = 3,
        kernel_size: PositiveInt = 3,
        dropout: Share = 0.1,
        embed_dim: PositiveInt = 32,
        checkpointing: bool = False,
    ) -> None:
        super().__init__(spec, embed_dim, checkpointing)
        self.dims = 2 if self.embedded_modality == "image" else 1
        c_in = spec.shape[0] if self.dims == 2 else self.embedded_shape[-1]
        size = min(spec.shape[1:]) if self.dims == 2 else self.embedded_shape[0]
        blocks = []
        for i in range(depth):
            # downsample after the first block while the feature map is still larger than 2
            stride = 2 if i > 0 and size > 2 else 1
            size = (size + stride - 1) // stride
            c_out = hidden * (2 ** min(i, 2))
            blocks.append(ConvBlock(self.dims, c_in, c_out, kernel_size, stride, dropout))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1) if self.dims == 2 else nn.AdaptiveAvgPool1d(1)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in, spec.num_classes)
        )

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            h = e if self.dims == 2 else e.transpose(1, 2)  # sequences: (B, T, F) -> (B, F, T)
            for block in self.blocks:
                h = self.run_block(block, h)
            return self.head(self.pool(h))  # (B, num_classes)
        e, mask = real_first(e, mask)
        h, m = e.transpose(1, 2), mask.unsqueeze(1).to(e.dtype)  # (B, D, T), (B, 1, T)
        for block in self.blocks:
            h = self.run_block(block, h, m)
            m = block.out_mask(m)
        pooled = (h * m).sum(dim=-1) / m.sum(dim=-1).clamp(min=1)  # (B, C): real positions
        return self.head(pooled)
