"""``gauntlet explain ckpt_path=PATH method=integrated_gradients n=16 seed=0``.

Attributions for ``n`` test samples of a trained run, written to ``<run_dir>/explain/``; the
deletion-AUC metrics are merged into the run's manifest.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gauntlet.errors import GauntletError
from gauntlet.inference import REQUIRED, parse_key_values, pick_device
from gauntlet.interpret.attributions import METHODS, check_method
from gauntlet.interpret.explain import explain

DEFAULTS = {
    "ckpt_path": REQUIRED,
    "method": "integrated_gradients",
    "n": 16,
    "seed": 0,
    "steps": 16,  # points on the deletion curve, after the first
    "n_samples": None,  # Lime / Kernel SHAP samples per input (default 200)
    "device": "auto",
}


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        Console().print(
            "usage: gauntlet explain ckpt_path=PATH "
            f"[method={'|'.join(METHODS)}] [n=16] [seed=0] [steps=16] [n_samples=200] "
            "[device=auto|cpu|cuda]"
        )
        return 0
    args = parse_key_values(argv, DEFAULTS, "explain")
    method = check_method(args["method"])
    if args["n"] < 1 or args["steps"] < 1:
        raise GauntletError(f"n={args['n']}, steps={args['steps']}: both must be at least 1")
    opts = {}
    if args["n_samples"] is not None:
        if method not in ("lime", "kernel_shap"):
            raise GauntletError(f"n_samples: only for lime and kernel_shap, not {method}")
        opts["n_samples"] = int(args["n_samples"])
    device = pick_device(args["device"])

    from gauntlet.eval import load_run
    from gauntlet.run.manifest import update_metrics

    run = load_run(args["ckpt_path"])
    net = run.module.net.to(device)
    data = run.datamodule
    out_dir = run.run_dir / "explain"
    from gauntlet.run.files import disk_faults

    with disk_faults("explain"):
        metrics = explain(
            net,
            data.test_x,
            data.test_y,
            data.spec,
            method,
            out_dir,
            n=args["n"],
            seed=args["seed"],
            steps=args["steps"],
            **opts,
        )
        update_metrics(run.run_dir, metrics)

    table = Table(title=f"{method} on {min(args['n'], len(data.test_y))} test samples")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("interpret/deletion_auc", "interpret/deletion_auc_random"):
        table.add_row(key, f"{metrics[key]:.4f}")
    console = Console()
    console.print(table)
    console.print(f"lower is more faithful; pictures and scores in {out_dir}")
    return 0
