"""What a "feature" is for each modality, and what it means to remove one.

Attributions live on the embedded input ``e = net.embed(x)``:

| modality   | ``e`` per sample | one feature (for ranking and deletion) | Lime / SHAP group |
|------------|------------------|----------------------------------------|-------------------|
| ``image``    | (C, H, W)        | a pixel, scores summed over channels   | a square patch    |
| ``sequence`` | (T, F)           | a timestep, summed over features       | a window of steps |
| ``tokens``   | (T, D)           | a token, summed over the embedding     | a token           |

A removed feature takes its baseline value: for images and sequences 0 clipped into the data's
``value_range`` -- the black background of images scaled to [0, 1], the flat level of a signal
centred on 0 such as MNIST-1D, and never a value the data cannot take (the data's minimum would
be an extreme value for a centred signal, so removing a feature would add one); for tokens the
embedding of ``pad_id``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from gauntlet.errors import GauntletError

if TYPE_CHECKING:
    from gauntlet.data.spec import InputSpec

MODALITIES = ("image", "sequence", "tokens")


def check_modality(spec: InputSpec) -> str:
    if spec.modality not in MODALITIES:
        raise GauntletError(
            f"spec.modality: unknown modality {spec.modality!r}; expected one of "
            f"{', '.join(MODALITIES)}"
        )
    return spec.modality


@torch.no_grad()
def baseline(net: nn.Module, x: Tensor, spec: InputSpec) -> Tensor:
    """The embedded input with every feature removed, shaped like ``net.embed(x)``."""
    if check_modality(spec) == "tokens":
        return net.embed(torch.full_like(x, spec.pad_id)).detach()
    e = net.embed(x)
    return torch.full_like(e, baseline_value(spec))


def baseline_value(spec: InputSpec) -> float:
    low, high = spec.value_range if spec.value_range is not None else (-math.inf, math.inf)
    return float(min(max(0.0, low), high))


def feature_scores(attribution: Tensor, spec: InputSpec) -> Tensor:
    """One score per feature: (B, H, W) for images, (B, T) for sequences and tokens."""
    if check_modality(spec) == "image":
        return attribution.sum(dim=1)
    return attribution.sum(dim=-1)


def expand_features(mask: Tensor, spec: InputSpec, like: Tensor) -> Tensor:
    """A per-feature mask (B, H, W) or (B, T) broadcast to the embedded input's shape."""
    if check_modality(spec) == "image":
        return mask.unsqueeze(1).expand_as(like)
    return mask.unsqueeze(-1).expand_as(like)


def group_mask(
    spec: InputSpec, like: Tensor, patch: int | None = None, window: int | None = None
) -> Tensor:
    """Integer ids of the groups Lime and Kernel SHAP switch on and off together, (1, *e[0])."""
    modality = check_modality(spec)
    per_sample = like.shape[1:]
    if modality == "image":
        _, h, w = per_sample
        # about 4x4 patches whatever the resolution: 2x2 pixels on 8x8 digits, 7x7 on 28x28
        patch = patch or max(1, min(h, w) // 4)
        rows = torch.arange(h, device=like.device) // patch
        cols = torch.arange(w, device=like.device) // patch
        ids = rows[:, None] * math.ceil(w / patch) + cols[None, :]  # (H, W)
    else:
        t = per_sample[0]
        # tokens are words: each is its own feature; a signal is grouped into about ten windows
        size = 1 if modality == "tokens" else (window or max(1, t // 10))
        ids = torch.arange(t, device=like.device) // size  # (T,)
    return expand_features(ids.unsqueeze(0), spec, like[:1]).contiguous()


def removed(e: Tensor, base: Tensor, drop: Tensor, spec: InputSpec) -> Tensor:
    """``e`` with the features flagged in ``drop`` (B, H, W) or (B, T) set to the baseline."""
    return torch.where(expand_features(drop, spec, e), base, e)
