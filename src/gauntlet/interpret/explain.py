"""One call that explains a sample of inputs: attributions, their pictures and their faithfulness."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from gauntlet.inference import device_of, evaluating
from gauntlet.interpret.attributions import attribute, check_method
from gauntlet.interpret.faithfulness import deletion_curve
from gauntlet.interpret.features import feature_scores
from gauntlet.interpret.pictures import plot_attributions, plot_deletion

if TYPE_CHECKING:
    from gauntlet.data.spec import InputSpec

log = logging.getLogger(__name__)


def explain(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    spec: InputSpec,
    method: str,
    out_dir: str | Path,
    n: int = 16,
    seed: int = 0,
    steps: int = 16,
    **opts: object,
) -> dict[str, float]:
    """Explain ``n`` samples drawn (seeded) from ``x`` with ``method``.

    Writes ``<method>.png`` (the attributions), ``<method>_deletion.png`` (deletion curves against
    a random ordering) and ``<method>.json`` (per-sample scores, labels, areas) into ``out_dir``.
    Returns ``interpret/deletion_auc`` and ``interpret/deletion_auc_random``, the means over the
    samples, and the same two under ``interpret/<method>/`` so that several methods can sit in
    one run's metrics.
    """
    check_method(method)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    index = torch.randperm(x.shape[0], generator=gen)[: min(n, x.shape[0])]
    x, y = x[index], y[index]

    attr = attribute(net, x, y, method, spec, seed=seed, **opts)
    scores = feature_scores(attr, spec).cpu()
    curves = deletion_curve(net, x, y, scores, spec, steps=steps, seed=seed)
    with torch.no_grad(), evaluating(net):
        probs = torch.softmax(net(x.to(device_of(net))).float(), dim=-1).cpu()
    pred = probs.argmax(dim=-1)

    metrics = curves.metrics()
    metrics |= {f"interpret/{method}/{key.split('/')[1]}": value for key, value in metrics.items()}
    plot_attributions(x, scores, y, pred, spec, out_dir / f"{method}.png", title=method)
    plot_deletion(curves, method, out_dir / f"{method}_deletion.png")
    record = {
        "method": method,
        "seed": seed,
        "options": {key: value for key, value in opts.items()},
        "metrics": metrics,
        "fractions": curves.fractions.tolist(),
        "samples": [
            {
                "index": int(index[i]),
                "label": int(y[i]),
                "pred": int(pred[i]),
                "prob": float(probs[i, y[i]]),
                "deletion_auc": float(curves.auc[i]),
                "deletion_auc_random": float(curves.random_auc[i]),
                "deletion_curve": curves.probs[i].tolist(),
                "scores": scores[i].tolist(),
            }
            for i in range(x.shape[0])
        ],
    }
    from gauntlet.run.files import atomic_write_text

    atomic_write_text(out_dir / f"{method}.json", json.dumps(record, indent=1))
    log.info(
        "%s on %d samples: deletion AUC %.4f (random %.4f)",
        method,
        x.shape[0],
        metrics["interpret/deletion_auc"],
        metrics["interpret/deletion_auc_random"],
    )
    return metrics
