"""FGSM and PGD (Captum) on a network's embedded input, under an L-infinity budget ``eps``.

For images and sequences ``eps`` is in the data's own units and the result is clamped to the
spec's ``value_range``; for tokens the attack moves the embeddings (``eps`` in embedding units,
no clamp), and only real tokens move: the padding mask (``net.padding_mask(x)``) is passed to
the network with every perturbed input and keeps padding positions where they are. An attack
uses the network in whatever mode it is in and takes the gradient with
respect to the input only (``torch.autograd.grad`` inside Captum), so no weight's ``.grad``
changes. When ``e`` carries a graph (token embeddings during training), the result is ``e`` plus
a constant perturbation, so the gradient still reaches the embedding table.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from captum.robust import FGSM, PGD
from torch import Tensor, nn

from gauntlet.errors import GauntletError
from gauntlet.models.gradients import backward_through_rnn

Attack = Callable[..., Tensor]


def per_sample_loss(logits: Tensor, y: Tensor) -> Tensor:
    # one loss per sample (Captum sums their gradients, which keeps each sample's own)
    return F.cross_entropy(logits.float(), y, reduction="none")


def bounds(net: nn.Module) -> tuple[float, float]:
    spec = net.spec
    if spec.modality == "tokens" or spec.value_range is None:
        return -math.inf, math.inf
    low, high = spec.value_range
    return float(low), float(high)


def movable(e: Tensor, mask: Tensor | None) -> Tensor | None:
    """Captum's perturbation mask: 1 on real tokens' embeddings, 0 on padding (None: all move)."""
    if mask is None:
        return None
    return mask.unsqueeze(-1).expand_as(e).to(e.dtype)


def fgsm(
    net: nn.Module, e: Tensor, y: Tensor, eps: float, mask: Tensor | None = None, **_: object
) -> Tensor:
    """One signed-gradient step of size ``eps`` that raises the loss of the true class ``y``.

    ``mask`` is the padding mask of token inputs (None otherwise). Other keywords (``steps``,
    ``seed``) are accepted and ignored, so both attacks share a call.
    """
    if eps == 0:
        return e
    low, high = bounds(net)
    attack = FGSM(
        net.forward_embedded, loss_func=per_sample_loss, lower_bound=low, upper_bound=high
    )
    # Captum leaves features whose gradient is below 1e-6 untouched; on a confident network that
    # is most of them, and the attack would look weaker than it is
    attack.zero_thresh = 0.0
    with backward_through_rnn(net):
        adv = attack.perturb(
            e.detach().requires_grad_(),
            epsilon=eps,
            target=y,
            additional_forward_args=(mask,) if mask is not None else None,
            mask=movable(e, mask),
        )
    return e + (adv - e.detach()).detach()


def pgd(
    net: nn.Module,
    e: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    alpha: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    mask: Tensor | None = None,
) -> Tensor:
    """``steps`` FGSM steps of size ``alpha`` (default 2.5 eps / steps), projected back into the
    eps-ball after each; the random start is drawn from a generator seeded with ``seed``."""
    if eps == 0:
        return e
    low, high = bounds(net)
    attack = PGD(net.forward_embedded, loss_func=per_sample_loss, lower_bound=low, upper_bound=high)
    attack.fgsm.zero_thresh = 0.0
    alpha = alpha if alpha is not None else 2.5 * eps / max(1, steps)
    devices = [e.device.index or 0] if e.device.type == "cuda" else []
    with (
        backward_through_rnn(net),
        torch.random.fork_rng(devices=devices),
        warnings.catch_warnings(),
    ):
        # the random start hands FGSM a fresh tensor; Captum warns that it turned on its grad
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require")
        torch.manual_seed(seed)
        adv = attack.perturb(
            e.detach(),
            radius=eps,
            step_size=alpha,
            step_num=steps,
            target=y,
            additional_forward_args=(mask,) if mask is not None else None,
            random_start=random_start,
            mask=movable(e, mask),
        )
    return e + (adv - e.detach()).detach()


ATTACKS: dict[str, Attack] = {"fgsm": fgsm, "pgd": pgd}


def check_attack(name: str, key: str = "attack") -> Attack:
    if name not in ATTACKS:
        raise GauntletError(f"{key}: unknown attack {name!r}; expected one of {', '.join(ATTACKS)}")
    return ATTACKS[name]
