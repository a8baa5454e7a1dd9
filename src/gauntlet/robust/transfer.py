"""Transfer attacks: adversarial examples crafted white-box on a source network, evaluated on
a target network that the attack never looked at.

The source and target may differ in architecture, seed or training recipe, but they must read
the same data (the same dataset and input spec), or the source's examples mean nothing to the
target. For token data the attack moves embeddings, which is only meaningful when the two
networks share one embedding table; otherwise the pair is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.inference import device_of, evaluating, padding_mask
from gauntlet.models.attacks import check_attack

log = logging.getLogger(__name__)

METRIC = "robust/transfer_acc"


def transfer_metric_name(eps: float, label: str | None = None) -> str:
    """``robust/transfer_acc@eps=0.1``, or ``robust/transfer_acc/<label>@eps=0.1`` when one
    target is attacked from several sources."""
    stem = f"{METRIC}/{label}" if label else METRIC
    return f"{stem}@eps={float(eps):g}"


@dataclass(frozen=True)
class Side:
    """One network of the pair, as the checks name it."""

    name: str  # "source" or "target"
    ckpt: str
    net: nn.Module
    spec: InputSpec  # its datamodule's input spec
    data_target: str  # the datamodule class its run was trained on


def check_pair(source: Side, target: Side) -> None:
    """Refuse a pair that does not read the same data, or token networks with two embeddings."""
    if source.data_target != target.data_target:
        raise GauntletError(
            f"source_ckpt={source.ckpt} was trained on {source.data_target}, ckpt_path="
            f"{target.ckpt} on {target.data_target}: a transfer attack needs both trained on "
            "the same dataset"
        )
    s, t = source.spec, target.spec
    if not s.compatible_with(t) or s.value_range != t.value_range:
        raise GauntletError(
            f"source_ckpt={source.ckpt} reads {s.describe()} (value range {s.value_range}), "
            f"ckpt_path={target.ckpt} reads {t.describe()} (value range {t.value_range}): "
            "a transfer attack needs the same input spec"
        )
    if s.modality == "tokens":
        se, te = source.net.embedding, target.net.embedding
        shared = (
            se is not None
            and te is not None
            and se.weight.shape == te.weight.shape
            and torch.equal(se.weight.detach().cpu(), te.weight.detach().cpu())
        )
        if not shared:
            raise GauntletError(
                f"source_ckpt={source.ckpt} and ckpt_path={target.ckpt} read token data "
                "through different embedding tables; an attack on tokens moves embeddings, "
                "which only transfers when both networks share one embedding. Attack the "
                "target white-box instead (gauntlet attack ckpt_path=TARGET)"
            )


def transfer_accuracy(
    source: nn.Module,
    target: nn.Module,
    x: Tensor,
    y: Tensor,
    attack: str,
    eps_list: Iterable[float],
    steps: int = 10,
    batch_size: int = 256,
    seed: int = 0,
    label: str | None = None,
) -> dict[str, float]:
    """The target's accuracy on ``x`` after each batch is attacked white-box on ``source``.

    Both networks run in eval mode. At ``eps=0`` no attack runs: the value is the target's
    clean accuracy. PGD's random start uses ``seed + batch index``, as the white-box attack does.
    """
    run_attack = check_attack(attack)
    eps_list = [float(eps) for eps in eps_list]
    if not eps_list or any(eps < 0 for eps in eps_list):
        raise GauntletError(f"eps: expected a non-empty list of numbers >= 0, got {eps_list}")
    device = device_of(target)
    correct = dict.fromkeys(eps_list, 0)
    with evaluating(source), evaluating(target):
        for index, start in enumerate(range(0, x.shape[0], batch_size)):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            mask = padding_mask(source, xb)  # one pad id: the specs are checked to agree
            with torch.no_grad():
                e = source.embed(xb)  # the same as the target's: checked by check_pair
            for eps in eps_list:
                adv = run_attack(source, e, yb, eps, steps=steps, seed=seed + index, mask=mask)
                with torch.no_grad():
                    pred = target.forward_embedded(adv, mask).argmax(dim=-1)
                correct[eps] += int((pred == yb).sum())
    metrics = {transfer_metric_name(eps, label): correct[eps] / x.shape[0] for eps in eps_list}
    log.info("%s transfer accuracy: %s", attack, metrics)
    return metrics


# -- picking the source run from the leaderboard -------------------------------------------


def pick_source(
    rows: Sequence[Mapping[str, Any]], target_seed: int | None, selection: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The completed run a ``source={...}`` selection names.

    ``rows`` are the completed runs matching the selection, newest first. When the selection
    does not fix ``seed``, the source is a run of *another* seed than the target's: the next
    seed up among the matches, wrapping around to the lowest (so seeds 1, 2, 3 take their
    sources from 2, 3, 1). Of several runs with the chosen seed, the newest.
    """
    shown = ", ".join(f"{k}={v}" for k, v in selection.items())
    if not rows:
        raise GauntletError(
            f"source={{{shown}}}: no completed run on the leaderboard matches; train the "
            "source first, or give source_ckpt=PATH"
        )
    if "seed" in selection or target_seed is None:
        return rows[0]
    seeds = sorted(
        {int(row["seed"]) for row in rows if row.get("seed") is not None} - {target_seed}
    )
    if not seeds:
        raise GauntletError(
            f"source={{{shown}}}: every matching run has the target's seed {target_seed}; "
            "a transfer attack from a copy of the target is a white-box attack. Train the "
            "source with another seed, or fix one with source={..., seed: N}"
        )
    chosen = next((seed for seed in seeds if seed > target_seed), seeds[0])
    return next(row for row in rows if row.get("seed") == chosen)


def checkpoint_of(run_dir: str | Path) -> Path:
    for name in ("best.ckpt", "last.ckpt"):
        path = Path(run_dir) / "checkpoints" / name
        if path.is_file():
            return path
    raise GauntletError(f"source run {run_dir}: no checkpoints/best.ckpt or last.ckpt in it")
