"""A pre-norm Transformer encoder; images and sequences are read as patches, tokens through an
embedding.

On padded tokens the real ones are moved to the front (``real_first``), so positions count
from a text's first real token whichever side its padding is on; every layer is given the
padding as ``src_key_padding_mask``, so no token (the CLS token included) attends to it, and
mean pooling averages the real tokens only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.models.base import Network, masked_mean, real_first


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class Transformer(Network):
    def __init__(
        self,
        spec: InputSpec,
        hidden: int = 64,
        depth: int = 2,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        patch_size: int = 2,
        positions: str = "learned",
        pool: str = "cls",
        stem: str = "patch",
        stem_kernel: int = 5,
        checkpointing: bool = False,
    ) -> None:
        for key, value in (
            ("hidden", hidden),
            ("depth", depth),
            ("heads", heads),
            ("patch_size", patch_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GauntletError(f"model.net.{key}={value}: expected a whole number >= 1")
        if not 0.0 <= dropout < 1.0:
            raise GauntletError(f"model.net.dropout={dropout}: expected a fraction in [0, 1)")
        if not mlp_ratio > 0:
            raise GauntletError(f"model.net.mlp_ratio={mlp_ratio}: expected a number > 0")
        # tokens embed straight to the model width, so the embedding is the projection
        super().__init__(spec, embed_dim=hidden, checkpointing=checkpointing)
        if hidden % heads:
            raise GauntletError(
                f"model.net.hidden={hidden} must be divisible by model.net.heads={heads}"
            )
        if positions not in ("learned", "sinusoidal"):
            raise GauntletError(
                f"model.net.positions={positions!r}: choose 'learned' or 'sinusoidal'"
            )
        if pool not in ("cls", "mean"):
            raise GauntletError(f"model.net.pool={pool!r}: choose 'cls' or 'mean'")
        if stem not in ("patch", "conv"):
            raise GauntletError(f"model.net.stem={stem!r}: choose 'patch' or 'conv'")
        # refused even while stem=patch leaves it unused
        if stem_kernel < 1 or stem_kernel % 2 == 0:
            raise GauntletError(f"model.net.stem_kernel={stem_kernel}: expected an odd number >= 1")
        self.patch_size = patch_size
        if stem == "conv" and self.embedding is not None:
            # tokens: the convolution reads the embedded (T, D) sequence, patched like raw steps
            t = spec.shape[0]
            if t % patch_size:
                raise GauntletError(
                    f"model.net.patch_size={patch_size} must divide the sequence length {t}"
                )
            length, features = t // patch_size, self.embedding.embedding_dim
        elif self.embedded_modality == "image":
            c, h, w = spec.shape
            if h % patch_size or w % patch_size:
                raise GauntletError(
                    f"model.net.patch_size={patch_size} must divide the image size {h}x{w}"
                )
            length, features = (h // patch_size) * (w // patch_size), c * patch_size**2
        elif self.embedding is None:
            # raw sequences are read as patches of consecutive steps, like images
            t, f = spec.shape
            if t % patch_size:
                raise GauntletError(
                    f"model.net.patch_size={patch_size} must divide the sequence length {t}"
                )
            length, features = t // patch_size, f * patch_size
        else:
            length, features = self.embedded_shape
        self.stem: nn.Module | None = None
        if stem == "conv":
            # a convolution over neighbouring steps (pixels) before patching gives each token
            # local features the attention layers would otherwise learn from few samples;
            # the second, strided one cuts the patches
            channels = (
                spec.shape[0] if self.embedded_modality == "image" else self.embedded_shape[1]
            )
            conv = nn.Conv2d if self.embedded_modality == "image" else nn.Conv1d
            self.stem = nn.Sequential(
                conv(channels, hidden, stem_kernel, padding=stem_kernel // 2),
                nn.GELU(),
                conv(hidden, hidden, patch_size, stride=patch_size),
            )
            self.proj = nn.Identity()
        elif self.embedding is not None:
            self.proj = nn.Identity()
        else:
            self.proj = nn.Linear(features, hidden)
        self.pool = pool
        if pool == "cls":
            self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
            length += 1
        if positions == "learned":
            self.pos = nn.Parameter(torch.randn(1, length, hidden) * 0.02)
        else:
            self.register_buffer(
                "pos", sinusoidal_positions(length, hidden)[None], persistent=False
            )
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden,
                heads,
                int(hidden * mlp_ratio),
                dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,  # pre-norm: stable without warm-up at these sizes
            )
            for _ in range(depth)
        )
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
