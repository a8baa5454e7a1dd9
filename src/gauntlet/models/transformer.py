"""A pre-norm Transformer encoder; images and sequences are read as patches, tokens through an
embedding.

On padded tokens the real ones are moved to the front (``real_first``), so positions count
from a text's first real token whichever side its padding is on; every layer is given the
padding as ``src_key_padding_mask``, so no token (the CLS token included) attends to it, and
mean pooling averages the real tokens only.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from annotated_types import Ge, Predicate
from torch import nn

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.models.base import Network, masked_mean, real_first
from gauntlet.settings import Positive, PositiveInt, Share, odd


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


def block(hidden: int, heads: int, mlp_ratio: float, dropout: float) -> nn.Module:
    return nn.TransformerEncoderLayer(
        hidden,
        heads,
        int(hidden * mlp_ratio),
        dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,  # pre-norm: stable without warm-up at these sizes
    )


class Transformer(Network):
    def __init__(
        self,
        spec: InputSpec,
        hidden: PositiveInt = 64,
        depth: PositiveInt = 2,
        heads: PositiveInt = 4,
        mlp_ratio: Positive = 2.0,
        dropout: Share = 0.1,
        patch_size: PositiveInt = 2,
        positions: Literal["learned", "sinusoidal"] = "learned",
        pool: Literal["cls", "mean"] = "cls",
        stem: Literal["patch", "conv"] = "patch",
        stem_kernel: Annotated[int, Ge(1), Predicate(odd)] = 5,
        checkpointing: bool = False,
    ) -> None:
        # tokens embed straight to the model width, so the embedding is the projection
        super().__init__(spec, embed_dim=hidden, checkpointing=checkpointing)
        if hidden % heads:
            raise GauntletError(
                f"model.net.hidden={hidden} must be divisible by model.net.heads={heads}"
            )
        self.patch_size = patch_size
        image = self.embedded_modality == "image"
        # images and raw sequences are read as patches; embedded tokens too under the conv stem
        patched = image or self.embedding is None or stem == "conv"
        steps = spec.shape[1:] if image else spec.shape[:1]  # (H, W) or (T,)
        if patched and any(n % patch_size for n in steps):
            what = "the image size" if image else "the sequence length"
            size = "x".join(map(str, steps))
            raise GauntletError(f"model.net.patch_size={patch_size} must divide {what} {size}")
        length = math.prod(n // patch_size for n in steps) if patched else spec.shape[0]
        channels = spec.shape[0] if image else self.embedded_shape[-1]
        self.stem: nn.Module | None = None
        self.proj: nn.Module = nn.Identity()
        if stem == "conv":
            # a convolution over neighbouring steps (pixels) before patching gives each token
            # local features the attention layers would otherwise learn from few samples;
            # the second, strided one cuts the patches
            conv = nn.Conv2d if image else nn.Conv1d
            self.stem = nn.Sequential(
                conv(channels, hidden, stem_kernel, padding=stem_kernel // 2),
                nn.GELU(),
                conv(hidden, hidden, patch_size, stride=patch_size),
            )
        elif self.embedding is None:
            self.proj = nn.Linear(channels * patch_size ** len(steps), hidden)
        self.pool = pool
        if pool == "cls":
            self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
            length += 1
        if positions == "learned":
            self.pos = nn.Parameter(torch.randn(1, length, hidden) * 0.02)
        else:  # a fixed table: no weight, nothing to save
            self.register_buffer(
                "pos", sinusoidal_positions(length, hidden)[None], persistent=False
            )
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(block(hidden, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, spec.num_classes)

    def patchify(self, e: torch.Tensor) -> torch.Tensor:
        b, c, h, w = e.shape
        p = self.patch_size
        e = e.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return e.reshape(b, (h // p) * (w // p), c * p * p)  # (B, N, C*p*p)

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            e, mask = real_first(e, mask)
        if self.stem is not None:
            if self.embedded_modality == "image":
                e = self.stem(e).flatten(2).transpose(1, 2)  # (B, H/p * W/p, D)
            elif mask is not None:
                e, mask = self.conv_stem_tokens(e, mask)
            else:
                e = self.stem(e.transpose(1, 2)).transpose(1, 2)  # (B, T/p, D)
        elif self.embedded_modality == "image":
            e = self.patchify(e)
        elif self.embedding is None and self.patch_size > 1:
            b, t, f = e.shape
            e = e.reshape(b, t // self.patch_size, self.patch_size * f)  # (B, T/p, p*F)
        h = self.proj(e)  # (B, T, D)
        if self.pool == "cls":
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1)
            if mask is not None:
                mask = F.pad(mask, (1, 0), value=True)  # the CLS token is always read
        h = self.drop(h + self.pos)
        if mask is None:
            for block in self.blocks:
                h = self.run_block(block, h)
        else:
            ignored = ~mask  # (B, T): True where a key is padding
            for block in self.blocks:
                h = self.run_block(block, h, src_key_padding_mask=ignored)
        h = self.norm(h)
        if self.pool == "cls":
            return self.head(h[:, 0])
        return self.head(h.mean(dim=1) if mask is None else masked_mean(h, mask))

    def conv_stem_tokens(
        self, e: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolutional stem on padded tokens: both convolutions read zeros at the
        padding, and a patch is real when any of its tokens is."""
        assert self.stem is not None
        first, act, patches = self.stem
        m = mask.unsqueeze(1).to(e.dtype)  # (B, 1, T)
        h = act(first(e.transpose(1, 2) * m)) * m
        h = patches(h).transpose(1, 2)  # (B, T/p, D)
        p = self.patch_size
        return h, F.max_pool1d(m, p, p).squeeze(1) > 0
