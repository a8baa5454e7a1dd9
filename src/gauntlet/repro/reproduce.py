"""``gauntlet reproduce RUN``: train a recorded run again from its manifest and compare metrics.

RUN is a run directory (holding ``manifest.json``) or a run_id on the leaderboard. The run's
resolved config (as recorded: later edits to ``conf/`` change nothing) trains again in a new
directory, on the recorded number of CPU threads, from scratch. Every recorded metric is then
compared with the new value: exactly by default on CPU, within ``--rtol`` otherwise. Timings
(``perf/*`` and names ending in ``_s``/``_ms``) differ from run to run and are shown without
comparing, as are metrics measured after the run by ``gauntlet explain``/``attack``.

Exit status: 0 every metric matches, 1 a metric differs or is missing (or the run fails),
2 the run cannot be found.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gauntlet.config import restore_project
from gauntlet.errors import GauntletError
from gauntlet.repro.runs import find_run, is_timing
from gauntlet.run.manifest import (
    MANIFEST,
    git_info,
    read_manifest,
    rebase_paths,
    write_manifest,
)

log = logging.getLogger(__name__)

GPU_RTOL = 1e-3


@dataclass
class Comparison:
    metric: str
    recorded: float | None
    reproduced: float | None
    verdict: str  # same | close | MISMATCH | missing | timing | after run | new

    @property
    def failed(self) -> bool:
        return self.verdict in ("MISMATCH", "missing")


def compare(
    recorded: dict[str, Any],
    reproduced: dict[str, Any],
    rtol: float,
    after_run: set[str] | frozenset[str] = frozenset(),
) -> list[Comparison]:
    """One row per metric of either run; ``failed`` rows are differences that matter."""
    rows = []
    for name in sorted(set(recorded) | set(reproduced)):
        old, new = _number(recorded.get(name)), _number(reproduced.get(name))
        if name not in recorded:
            verdict = "new"
        elif is_timing(name):
            verdict = "timing"
        elif name in after_run:
            verdict = "after run"
        elif name not in reproduced:
            verdict = "missing"
        elif _same(old, new):
            verdict = "same"
        elif old is not None and new is not None and math.isclose(old, new, rel_tol=rtol):
            verdict = "close"
        else:
            verdict = "MISMATCH"
        rows.append(Comparison(name, old, new, verdict))
    return rows


def reproduction_config(manifest: dict[str, Any], out_dir: Path, record: bool) -> dict[str, Any]:
    """The recorded config, writing into ``out_dir``, trained from scratch."""
    config = manifest.get("config")
    if not isinstance(config, dict) or "paths" not in config:
        raise GauntletError(
            f"run {manifest.get('run_id')}: its manifest holds no resolved config to re-run"
        )
    for old in (config["paths"].get("output_dir"), manifest.get("run_dir")):
        if old:
            config = rebase_paths(config, old, out_dir)
    config["paths"]["output_dir"] = str(out_dir)
    ckpt = config.get("ckpt_path")
    if ckpt == "last" or (ckpt and str(ckpt).startswith(str(out_dir))):
        config["ckpt_path"] = None  # the run's own checkpoint: the reproduction starts afresh
    config["resume"] = None
    board = config.setdefault("leaderboard", {}) or {}
    if "***" in str(board.get("url") or ""):
        board["url"] = None  # redacted in the manifest: the environment's store
    board["enabled"] = bool(record and board.get("enabled", True))
    config["leaderboard"] = board
    return config


def warn_provenance(manifest: dict[str, Any]) -> list[str]:
    """Why a mismatch might not be a bug: other code, uncommitted changes, other versions."""
    from gauntlet.run.manifest import package_versions

    warnings = []
    recorded = manifest.get("git") or {}
    now = git_info()
    if recorded.get("commit") and now.get("commit") and recorded["commit"] != now["commit"]:
        warnings.append(
            f"the run was made at git commit {recorded['commit'][:12]}, "
            f"this code is at {now['commit'][:12]}"
        )
    if recorded.get("dirty"):
        warnings.append("the run was made with uncommitted changes (dirty tree)")
    if now.get("dirty"):
        warnings.append("this working tree has uncommitted changes")
    then, current = manifest.get("packages") or {}, package_versions()
    for name, version in then.items():
        if version and current.get(name) and current[name] != version:
            warnings.append(f"{name} was {version}, is {current[name]}")
    return warnings


def main(argv: list[str] | None = None) -> int:
    """``gauntlet reproduce RUN [--rtol R] [--out DIR] [--record]``; returns the exit status."""
    from rich.console import Console

    args = _parser().parse_args(argv)
    out, err = Console(), Console(stderr=True)
    if not out.is_terminal:
        out = Console(width=max(out.width, 120))  # piped: keep the table's rows on one line
    manifest = find_run(args.run, args.log_dir, args.leaderboard_url)
    restore_project(manifest.get("project"))
    run_id = manifest["run_id"]
    recorded = {k: v for k, v in (manifest.get("metrics") or {}).items()}
    if not recorded:
        raise GauntletError(
            f"run {run_id} has no recorded metrics (status {manifest.get('status')!r}); "
            "only a completed run can be reproduced"
        )
    rtol = args.rtol
    if rtol is None:
        rtol = 0.0 if manifest.get("device") in (None, "cpu") else GPU_RTOL
    for warning in warn_provenance(manifest):
        err.print(f"[yellow]warning:[/] {warning}")

    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    log_dir = Path(manifest["config"]["paths"].get("log_dir") or args.log_dir)
    out_dir = (args.out or log_dir / "reproductions" / f"{run_id}_{stamp}").resolve()
    config = reproduction_config(manifest, out_dir, args.record)
    err.print(f"reproducing run {run_id} in {out_dir} (rtol {rtol:g})")
    handlers = _log_to(out_dir / "reproduce.log")
    try:
        new = _train(config, manifest, out_dir)
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()

    rows = compare(
        recorded, new.get("metrics") or {}, rtol, set(manifest.get("metrics_after_run") or [])
    )
    new["reproduction_of"] = {"run_id": run_id, "run_dir": manifest.get("run_dir"), "rtol": rtol}
    new["comparison"] = {r.metric: r.verdict for r in rows}
    write_manifest(out_dir, new)
    out.print(_table(run_id, new.get("run_id"), rows, rtol))

    if new.get("status") != "completed":
        err.print(f"[red]the reproduction failed:[/] {new.get('error')}")
        return 1
    failed = [r for r in rows if r.failed]
    if failed:
        for row in failed:
            err.print(
                f"[red]{row.metric} differs:[/] recorded {_fmt(row.recorded)}, "
                f"reproduced {_fmt(row.reproduced)}"
            )
        names = ", ".join(r.metric for r in failed)
        err.print(f"[red]not reproduced:[/] {len(failed)} metric(s) differ: {names}")
        from gauntlet.repro.diff import diff, explain_lines

        reasons = explain_lines(diff([manifest, new]))
        if reasons:
            err.print("what differs between the two runs besides their metrics (gauntlet diff):")
            for line in reasons:
                err.print(f"  {line}", markup=False, highlight=False)
        else:
            err.print(
                "config, overrides, code, packages, data and machine are the same "
                "(gauntlet diff): the difference comes from the run itself (nondeterminism) "
                "or from an edited record"
            )
        return 1
    compared = sum(r.verdict in ("same", "close") for r in rows)
    out.print(f"[green]reproduced:[/] {compared} metrics match (rtol {rtol:g})")
    return 0


def _train(config: dict[str, Any], manifest: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Run the training entry point on ``config``; the new run's manifest, even if it failed."""
    import torch
    from omegaconf import OmegaConf

    from gauntlet.run.launch import JobInfo
    from gauntlet.train import run

    threads = manifest.get("threads")
    previous_threads = torch.get_num_threads()
    if isinstance(threads, int) and threads > 0:
        torch.set_num_threads(threads)
    job = JobInfo(
        overrides=list(manifest.get("overrides") or []),
        choices=dict(manifest.get("choices") or {}),
        log_dir=str(out_dir),
    )
    saved_env = os.environ.pop("GAUNTLET_NUM_THREADS", None)  # the recorded count wins
    try:
        run(OmegaConf.create(config), job)
    except Exception as error:  # recorded in the new manifest; reported with the comparison
        log.debug("reproduction failed", exc_info=error)
    finally:
        torch.set_num_threads(previous_threads)
        if saved_env is not None:
            os.environ["GAUNTLET_NUM_THREADS"] = saved_env
    if not (out_dir / MANIFEST).is_file():
        raise GauntletError(f"the reproduction wrote no manifest in {out_dir}")
    return read_manifest(out_dir)


