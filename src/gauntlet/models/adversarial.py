"""Adversarial training: part of each batch replaced by attacks on the network being trained."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gauntlet.errors import GauntletError
from gauntlet.models.attacks import check_attack


class AdversarialTraining:
    """Replaces the first ``round(ratio * B)`` samples of an embedded batch by adversarial ones.

    The LightningModule calls ``e = net.embed(x); e = adv.perturb(net, e, y, mask);
    logits = net.forward_embedded(e, mask)``, ``mask`` being the padding mask of token batches
    (None otherwise), so only real tokens are perturbed. The attack runs with the network in its current (training)
    mode and leaves every weight's ``.grad`` untouched. PGD's random start is seeded from
    ``seed`` and a counter of calls, so a seeded run stays reproducible.
    """

    def __init__(
        self,
        attack: str = "fgsm",
        eps: float = 0.1,
        ratio: float = 0.5,
        steps: int = 3,
        seed: int = 0,
    ) -> None:
        self.run_attack = check_attack(attack)
        if not 0.0 <= ratio <= 1.0:
            raise GauntletError(f"ratio: expected a share of the batch in [0, 1], got {ratio}")
        if eps < 0:
            raise GauntletError(f"eps: expected a budget >= 0, got {eps}")
        if steps < 1:
            raise GauntletError(f"steps: expected at least 1 attack step, got {steps}")
        self.attack, self.eps, self.ratio, self.steps, self.seed = attack, eps, ratio, steps, seed
        self.calls = 0

    def perturb(self, net: nn.Module, e: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
        k = round(self.ratio * e.shape[0])
        if k == 0 or self.eps == 0:
            return e
        self.calls += 1
        adv = self.run_attack(
            net,
            e[:k],
            y[:k],
            self.eps,
            steps=self.steps,
            seed=self.seed + self.calls,
            mask=mask[:k] if mask is not None else None,
        )
        return torch.cat([adv, e[k:]])

    def __repr__(self) -> str:
        return (
            f"AdversarialTraining(attack={self.attack!r}, eps={self.eps}, ratio={self.ratio}, "
            f"steps={self.steps})"
        )
