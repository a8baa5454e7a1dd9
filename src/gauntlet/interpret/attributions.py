"""Attributions through Captum on a network's embedded input, one registry for the four methods.

Gradient methods (integrated gradients, saliency) explain the true class's logit, the usual
choice that keeps them clear of the softmax's saturation; the perturbation methods (Lime, Kernel
SHAP) fit a surrogate to the true class's probability, a bounded output a linear model can fit.
Every method returns a tensor shaped like ``net.embed(x)``.

Token inputs carry their padding mask (``net.padding_mask(x)``) into every call of the network,
and padding gets zero attribution: padding is not part of the text, whatever a network makes
of it. Lime and Kernel SHAP switch a sample's padding on and off as one group, so their samples
go to the real tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from captum.attr import IntegratedGradients, KernelShap, Lime, Saliency
from torch import Tensor, nn

from gauntlet.compat.captum import ridge_surrogate
from gauntlet.errors import GauntletError
from gauntlet.inference import device_of, evaluating, padding_mask
from gauntlet.interpret.features import baseline, group_mask
from gauntlet.models.gradients import backward_through_rnn

if TYPE_CHECKING:
    from gauntlet.data.spec import InputSpec

log = logging.getLogger(__name__)

# a method gets (net, e, base, y, spec, mask, **options) and returns attributions shaped like e
Method = Callable[..., Tensor]
METHODS: dict[str, Method] = {}
OPTIONS: dict[str, tuple[str, ...]] = {}


def register(name: str, options: tuple[str, ...]) -> Callable[[Method], Method]:
    def add(fn: Method) -> Method:
        METHODS[name] = fn
        OPTIONS[name] = options
        return fn

    return add


def check_method(method: str, key: str = "method") -> str:
    if method not in METHODS:
        raise GauntletError(
            f"{key}: unknown attribution method {method!r}; expected one of {', '.join(METHODS)}"
        )
    return method


def attribute(
    net: nn.Module, x: Tensor, y: Tensor, method: str, spec: InputSpec, **opts: object
) -> Tensor:
    """Attributions of the true class ``y`` to the embedded input, shaped like ``net.embed(x)``.

    The network is put in eval mode for the call and given back in the mode it was in. Options:
    ``n_steps`` (integrated gradients), ``n_samples``, ``perturbations_per_eval``, ``patch``,
    ``window`` (Lime, Kernel SHAP), ``seed`` (any method; fixes the Lime/SHAP sampling).
    """
    check_method(method)
    seed = opts.pop("seed", None)
    unknown = sorted(set(opts) - set(OPTIONS[method]))
    if unknown:
        raise GauntletError(
            f"{unknown[0]}: not an option of {method}; expected one of "
            f"{', '.join(OPTIONS[method]) or '(none)'}"
        )
    device = device_of(net)
    x, y = x.to(device), y.to(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with evaluating(net), backward_through_rnn(net), torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(int(seed))
        mask = padding_mask(net, x)
        with torch.no_grad():
            e = net.embed(x).detach()
        base = baseline(net, x, spec)
        attr = METHODS[method](net, e, base, y, spec, mask, **opts).detach()
    if mask is not None:
        attr = attr * mask.unsqueeze(-1).to(attr.dtype)
    return attr


def forward_args(mask: Tensor | None) -> tuple[Tensor, ...] | None:
    """The mask as Captum's extra argument of the forward function (expanded with the inputs
    when a method batches several perturbations of one input)."""
    return (mask,) if mask is not None else None


def probabilities(net: nn.Module) -> Callable[..., Tensor]:
    return lambda e, *mask: torch.softmax(net.forward_embedded(e, *mask), dim=-1)


@register("integrated_gradients", ("n_steps", "internal_batch_size"))
def integrated_gradients(
    net: nn.Module,
    e: Tensor,
    base: Tensor,
    y: Tensor,
    spec: InputSpec,
    mask: Tensor | None,
    n_steps: int = 32,
    internal_batch_size: int = 512,
) -> Tensor:
    ig = IntegratedGradients(net.forward_embedded)
    return ig.attribute(
        e,
        baselines=base,
        target=y,
        additional_forward_args=forward_args(mask),
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
    )


@register("saliency", ())
def saliency(
    net: nn.Module, e: Tensor, base: Tensor, y: Tensor, spec: InputSpec, mask: Tensor | None
) -> Tensor:
    return Saliency(net.forward_embedded).attribute(
        e.requires_grad_(), target=y, abs=True, additional_forward_args=forward_args(mask)
    )


def _per_sample(
    explainer: Lime | KernelShap,
    e: Tensor,
    base: Tensor,
    y: Tensor,
    spec: InputSpec,
    mask: Tensor | None,
    n_samples: int,
    perturbations_per_eval: int,
    patch: int | None,
    window: int | None,
) -> Tensor:
    groups = group_mask(spec, e, patch=patch, window=window)
    out = []
    # one surrogate per sample; looping here rather than inside Captum keeps its warning quiet
    with torch.no_grad():
        for i in range(e.shape[0]):
            one_mask = mask[i : i + 1] if mask is not None else None
            out.append(
                explainer.attribute(
                    e[i : i + 1],
                    baselines=base[i : i + 1],
                    target=y[i : i + 1],
                    additional_forward_args=forward_args(one_mask),
                    feature_mask=groups if one_mask is None else token_groups(one_mask, e),
                    n_samples=n_samples,
                    perturbations_per_eval=perturbations_per_eval,
                )
            )
    return torch.cat(out)


def token_groups(mask: Tensor, like: Tensor) -> Tensor:
    """Lime/SHAP groups of one padded sample (1, T, D): each real token its own, the padding
    one more."""
    real = mask[0]
    ids = torch.where(real, torch.cumsum(real, 0) - 1, real.sum())  # (T,)
    return ids[None, :, None].expand_as(like[:1]).contiguous()


@register("lime", ("n_samples", "perturbations_per_eval", "patch", "window"))
def lime(
    net: nn.Module,
    e: Tensor,
    base: Tensor,
    y: Tensor,
    spec: InputSpec,
    mask: Tensor | None,
    n_samples: int = 200,
    perturbations_per_eval: int = 50,
    patch: int | None = None,
    window: int | None = None,
) -> Tensor:
    # ridge rather than Captum's default lasso (alpha 0.01): on digits with 200 samples the lasso
    # zeroes about half of the 16 patches, which leaves their order in the ranking to ties
    explainer = Lime(probabilities(net), interpretable_model=ridge_surrogate(alpha=1.0))
    return _per_sample(
        explainer, e, base, y, spec, mask, n_samples, perturbations_per_eval, patch, window
    )


@register("kernel_shap", ("n_samples", "perturbations_per_eval", "patch", "window"))
def kernel_shap(
    net: nn.Module,
    e: Tensor,
    base: Tensor,
    y: Tensor,
    spec: InputSpec,
    mask: Tensor | None,
    n_samples: int = 200,
    perturbations_per_eval: int = 50,
    patch: int | None = None,
    window: int | None = None,
) -> Tensor:
    explainer = KernelShap(probabilities(net))
    return _per_sample(
        explainer, e, base, y, spec, mask, n_samples, perturbations_per_eval, patch, window
    )
