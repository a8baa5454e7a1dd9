"""What every network shares: built from an InputSpec, split into ``embed`` and the rest.

``embed`` maps raw inputs to a float tensor: identity for images and sequences, an embedding
lookup for tokens (which then read as a (T, D) sequence). Attacks, attributions and mixup all
work on that embedded input, so they treat every modality the same way.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from gauntlet.data.spec import InputSpec


class Network(nn.Module):
    def __init__(self, spec: InputSpec, embed_dim: int = 32, checkpointing: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.checkpointing = checkpointing
        self.embedding: nn.Embedding | None = None
        if spec.modality == "tokens":
            assert spec.vocab_size is not None
            self.embedding = nn.Embedding(spec.vocab_size, embed_dim, padding_idx=spec.pad_id)

    @property
    def embedded_modality(self) -> str:
        """'image' or 'sequence': what ``forward_embedded`` receives."""
        return "image" if self.spec.modality == "image" else "sequence"

    @property
    def embedded_shape(self) -> tuple[int, ...]:
        if self.embedding is not None:
            return (self.spec.shape[0], self.embedding.embedding_dim)
        return tuple(self.spec.shape)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x) if self.embedding is not None else x

    def forward_embedded(self, e: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embed(x))

    def run_block(self, block: nn.Module, h: torch.Tensor) -> torch.Tensor:
        # activation checkpointing trades a second forward pass for not storing activations
        if self.checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, h, use_reentrant=False)
        return block(h)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