def _table(run_id: str, new_id: str | None, rows: list[Comparison], rtol: float):
    from rich.table import Table

    table = Table(title=f"reproduce {run_id} -> {new_id}")
    table.add_column("metric", no_wrap=True)
    for name in ("recorded", "reproduced", "|diff|"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("result")
    styles = {"same": "green", "close": "green", "MISMATCH": "bold red", "missing": "bold red"}
    notes = {
        "timing": "timing (not compared)",
        "after run": "measured after the run (not compared)",
        "new": "not recorded",
        "close": f"within rtol {rtol:g}",
    }
    for row in rows:
        diff = (
            abs(row.recorded - row.reproduced)
            if row.recorded is not None and row.reproduced is not None
            else None
        )
        style = styles.get(row.verdict, "dim")
        table.add_row(
            row.metric,
            _fmt(row.recorded),
            _fmt(row.reproduced),
            _fmt(diff),
            f"[{style}]{notes.get(row.verdict, row.verdict)}[/]",
        )
    return table


def _log_to(path: Path) -> list[logging.Handler]:
    """The run's log in its directory, as ``gauntlet train`` keeps it; warnings on the console
    when nothing else shows logs. Returns the handlers added, to remove afterwards."""
    from gauntlet.console import FileHandler, StreamHandler

    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    added: list[logging.Handler] = [FileHandler(path)]
    added[0].setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] %(message)s"))
    if not root.handlers:
        console = StreamHandler()
        console.setLevel(logging.WARNING)
        added.append(console)
    for handler in added:
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return added


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gauntlet reproduce",
        description="Train a recorded run again from its manifest and compare every metric.",
    )
    parser.add_argument("run", help="a run directory, or a run_id on the leaderboard")
    parser.add_argument(
        "--rtol",
        type=float,
        default=None,
        help=f"relative tolerance (default: 0, exact, for a CPU run; {GPU_RTOL:g} otherwise)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="new run directory (default: LOG_DIR/reproductions/)"
    )
    parser.add_argument(
        "--record", action="store_true", help="also record the reproduction on the leaderboard"
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


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.10g}"
