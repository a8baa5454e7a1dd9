"""Figures a study's line plots cannot draw: the transfer study's source x target heatmap and
the scaling study's accuracy against parameters and FLOPs, with a fitted power law.

``python -m gauntlet.study.figures transfer|scaling OUT_DIR`` reads the study's report
directory (``results.json`` names its runs) and the runs themselves from the leaderboard beside
it (``OUT_DIR/../..`` is the log directory), and writes its PNGs and a ``figures.md`` into
``OUT_DIR``.

The fit is a power law of the test error in the parameter count, ``1 - acc = b * N^-alpha``,
fitted by least squares on log-log axes per architecture (``scipy.stats.linregress``);
``alpha`` > 0 means bigger is better, its standard error says how sure the fit is.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gauntlet.errors import GauntletError, exit_with
from gauntlet.leaderboard.query import MISSING, lookup

log = logging.getLogger(__name__)

ARCH_KEY = "model.net._target_"


def arch_of(row: Mapping[str, Any]) -> str:
    target = lookup(row, ARCH_KEY)
    return "?" if target is MISSING else str(target).rsplit(".", 1)[-1]


def study_runs(out_dir: Path, log_dir: Path | None = None) -> list[dict[str, Any]]:
    """The completed runs ``OUT_DIR/results.json`` names, read from the leaderboard."""
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    results_path = out_dir / "results.json"
    if not results_path.is_file():
        raise GauntletError(f"{results_path}: no such file; run the study first")
    results = json.loads(results_path.read_text())
    ids = [r["run_id"] for r in results["runs"] if r.get("status") == "completed"]
    log_dir = log_dir or out_dir.parent.parent
    with Leaderboard.open(resolve_url(None, log_dir), create=False) as board:
        rows = [board.get(run_id) for run_id in ids]
    return [row for row in rows if row]


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


# -- transfer --------------------------------------------------------------------------------


def transfer_matrix(
    rows: Sequence[Mapping[str, Any]], eps: float, sources: Sequence[str]
) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Mean accuracy of each plainly trained target (rows) under FGSM from each source
    (columns), with a last ``white-box`` column."""
    by_target: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if lookup(row, "model.adversarial.attack") in (None, MISSING):
            by_target[arch_of(row)].append(row)
    targets = sorted(by_target)
    columns = [*sources, "white-box"]
    names = [f"robust/transfer_acc/{s}@eps={eps:g}" for s in sources]
    names.append(f"robust/acc@eps={eps:g}")
    matrix = [
        [_mean([(r.get("metrics") or {}).get(n, math.nan) for r in by_target[t]]) for n in names]
        for t in targets
    ]
    return targets, columns, matrix


