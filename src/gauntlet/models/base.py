"""The network contract: built from an InputSpec, split into ``embed`` and the rest.

A network is any ``nn.Module`` whose constructor takes ``spec`` plus its own keyword
hyperparameters and whose ``forward(x)`` returns logits. ``embed`` maps raw inputs to a float
tensor: identity for images and sequences, an embedding lookup for tokens (which then read as a
(T, D) sequence). Attacks, attributions and mixup all work on that embedded input, so they treat
every modality the same way. gauntlet's CNN, RNN and Transformer subclass :class:`Network`; any
other module is seen through :class:`ContractNetwork`.

Token batches are padded to a fixed length. ``padding_mask(x)`` (True at real tokens, from
``spec.pad_id``) is taken from the ids before they are embedded and handed to
``forward_embedded(e, mask)``, so every caller that works on the embedded input (explain,
attack, mixup) passes the same mask, and each network reads only the real positions. Images and
real-valued sequences have no padding: their mask is None.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError


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

    def padding_mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, T) booleans, True at real tokens; None for images and sequences."""
        return padding_mask(x, self.spec)

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embed(x), self.padding_mask(x))

    def run_block(self, block: nn.Module, h: torch.Tensor, *args: object, **kwargs: object):
        # activation checkpointing trades a second forward pass for not storing activations
        if self.checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, h, *args, use_reentrant=False, **kwargs)
        return block(h, *args, **kwargs)


def padding_mask(x: torch.Tensor, spec: InputSpec) -> torch.Tensor | None:
    """True where ``x`` holds a real token, for token ids; None for any other input.

    A sample with no real token at all (an empty text) keeps its first position, so that
    every network has something to read and no attention row is left without a key.
    """
    if spec.modality != "tokens":
        return None
    mask = x != spec.pad_id
    mask[:, 0] |= ~mask.any(dim=1)
    return mask


def real_first(e: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``e`` (B, T, D) with each sample's real steps moved to the front, in their order.

    Left-padded, right-padded and gapped samples all become right-padded, so a network reads
    a text the same way whichever side its padding is on. Returns the moved input and its mask.
    """
    # a stable sort of "is padding" keeps the real tokens in order, padding after them
    order = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)  # (B, T)
    moved = e.gather(1, order.unsqueeze(-1).expand_as(e))
    return moved, mask.gather(1, order)


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``h`` (B, T, D) over the steps where ``mask`` (B, T) is True."""
    weights = mask.unsqueeze(-1).to(h.dtype)
    return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


class ContractNetwork(Network):
    """A user's module under the contract. Its own ``embed``/``forward_embedded`` are used when
    it defines both; otherwise ``embed`` is the identity, which token ids cannot have."""

    def __init__(self, inner: nn.Module, spec: InputSpec, target: str) -> None:
        nn.Module.__init__(self)
        self.spec = spec
        self.checkpointing = False
        self.embedding = None
        self.inner = inner
        has = [callable(getattr(inner, name, None)) for name in ("embed", "forward_embedded")]
        if any(has) and not all(has):
            raise GauntletError(
                f"model.net._target_={target}: define both embed(x) and forward_embedded(e) "
                "(forward(x) == forward_embedded(embed(x))), or neither"
            )
        self.own_embed = all(has)
        # a user's forward_embedded that takes no mask is called without one
        self.takes_mask = self.own_embed and accepts_mask(inner.forward_embedded)
        if spec.modality == "tokens" and not self.own_embed:
            raise GauntletError(
                f"model.net._target_={target}: the data are token ids {tuple(spec.shape)} "
                f"(vocab {spec.vocab_size}); explain, attack and mixup work on a float input, so "
                "a token network must define embed(x) -> (B, T, D) floats (e.g. an nn.Embedding) "
                "and forward_embedded(e) -> logits, with forward(x) = forward_embedded(embed(x))"
            )
        self._embedded: tuple[int, ...] | None = None

    @property
    def embedded_shape(self) -> tuple[int, ...]:
        if not self.own_embed:
            return tuple(self.spec.shape)
        if self._embedded is None:  # what the module's embed makes of one sample
            p = next(self.inner.parameters(), None)
            dtype = torch.long if self.spec.modality == "tokens" else torch.float32
            x = torch.full((1, *self.spec.shape), self.spec.pad_id, dtype=dtype)
            with torch.no_grad():
                e = self.inner.embed(x.to(p.device) if p is not None else x)
            self._embedded = tuple(e.shape[1:])
        return self._embedded

    @property
    def embedded_modality(self) -> str:
        return "image" if len(self.embedded_shape) == 3 else "sequence"

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.embed(x) if self.own_embed else x

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.own_embed:
            return self.inner(e)
        if self.takes_mask:
            return self.inner.forward_embedded(e, mask=mask)
        return self.inner.forward_embedded(e)


def accepts_mask(fn: object) -> bool:
    """Whether ``fn`` takes a ``mask`` keyword (by name, or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin or C extension without a signature
        return False
    return any(p.name == "mask" or p.kind == p.VAR_KEYWORD for p in params)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
