"""Faithfulness of an attribution by deletion: remove the top-ranked features first and watch the
true-class probability fall. A faithful ranking makes it fall fast, so its area under the curve is
smaller than that of a random ranking of the same features.

On padded tokens only real tokens are features: each sample's curve removes shares of its own
real tokens (its padding is the baseline already), and the network reads every step with the
sample's padding mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from gauntlet.inference import device_of, evaluating, padding_mask
from gauntlet.interpret.features import baseline, feature_scores, removed

if TYPE_CHECKING:
    from gauntlet.data.spec import InputSpec


@dataclass(frozen=True)
class DeletionCurves:
    fractions: Tensor  # (S+1,) share of features removed, 0 to 1
    probs: Tensor  # (B, S+1) true-class probability, removing by decreasing attribution
    random_probs: Tensor  # (B, S+1) the same for a seeded random ordering
    auc: Tensor  # (B,) trapezoidal area under probs over fractions
    random_auc: Tensor  # (B,)

    def metrics(self) -> dict[str, float]:
        return {
            "interpret/deletion_auc": float(self.auc.mean()),
            "interpret/deletion_auc_random": float(self.random_auc.mean()),
        }


@torch.no_grad()
def deletion_curve(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    scores: Tensor,
    spec: InputSpec,
    steps: int = 16,
    seed: int = 0,
    batch_size: int = 1024,
) -> DeletionCurves:
    """Deletion curves for ``scores`` and for a random ranking.

    ``scores`` is either an attribution shaped like ``net.embed(x)`` or one score per feature
    (see ``gauntlet.interpret.features``). At step ``k`` of ``steps`` the top
    ``round(k / steps * n_features)`` features are set to the baseline, ``n_features`` counting
    a token sample's real tokens only. Ties keep input order.
    """
    device = device_of(net)
    x, y = x.to(device), y.to(device)
    with evaluating(net):
        mask = padding_mask(net, x)
        e = net.embed(x)
        base = baseline(net, x, spec)
        scores = scores.to(device)
        if scores.shape == e.shape:
            scores = feature_scores(scores, spec)
        flat = scores.reshape(scores.shape[0], -1)  # (B, N)
        b, n_features = flat.shape
        real = mask if mask is not None else torch.ones_like(flat, dtype=torch.bool)
        order = torch.argsort(flat, dim=1, descending=True, stable=True)
        gen = torch.Generator().manual_seed(seed)
        random_order = torch.stack(
            [torch.randperm(n_features, generator=gen) for _ in range(b)]
        ).to(device)
        order = real_features_first(order, real)
        random_order = real_features_first(random_order, real)
        n_real = real.sum(dim=1).double()  # (B,)
        shares = torch.arange(steps + 1, device=device, dtype=torch.float64) / steps
        counts = torch.round(shares[:, None] * n_real[None, :]).long()  # (S+1, B)
        fractions = (counts / n_real.clamp(min=1)).mean(dim=1).float().cpu()
        probs = _curve(net, e, base, y, mask, order, counts, scores.shape, spec, batch_size)
        random_probs = _curve(
            net, e, base, y, mask, random_order, counts, scores.shape, spec, batch_size
        )
    probs, random_probs = probs.cpu(), random_probs.cpu()
    return DeletionCurves(
        fractions=fractions,
        probs=probs,
        random_probs=random_probs,
        auc=torch.trapezoid(probs, fractions, dim=1),
        random_auc=torch.trapezoid(random_probs, fractions, dim=1),
    )


def real_features_first(order: Tensor, real: Tensor) -> Tensor:
    """``order`` (B, N) with the real features kept in their order and the padding moved last."""
    is_pad = ~real.gather(1, order)
    return order.gather(1, torch.argsort(is_pad.to(torch.uint8), dim=1, stable=True))


def _curve(
    net: nn.Module,
    e: Tensor,
    base: Tensor,
    y: Tensor,
    mask: Tensor | None,
    order: Tensor,
    counts: Tensor,
    score_shape: torch.Size,
    spec: InputSpec,
    batch_size: int,
) -> Tensor:
    b, n_features = order.shape
    # rank[i, j] = position of feature j in sample i's ordering
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_features, device=order.device).expand(b, -1))
    probs = torch.empty(b, len(counts), device=e.device)
    for step, count in enumerate(counts):
        drop = (rank < count[:, None]).reshape(score_shape)
        perturbed = removed(e, base, drop, spec)
        for start in range(0, b, batch_size):
            part = slice(start, start + batch_size)
            part_mask = (mask[part],) if mask is not None else ()
            logits = net.forward_embedded(perturbed[part], *part_mask)
            p = torch.softmax(logits.float(), dim=-1)
            probs[part, step] = p.gather(1, y[part, None]).squeeze(1)
    return probs
