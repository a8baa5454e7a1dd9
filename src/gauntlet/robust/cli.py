"""``gauntlet attack ckpt_path=PATH attack=fgsm|pgd eps=[0,0.05,0.1,0.2] steps=10``.

Accuracy of a trained run's network on its test set under attack at each eps; the plot goes to
``<run_dir>/robust/`` and ``robust/acc@eps=...`` into the run's manifest.

With ``source_ckpt=PATH`` (or ``source={study: NAME, model: cnn}``, a completed run picked from
the leaderboard) the attack is a transfer attack: crafted white-box on the source, evaluated on
the target ``ckpt_path``; ``robust/transfer_acc@eps=...`` (``robust/transfer_acc/LABEL@...``
with ``label=LABEL``) and the source's run id go into the target's manifest and leaderboard row.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from gauntlet.errors import GauntletError
from gauntlet.inference import REQUIRED, parse_key_values, pick_device
from gauntlet.models.attacks import ATTACKS, check_attack
from gauntlet.robust.accuracy import evaluate_robustness

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

DEFAULTS = {
    "ckpt_path": REQUIRED,
    "attack": "fgsm",
    "eps": [0.0, 0.05, 0.1, 0.2],
    "steps": 10,
    "batch_size": 256,
    "seed": 0,
    "device": "auto",
    "source_ckpt": None,
    "source": None,
    "label": None,
}


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        Console().print(
            f"usage: gauntlet attack ckpt_path=PATH [attack={'|'.join(ATTACKS)}] "
            "[eps=[0,0.05,0.1,0.2]] [steps=10] [batch_size=256] [seed=0] [device=auto|cpu|cuda]\n"
            "       transfer: add source_ckpt=PATH or source={study: NAME, model: cnn} "
            "[label=NAME]"
        )
        return 0
    args = parse_key_values(argv, DEFAULTS, "attack")
    check_attack(args["attack"])
    eps = args["eps"]
    if not eps or not all(isinstance(v, (int, float)) and v >= 0 for v in eps):
        raise GauntletError(f"eps={eps}: expected a list of numbers >= 0, e.g. eps=[0,0.05,0.1]")
    if args["steps"] < 1 or args["batch_size"] < 1:
        raise GauntletError(
            f"steps={args['steps']}, batch_size={args['batch_size']}: both must be at least 1"
        )
    device = pick_device(args["device"])
    if args["source_ckpt"] is not None or args["source"] is not None:
        from gauntlet.run.files import disk_faults

        with disk_faults("attack"):
            return run_transfer(args, device)

    from gauntlet.eval import load_run
    from gauntlet.run.files import disk_faults
    from gauntlet.run.manifest import update_metrics

    run = load_run(args["ckpt_path"])
    run.module.net.to(device)
    with disk_faults("attack"):
        metrics = evaluate_robustness(run.module, run.datamodule, args, run.run_dir)
        update_metrics(run.run_dir, metrics)

    table = Table(title=f"{args['attack'].upper()} on {len(run.datamodule.test_y)} test samples")
    table.add_column("eps", justify="right")
    table.add_column("accuracy", justify="right")
    for key, value in metrics.items():
        table.add_row(key.split("=", 1)[1], f"{value:.4f}")
    console = Console()
    console.print(table)
    console.print(f"plot in {run.run_dir / 'robust' / (args['attack'] + '.png')}")
    return 0


def run_transfer(args: dict[str, Any], device: torch.device) -> int:
    """The transfer form of ``gauntlet attack``: see the module docstring."""
    from gauntlet.eval import load_run
    from gauntlet.leaderboard.record import record
    from gauntlet.robust.accuracy import plot_robustness
    from gauntlet.robust.transfer import Side, check_pair, transfer_accuracy
    from gauntlet.run.manifest import read_manifest, update_metrics, write_manifest

    if (args["source_ckpt"] is None) == (args["source"] is None):
        raise GauntletError(
            "source_ckpt and source: give one of them (source_ckpt=PATH, or "
            "source={study: NAME, model: cnn} to pick a completed run from the leaderboard)"
        )
    label = args["label"]
    if label is not None and not _LABEL.match(str(label)):
        raise GauntletError(f"label={label!r}: letters, digits, _ . - only")
    target = load_run(args["ckpt_path"])
    source_ckpt = args["source_ckpt"] or find_source(args["source"], target)
    source = load_run(source_ckpt)
    check_pair(
        Side(
            "source",
            str(source_ckpt),
            source.module.net,
            source.datamodule.spec,
            str(source.cfg.data._target_),
        ),
        Side(
            "target",
            str(args["ckpt_path"]),
            target.module.net,
            target.datamodule.spec,
            str(target.cfg.data._target_),
        ),
    )
    source.module.net.to(device)
    target.module.net.to(device)
    metrics = transfer_accuracy(
        source.module.net,
        target.module.net,
        target.datamodule.test_x,
        target.datamodule.test_y,
        attack=args["attack"],
        eps_list=args["eps"],
        steps=args["steps"],
        batch_size=args["batch_size"],
        seed=args["seed"],
        label=label,
    )
    try:
        source_id = read_manifest(source.run_dir).get("run_id")
    except GauntletError:
        source_id = None  # a checkpoint copied out of its run directory
    details = {
        "source_run_id": source_id,
        "source_ckpt": str(Path(source_ckpt).resolve()),
        "source_model": str(source.cfg.model.net._target_).rsplit(".", 1)[-1],
        "attack": args["attack"],
        "eps": list(args["eps"]),
        "steps": args["steps"],
        "metrics": metrics,
    }
    name = f"transfer_{label}_{args['attack']}" if label else f"transfer_{args['attack']}"
    out = target.run_dir / "robust"
    plot_robustness(
        metrics, f"{args['attack']} from {details['source_model']}", out / f"{name}.png"
    )
    from gauntlet.run.files import atomic_write_text

    atomic_write_text(out / f"{name}.json", json.dumps(details, indent=1))
    manifest = update_metrics(target.run_dir, metrics)
    manifest.setdefault("transfer", {})[label or "source"] = {
        k: v for k, v in details.items() if k != "metrics"
    }
    write_manifest(target.run_dir, manifest)
    record(manifest, target.cfg)

    table = Table(
        title=f"{args['attack'].upper()} from {details['source_model']} ({source_id or source_ckpt}) "
        f"on {len(target.datamodule.test_y)} test samples of the target"
    )
    table.add_column("eps", justify="right")
    table.add_column("target accuracy", justify="right")
    for key, value in metrics.items():
        table.add_row(key.split("=", 1)[1], f"{value:.4f}")
    console = Console()
    console.print(table)
    console.print(f"plot in {out / (name + '.png')}")
    return 0


def find_source(selection: Any, target: Any) -> Path:
    """The checkpoint of the completed leaderboard run that ``source={...}`` selects (from the
    target's own leaderboard); see :func:`gauntlet.robust.transfer.pick_source`."""
    from gauntlet.leaderboard.store import Leaderboard, resolve_url
    from gauntlet.robust.transfer import checkpoint_of, pick_source

    if not isinstance(selection, dict) or not selection:
        raise GauntletError(
            f"source={selection!r}: expected a mapping of run keys to values, e.g. "
            "source={study: transfer, model: cnn}"
        )
    cfg = target.cfg
    settings = cfg.get("leaderboard") or {}
    url = resolve_url(settings.get("url"), (cfg.get("paths") or {}).get("log_dir") or "logs")
    where = flat_keys(selection)
    with Leaderboard.open(url, create=False) as board:
        rows = board.runs(status="completed", where=where)
    try:
        target_seed = int(read_manifest_seed(target.run_dir, cfg))
    except (TypeError, ValueError):
        target_seed = None
    row = pick_source(rows, target_seed, where)
    log.info(
        "source run %s (seed %s) in %s", row.get("run_id"), row.get("seed"), row.get("run_dir")
    )
    return checkpoint_of(str(row.get("run_dir")))


def flat_keys(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{model: {net: {_target_: X}}}`` (what ``source.model.net._target_=X`` parses to) ->
    ``{"model.net._target_": X}``, the leaderboard's key for it."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_keys(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_manifest_seed(run_dir: Path, cfg: Any) -> Any:
    from gauntlet.run.manifest import read_manifest

    try:
        return read_manifest(run_dir).get("seed")
    except GauntletError:
        return cfg.get("seed")
