"""``gauntlet bench`` / ``python -m gauntlet.bench``: the options, then each model's rounds."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from gauntlet.bench.configs import MODEL_DEFAULTS
from gauntlet.bench.report import markdown_table, print_table
from gauntlet.bench.rounds import bench_model
from gauntlet.compat.lightning import SPEEDUPS, switched_off
from gauntlet.errors import GauntletError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gauntlet bench",
        description="Train each model through gauntlet's full path and through a plain PyTorch "
        "loop (same network, batches, optimizer), alternating; print samples/s of each, the "
        "ratio and the per-step overhead. Other arguments are config overrides, e.g. "
        "trainer.precision=bf16-mixed model.compile=true.",
    )
    parser.add_argument("--models", default="cnn,rnn,transformer", help="comma-separated")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per run, at least")
    parser.add_argument("--rounds", type=int, default=3, help="alternating full/plain rounds")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="untimed first epochs")
    parser.add_argument(
        "--experiment-prefix",
        default=None,
        help="use experiment=PREFIX<model> for each model (e.g. gpu_) instead of the defaults",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time steps by wall clock (default) or by process CPU time (steadier on a shared "
        "CPU; ignored on a GPU)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the full path with its loggers, then its callbacks, switched off: "
        "what Lightning's loop, the callbacks and the loggers each add per step",
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="run both paths in one run, a step of each in turn on the same batch: each step's "
        "two figures are milliseconds apart, so drift in the machine's speed cancels",
    )
    parser.add_argument(
        "--without",
        default="",
        help="comma-separated Lightning workarounds to switch off, so that Lightning's own code "
        f"runs in their place and the bench shows what each saves: {', '.join(SPEEDUPS)}",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--markdown", type=Path, default=None, help="write a Markdown table")
    parser.add_argument("--no-header", action="store_true", help="Markdown rows only")
    parser.add_argument("overrides", nargs="*", help="config overrides (key=value)")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODEL_DEFAULTS]
    if unknown or not args.models:
        raise GauntletError(
            f"--models {unknown or args.models}: choose from {list(MODEL_DEFAULTS)}"
        )
    if args.steps < 1 or args.rounds < 1 or args.warmup_epochs < 0:
        raise GauntletError(
            f"--steps {args.steps} --rounds {args.rounds} --warmup-epochs {args.warmup_epochs}: "
            "expected steps >= 1, rounds >= 1, warm-up epochs >= 0"
        )
    args.without = [w.strip() for w in args.without.split(",") if w.strip()]
    unknown = [w for w in args.without if w not in SPEEDUPS]
    if unknown:
        raise GauntletError(f"--without {unknown}: choose from {list(SPEEDUPS)}")
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        raise GauntletError(f"{bad}: expected config overrides of the form key=value")
    return args


def main(argv: list[str] | None = None) -> int:
    import os

    args = parse_args(list(argv or []))
    os.environ.setdefault("WANDB_MODE", "offline")
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="gauntlet-bench-") as tmp,
        switched_off(args.without),
    ):
        workdir = Path(tmp)
        for name in args.models:
            preset = (
                [f"experiment={args.experiment_prefix}{name}"]
                if args.experiment_prefix
                else MODEL_DEFAULTS[name]
            )
            # runs go to a scratch log dir: the bench leaves no runs on the leaderboard
            overrides = [*preset, *args.overrides, f"paths.log_dir={workdir}"]
            rows.append(
                bench_model(
                    name,
                    overrides,
                    args.steps,
                    args.rounds,
                    args.warmup_epochs,
                    workdir,
                    cpu_time=args.clock == "cpu",
                    breakdown=args.breakdown,
                    paired=args.paired,
                )
            )
    for row in rows:
        row["without"] = args.without  # the workarounds this run switched off
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"results: {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown_table(rows, header=not args.no_header))
        print(f"table: {args.markdown}")
    return 0
