"""``gauntlet diff RUN_A RUN_B [RUN_C ...]``: what differs between recorded runs.

Each RUN is a run directory or a run_id on the leaderboard (as ``gauntlet reproduce`` takes).
Only what differs is shown, section by section: the resolved config (flattened to dotted keys),
the command-line overrides, the code (git commit and dirty flag), package versions, the data
(fingerprint and split sizes), the machine (device and threads) and the metrics, side by side
with their difference from the first run. Output: a Rich table, or ``--format md|json``.

Exit status: 0 whether or not the runs differ (the table says); 2 when a run cannot be found.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gauntlet.errors import GauntletError
from gauntlet.output_formats import finite, markdown_cell
from gauntlet.repro.runs import find_run, is_timing
from gauntlet.run.manifest import flatten, rebase_paths

SECTIONS = ("config", "overrides", "code", "packages", "data", "machine", "metrics")
# keys that always differ between two runs and say nothing about why their results do
_PLACEMENT = ("paths.", "hydra.", "ckpt_path", "resume", "leaderboard.")
_MISSING = "—"


@dataclass
class Difference:
    section: str
    key: str
    values: list[Any]  # one per run; None when the run lacks the key
    deltas: list[float | None] = field(default_factory=list)  # metrics: against the first run


@dataclass
class RunDiff:
    run_ids: list[str]
    differences: list[Difference]

    def by_section(self) -> dict[str, list[Difference]]:
        out: dict[str, list[Difference]] = {}
        for item in self.differences:
            out.setdefault(item.section, []).append(item)
        return out

    def payload(self) -> dict[str, Any]:
        return {
            "runs": self.run_ids,
            "same": not self.differences,
            "differences": {
                section: [
                    {
                        "key": d.key,
                        "values": d.values,
                        **({"deltas": d.deltas} if d.deltas else {}),
                    }
                    for d in items
                ]
                for section, items in self.by_section().items()
            },
        }


def sections_of(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A manifest's comparable facts, section by section, as flat ``{key: value}``."""
    config = manifest.get("config") or {}
    # a run's own directory appears in many keys (checkpoints, loggers): one name for it
    for own in (manifest.get("run_dir"), (config.get("paths") or {}).get("output_dir")):
        if own:
            config = rebase_paths(config, own, "<run_dir>")
    config = {
        key: value for key, value in flatten(config).items() if not key.startswith(_PLACEMENT)
    }
    overrides = {}
    for item in manifest.get("overrides") or []:
        key, _, value = str(item).partition("=")
        if not key.lstrip("+~").startswith(_PLACEMENT):
            overrides[key] = value
    git = manifest.get("git") or {}
    data = {"fingerprint": manifest.get("data_fingerprint")}
    data.update({f"size.{k}": v for k, v in (manifest.get("data_sizes") or {}).items()})
    return {
        "config": config,
        "overrides": overrides,
        "code": {"git commit": git.get("commit"), "dirty": git.get("dirty")},
        "packages": dict(manifest.get("packages") or {}),
        "data": data,
        "machine": {
            "device": manifest.get("device"),
            "threads": manifest.get("threads"),
            "host": manifest.get("host"),
        },
        "metrics": dict(manifest.get("metrics") or {}),
    }


def diff(manifests: Sequence[Mapping[str, Any]], timings: bool = False) -> RunDiff:
    """What differs between the runs (the first is the reference for metric differences).
    Timings (``perf/*``, names ending in ``_s``/``_ms``) differ between any two runs and are
    left out unless ``timings``."""
    if len(manifests) < 2:
        raise GauntletError("gauntlet diff needs at least two runs")
    facts = [sections_of(m) for m in manifests]
    differences = []
    for section in SECTIONS:
        keys = sorted(set().union(*(f[section] for f in facts)))
        for key in keys:
            if section == "metrics" and not timings and is_timing(key):
                continue
            values = [f[section].get(key) for f in facts]
            if all(_same(values[0], v) for v in values[1:]):
                continue
            item = Difference(section, key, values)
            if section == "metrics":
                item.deltas = [_delta(values[0], v) for v in values]
            differences.append(item)
    return RunDiff([str(m.get("run_id")) for m in manifests], differences)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _delta(first: Any, value: Any) -> float | None:
    if _number(first) and _number(value):
        return float(value) - float(first)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _delta_text(delta: float | None) -> str:
    return "" if delta is None or delta == 0 else f" ({delta:+.4g})"


def explain_lines(result: RunDiff, sections: Sequence[str] = SECTIONS[:-1]) -> list[str]:
    """The differences outside the metrics, one line each: why two runs' results may differ."""
    lines = []
    for item in result.differences:
        if item.section in sections:
            values = " → ".join(_text(v) for v in item.values)
            lines.append(f"{item.section}: {item.key}: {values}")
    return lines


def to_table(result: RunDiff) -> Any:
    from rich.table import Table
    from rich.text import Text

    title = "diff " + " ".join(result.run_ids)
    table = Table(title=title, caption=None if result.differences else "the runs do not differ")
    table.add_column("section", style="dim", no_wrap=True)
    table.add_column("key", overflow="fold")
    for run_id in result.run_ids:
        table.add_column(Text(run_id), overflow="fold")
    for section, items in result.by_section().items():
        for item in items:
            cells = [
                _text(v) + (_delta_text(d) if index else "")
                for index, (v, d) in enumerate(
                    zip(item.values, item.deltas or [None] * len(item.values), strict=True)
                )
            ]
            table.add_row(Text(section), Text(item.key), *(Text(c) for c in cells))
    return table


def to_markdown(result: RunDiff) -> str:
    if not result.differences:
        return f"Runs {', '.join(result.run_ids)} do not differ.\n"
    head = ["section", "key", *result.run_ids]
    lines = ["| " + " | ".join(markdown_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    for item in result.differences:
        cells = [
            _text(v) + (_delta_text(d) if index else "")
            for index, (v, d) in enumerate(
                zip(item.values, item.deltas or [None] * len(item.values), strict=True)
            )
        ]
        lines.append(
            "| " + " | ".join(markdown_cell(c) for c in [item.section, item.key, *cells]) + " |"
        )
    return "\n".join(lines) + "\n"


def to_json(result: RunDiff) -> str:
    return json.dumps(finite(result.payload()), indent=2, default=str) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gauntlet diff",
        description="Show what differs between recorded runs: config, overrides, code, "
        "packages, data, machine and metrics.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories or run_ids")
    parser.add_argument("--format", choices=("table", "md", "json"), default="table")
    parser.add_argument(
        "--timings",
        action="store_true",
        help="also show timings (perf/*, *_s), which always differ",
    )
    parser.add_argument(
        "--log-dir",
        default=os.environ.get("GAUNTLET_LOG_DIR", "logs"),
        help="where the leaderboard's SQLite file is, to look up a run_id (default: logs)",
    )
    parser.add_argument(
        "--leaderboard-url", default=None, help="SQLAlchemy URL of the leaderboard (default: env)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``gauntlet diff RUN_A RUN_B ...``; returns the exit status."""
    import sys

    from rich.console import Console

    args = _parser().parse_args(argv)
    if len(args.runs) < 2:
        raise GauntletError("gauntlet diff needs at least two runs (run directories or run_ids)")
    manifests = [find_run(run, args.log_dir, args.leaderboard_url) for run in args.runs]
    result = diff(manifests, timings=args.timings)
    if args.format == "json":
        sys.stdout.write(to_json(result))
    elif args.format == "md":
        sys.stdout.write(to_markdown(result))
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 160))
        console.print(to_table(result))
    return 0
