"""Accuracy under attack at several budgets, and the robustness evaluation after training."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from gauntlet.errors import GauntletError
from gauntlet.inference import device_of, evaluating, padding_mask
from gauntlet.models.attacks import check_attack

if TYPE_CHECKING:
    from gauntlet.data.spec import InputSpec

log = logging.getLogger(__name__)


def metric_name(eps: float) -> str:
    return f"robust/acc@eps={float(eps):g}"


def robust_accuracy(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    spec: InputSpec,
    attack: str,
    eps_list: Iterable[float],
    steps: int = 10,
    batch_size: int = 256,
    seed: int = 0,
) -> dict[str, float]:
    """``{"robust/acc@eps=0.05": ..., ...}``: accuracy on ``x`` after attacking each batch.

    The network is attacked in eval mode. At ``eps=0`` no attack runs, so the value is the
    clean accuracy. PGD's random start uses ``seed + batch index``.
    """
    run_attack = check_attack(attack)
    eps_list = [float(eps) for eps in eps_list]
    if not eps_list or any(eps < 0 for eps in eps_list):
        raise GauntletError(f"eps: expected a non-empty list of numbers >= 0, got {eps_list}")
    device = device_of(net)
    correct = dict.fromkeys(eps_list, 0)
    with evaluating(net):
        for index, start in enumerate(range(0, x.shape[0], batch_size)):
            xb = x[start : start + batch_size].to(device)
            yb = y[start : start + batch_size].to(device)
            mask = padding_mask(net, xb)
            with torch.no_grad():
                e = net.embed(xb)
            for eps in eps_list:
                adv = run_attack(net, e, yb, eps, steps=steps, seed=seed + index, mask=mask)
                with torch.no_grad():
                    pred = net.forward_embedded(adv, mask).argmax(dim=-1)
                correct[eps] += int((pred == yb).sum())
    metrics = {metric_name(eps): correct[eps] / x.shape[0] for eps in eps_list}
    log.info("%s accuracy under attack: %s", attack, metrics)
    return metrics


def plot_robustness(metrics: Mapping[str, float], attack: str, path: Path) -> Path:
    points = sorted((float(key.split("=", 1)[1]), value) for key, value in metrics.items())
    eps, acc = [p[0] for p in points], [p[1] for p in points]
    fig = Figure(figsize=(4.5, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.plot(eps, acc, marker="o", label=attack.upper())
    ax.set_xlabel("eps (L-inf budget)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("accuracy under attack", fontsize=9)
    from gauntlet.run.files import atomic_save_figure

    return atomic_save_figure(fig, path, dpi=110)


def evaluate_robustness(
    module: Any, datamodule: Any, cfg_robust: Mapping[str, Any], run_dir: str | Path
) -> dict[str, float]:
    """Attack ``module.net`` on the datamodule's test set as ``cfg_robust`` says (``attack``,
    ``eps``, ``steps``, ``batch_size``, optional ``seed``); writes ``robust/<attack>.png`` and
    ``robust/<attack>.json`` under ``run_dir`` and returns the ``robust/acc@eps=...`` metrics."""
    attack = str(cfg_robust.get("attack", "fgsm"))
    check_attack(attack, key="robust.attack")
    metrics = robust_accuracy(
        module.net,
        datamodule.test_x,
        datamodule.test_y,
        datamodule.spec,
        attack=attack,
        eps_list=list(cfg_robust.get("eps", [0.0, 0.05, 0.1, 0.2])),
        steps=int(cfg_robust.get("steps", 10)),
        batch_size=int(cfg_robust.get("batch_size", 256)),
        seed=int(cfg_robust.get("seed", 0)),
    )
    out = Path(run_dir) / "robust"
    plot_robustness(metrics, attack, out / f"{attack}.png")
    from gauntlet.run.files import atomic_write_text

    atomic_write_text(
        out / f"{attack}.json", json.dumps({"attack": attack, "metrics": metrics}, indent=1)
    )
    return metrics
