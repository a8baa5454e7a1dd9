"""Mixup and CutMix on embedded batches: mixed inputs and the matching soft targets.

The module calls ``e, target, mask = mixing(e, y, num_classes, mask)`` on the embedded batch
(images (B, C, H, W); sequences and embedded tokens (B, T, D)), trains on the soft targets and
keeps measuring accuracy against the hard labels. Padded tokens' masks are mixed with them: a
position is real in the mixed sample where it is real in either of the two. Each batch is mixed with a shuffled copy of itself,
with a share ``lam ~ Beta(alpha, alpha)`` kept from the original. CutMix pastes a box of the
partner image (a window of time steps for sequences) and sets ``lam`` to the share actually
kept. With both on, each batch uses one of them, chosen at random.

Randomness comes from torch's global generators, which ``seed_everything`` seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from gauntlet.errors import GauntletError


def _alpha(name: str, value: Any) -> float:
    try:
        alpha = float(value)
    except (TypeError, ValueError) as err:
        raise GauntletError(f"model.{name}.alpha: expected a number >= 0, got {value!r}") from err
    if alpha < 0 or not math.isfinite(alpha):
        raise GauntletError(f"model.{name}.alpha: expected a number >= 0 (0 = off), got {alpha}")
    return alpha


def _span(size: int, cut_share: float) -> tuple[int, int]:
    """A random [start, stop) of about ``cut_share * size`` steps, centred anywhere, clipped."""
    length = round(size * cut_share)
    centre = int(torch.randint(0, size, (1,)))
    start = centre - length // 2
    return max(0, start), min(size, start + length)


class Mixing:
    """Mixup (``mixup_alpha``) and/or CutMix (``cutmix_alpha``); an alpha of 0 switches one off."""

    def __init__(self, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0) -> None:
        self.mixup_alpha = _alpha("mixup", mixup_alpha)
        self.cutmix_alpha = _alpha("cutmix", cutmix_alpha)

    @property
    def active(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def __call__(
        self,
        e: torch.Tensor,
        y: torch.Tensor,
        num_classes: int,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The mixed batch, its soft targets, and the padding mask (B, T) of the mixed batch
        (None where ``mask`` is None)."""
        onehot = F.one_hot(y, num_classes).to(e.dtype if e.is_floating_point() else torch.float)
        if not self.active or e.shape[0] < 2:
            return e, onehot, mask
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or bool(torch.rand(()) < 0.5))
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = torch.distributions.Beta(alpha, alpha).sample()
        perm = torch.randperm(e.shape[0], device=e.device)
        if use_cutmix:
            e, kept, mask = self._cutmix(e, perm, lam, mask)
        else:
            e, kept = lam * e + (1 - lam) * e[perm], float(lam)
            mask = mask | mask[perm] if mask is not None else None
        return e, kept * onehot + (1 - kept) * onehot[perm], mask

    @staticmethod
    def _cutmix(
        e: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, float, torch.Tensor | None]:
        mixed = e.clone()
        if e.ndim == 4:  # (B, C, H, W): one box for the batch, as in the CutMix paper
            h, w = e.shape[-2:]
            side = math.sqrt(1.0 - float(lam))  # a box of area share 1 - lam
            y0, y1 = _span(h, side)
            x0, x1 = _span(w, side)
            mixed[:, :, y0:y1, x0:x1] = e[perm, :, y0:y1, x0:x1]
            cut = (y1 - y0) * (x1 - x0) / (h * w)
        elif e.ndim == 3:  # (B, T, D): a window of time steps
            t = e.shape[1]
            t0, t1 = _span(t, 1.0 - float(lam))
            mixed[:, t0:t1] = e[perm, t0:t1]
            cut = (t1 - t0) / t
            if mask is not None:
                mask = mask.clone()
                mask[:, t0:t1] = mask[perm, t0:t1]
        else:
            raise GauntletError(
                f"model.cutmix: expected an embedded batch (B, C, H, W) or (B, T, D), "
                f"got shape {tuple(e.shape)}"
            )
        return mixed, 1.0 - cut, mask

    def __repr__(self) -> str:
        return f"Mixing(mixup_alpha={self.mixup_alpha}, cutmix_alpha={self.cutmix_alpha})"


def build_mixing(
    mixup: Mapping[str, Any] | None = None, cutmix: Mapping[str, Any] | None = None
) -> Mixing | None:
    """The mixing step from ``model.mixup`` / ``model.cutmix``; None when both alphas are 0."""
    mixing = Mixing(
        mixup_alpha=(mixup or {}).get("alpha", 0.0),
        cutmix_alpha=(cutmix or {}).get("alpha", 0.0),
    )
    return mixing if mixing.active else None