def draw_transfer(out_dir: Path, rows: Sequence[Mapping[str, Any]], eps: float) -> list[str]:
    from matplotlib.figure import Figure

    targets, columns, matrix = transfer_matrix(rows, eps, ["cnn", "rnn", "transformer"])
    if not targets:
        raise GauntletError(f"{out_dir}: no plainly trained target among the study's runs")
    fig = Figure(figsize=(6.2, 3.6), layout="constrained")
    ax = fig.subplots()
    values = [[v if v is not None else math.nan for v in line] for line in matrix]
    image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis")
    for i, line in enumerate(matrix):
        for j, value in enumerate(line):
            text = "-" if value is None else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks(range(len(columns)), [f"from {c}" for c in columns[:-1]] + [columns[-1]])
    ax.set_yticks(range(len(targets)), [f"target {t}" for t in targets])
    ax.set_title(f"target accuracy under FGSM at eps {eps:g} (mean over seeds)", fontsize=9)
    fig.colorbar(image, ax=ax, label="accuracy")
    fig.savefig(out_dir / "transfer_heatmap.png", dpi=110)
    lines = [
        f"## Transfer accuracy at eps {eps:g}",
        "",
        "| target | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for target, line in zip(targets, matrix, strict=True):
        cells = ["-" if v is None else f"{v:.3f}" for v in line]
        lines.append(f"| {target} | " + " | ".join(cells) + " |")
    return [*lines, "", "![transfer heatmap](transfer_heatmap.png)", ""]


# -- scaling ---------------------------------------------------------------------------------


def power_law(points: Sequence[tuple[float, float]]) -> dict[str, float] | None:
    """``1 - acc = b * N^-alpha`` fitted on log-log axes; None with fewer than 3 sizes."""
    from scipy import stats

    kept = [(n, 1.0 - acc) for n, acc in points if n > 0 and acc < 1.0]
    if len({n for n, _ in kept}) < 3:
        return None
    fit = stats.linregress([math.log(n) for n, _ in kept], [math.log(e) for _, e in kept])
    return {
        "alpha": -fit.slope,
        "alpha_se": fit.stderr,
        "b": math.exp(fit.intercept),
        "r2": fit.rvalue**2,
        "points": len(kept),
    }


def scaling_points(
    rows: Sequence[Mapping[str, Any]], x: str
) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    """``{(data, arch): [(x, test/acc, gap/acc), ...]}`` per run, ``x`` being ``num_params``
    or a metric such as ``perf/train_flops``."""
    series: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for row in rows:
        metrics = row.get("metrics") or {}
        value = row.get("num_params") if x == "num_params" else metrics.get(x)
        acc = metrics.get("test/acc")
        if value is None or acc is None:
            continue
        gap = metrics.get("gap/acc", math.nan)
        series[(str(row.get("data")), arch_of(row))].append((float(value), float(acc), gap))
    return series


def draw_scaling(out_dir: Path, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    from matplotlib.figure import Figure

    lines = ["## Power-law fits: 1 - test/acc = b * N^-alpha (N = parameters)", ""]
    lines += ["| data | architecture | alpha | ± se | r² | runs |", "|---|---|---|---|---|---|"]
    pictures: list[str] = []
    for x, label, name in (
        ("num_params", "parameters", "scaling_acc_vs_params.png"),
        ("perf/train_flops", "training FLOPs", "scaling_acc_vs_flops.png"),
        ("num_params", "parameters", "scaling_gap_vs_params.png"),
    ):
        series = scaling_points(rows, x)
        datasets = sorted({d for d, _ in series})
        if not datasets:
            continue
        gap = "gap" in name
        fig = Figure(figsize=(5.2 * len(datasets), 3.8), layout="constrained")
        axes = fig.subplots(1, len(datasets), squeeze=False)[0]
        for ax, data in zip(axes, datasets, strict=True):
            for (d, arch), points in sorted(series.items()):
                if d != data:
                    continue
                points.sort()
                xs = [p[0] for p in points]
                ys = [p[2] if gap else p[1] for p in points]
                (dots,) = ax.plot(xs, ys, "o", alpha=0.55, label=arch)
                by_x: dict[float, list[float]] = defaultdict(list)
                for px, py in zip(xs, ys, strict=True):
                    by_x[px].append(py)
                ax.plot(
                    sorted(by_x),
                    [_mean(by_x[k]) for k in sorted(by_x)],
                    "-",
                    color=dots.get_color(),
                )
                fit = power_law([(p[0], p[1]) for p in points]) if not gap else None
                if fit and x == "num_params":
                    grid = [min(xs) * (max(xs) / min(xs)) ** (i / 40) for i in range(41)]
                    ax.plot(
                        grid,
                        [1 - fit["b"] * g ** -fit["alpha"] for g in grid],
                        ":",
                        color=dots.get_color(),
                    )
                    lines.append(
                        f"| {data} | {arch} | {fit['alpha']:.3f} | {fit['alpha_se']:.3f} | "
                        f"{fit['r2']:.2f} | {fit['points']} |"
                    )
            ax.set_xscale("log")
            ax.set_xlabel(label + " (log)")
            ax.set_ylabel("train - val accuracy (gap/acc)" if gap else "test accuracy")
            ax.set_title(data, fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        fig.savefig(out_dir / name, dpi=100)
        pictures += ["", f"![{name}]({name})"]
    return [*lines, *pictures]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gauntlet.study.figures")
    parser.add_argument("kind", choices=["transfer", "scaling"])
    parser.add_argument("out_dir", help="the study's report directory (holds results.json)")
    parser.add_argument("--log-dir", help="the runs' log directory (default: OUT_DIR/../..)")
    parser.add_argument("--eps", type=float, default=0.2, help="transfer: the heatmap's eps")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    try:
        rows = study_runs(out_dir, Path(args.log_dir) if args.log_dir else None)
        if args.kind == "transfer":
            lines = draw_transfer(out_dir, rows, args.eps)
        else:
            lines = draw_scaling(out_dir, rows)
    except GauntletError as err:
        exit_with(err)
    path = out_dir / f"figures_{args.kind}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
