"""A recurrent network (LSTM or GRU); an image is read row by row as a sequence.

On padded tokens the real steps are moved to the front first. One direction then reads the
whole row and takes its output at each text's last real step (or averages the real steps); a
bidirectional network is packed (``pack_padded_sequence``), so that the backward direction
starts at the last real token too.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from gauntlet.data.spec import InputSpec
from gauntlet.models.base import Network, masked_mean, real_first
from gauntlet.settings import PositiveInt, Share

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class RNN(Network):
    def __init__(
        self,
        spec: InputSpec,
        cell: Literal["lstm", "gru"] = "lstm",
        hidden: PositiveInt = 64,
        depth: PositiveInt = 1,
        bidirectional: bool = False,
        dropout: Share = 0.1,
        pool: Literal["last", "mean"] = "last",
        embed_dim: PositiveInt = 32,
        checkpointing: bool = False,
    ) -> None:
        super().__init__(spec, embed_dim, checkpointing)
        if self.embedded_modality == "image":
            c, _, w = spec.shape
            features = c * w
        else:
            features = self.embedded_shape[-1]
        self.pool = pool
        self.bidirectional = bidirectional
        self.rnn = CELLS[cell](
            features,
            hidden,
            num_layers=depth,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if depth > 1 else 0.0,
        )
        out = hidden * (2 if bidirectional else 1)
        self.head = nn.Sequential(
            nn.LayerNorm(out), nn.Dropout(dropout), nn.Linear(out, spec.num_classes)
        )

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            return self.head(self.read_real_steps(e, mask))
        if self.embedded_modality == "image":
            b, c, h, w = e.shape
            e = e.permute(0, 2, 1, 3).reshape(b, h, c * w)  # rows as time steps: (B, H, C*W)
        out, _ = self.rnn(e)  # (B, T, hidden * directions)
        if self.pool == "mean":
            feat = out.mean(dim=1)
        elif self.bidirectional:
            # the forward direction ends at the last step, the backward one at the first
            half = out.shape[-1] // 2
            feat = torch.cat([out[:, -1, :half], out[:, 0, half:]], dim=-1)
        else:
            feat = out[:, -1]
        return self.head(feat)

    def read_real_steps(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The features of padded sequences (B, T, D) read over their real steps only."""
        e, mask = real_first(e, mask)
        if self.bidirectional:
            return self.read_packed(e, mask)
        # one direction: every output at a real step has read real steps only (the padding
        # comes after them), so the whole row runs in the fused kernel and the padding's
        # outputs are left out; on a CPU this trains about ten times faster than packing
        out, _ = self.rnn(e)  # (B, T, hidden)
        if self.pool == "mean":
            return masked_mean(out, mask)
        last = mask.sum(dim=1) - 1  # (B,): each sequence's last real step
        return out[torch.arange(out.shape[0], device=out.device), last]

    def read_packed(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Both directions over each sequence's own length: the backward one starts at its last
        real token, which only packing gives in one call."""
        lengths = mask.sum(dim=1).cpu()  # packing wants the lengths on the CPU
        packed = pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        if self.pool == "mean":
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=e.shape[1])
            return masked_mean(out, mask)  # (B, 2 * hidden)
        h_n = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        # the last layer's final states: forward at the last real step, backward at the first
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)
