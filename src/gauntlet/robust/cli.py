"""``gauntlet attack ckpt_path=PATH attack=fgsm|pgd eps=[0,0.05,0.1,0.2] steps=10``.

Accuracy of a trained run's network on its test set under attack at each eps; the plot goes to
``<run_dir>/robust/`` and ``robust/acc@eps=...`` into the run's manifest.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gauntlet.errors import GauntletError
from gauntlet.interpret.arguments import REQUIRED, parse_key_values
from gauntlet.interpret.cli import pick_device
from gauntlet.robust.accuracy import evaluate_robustness
from gauntlet.robust.attacks import ATTACKS, check_attack

DEFAULTS = {
    "ckpt_path": REQUIRED,
    "attack": "fgsm",
    "eps": [0.0, 0.05, 0.1, 0.2],
    "steps": 10,
    "batch_size": 256,
    "seed": 0,
    "device": "auto",
}


def main(argv: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        Console().print(
            f"usage: gauntlet attack ckpt_path=PATH [attack={'|'.join(ATTACKS)}] "
            "[eps=[0,0.05,0.1,0.2]] [steps=10] [batch_size=256] [seed=0] [device=auto|cpu|cuda]"
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

    from gauntlet.eval import load_run
    from gauntlet.repro.manifest import update_metrics

    run = load_run(args["ckpt_path"])
    run.module.net.to(device)
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
