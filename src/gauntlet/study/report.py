"""A study's report: ``report.md``, one PNG per plot, ``report.html`` and ``results.json``.

The results table groups the runs by the study's axes and aggregates each metric over seeds
with the leaderboard's own :func:`aggregate` (mean ± std, n); the table is the leaderboard's
Markdown, the HTML page its HTML writer.
"""

from __future__ import annotations

import json
import logging
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gauntlet.leaderboard.aggregate import aggregate
from gauntlet.leaderboard.report import Report, finite
from gauntlet.study.claims import ClaimResult, stats
from gauntlet.study.runner import StudyRun
from gauntlet.study.spec import PlotSpec, Study, fill, format_label

if TYPE_CHECKING:
    from gauntlet.study.rounds import Outcome

log = logging.getLogger(__name__)

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
RESULTS_JSON = "results.json"


def cell_groups(result: StudyRun) -> list[dict[str, Any]]:
    """The completed runs grouped by cell (the axes' labels), metrics aggregated over seeds."""
    study = result.study
    return aggregate(
        result.labelled_rows(), [axis.name for axis in study.axes], study.all_metrics()
    )


# -- plots -----------------------------------------------------------------------------------


def plot_series(
    study: Study, plot: PlotSpec, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[str, list[Any], list[dict[str, Any]]]]:
    """``(label, xs, stats per x)`` for each line of a plot."""
    xs = list(plot.x.values) if not plot.x.is_axis else study.axis(plot.x.name).labels()
    line_levels = study.axis(plot.lines).labels() if plot.lines else [None]
    series = []
    for metric in plot.y:
        for level in line_levels:
            where = dict(plot.where)
            if plot.lines:
                where[plot.lines] = level
            points = []
            for x in xs:
                if plot.x.is_axis:
                    points.append(stats(rows, metric, {**where, plot.x.name: x}))
                else:
                    points.append(stats(rows, fill(metric, {plot.x.name: x}), where))
            parts = [metric.rsplit("/", 1)[-1]] if len(plot.y) > 1 else []
            if plot.lines:
                parts.append(f"{plot.lines}={format_label(level)}")
            series.append((" ".join(parts) or metric, xs, points))
    return series


def draw_plot(study: Study, plot: PlotSpec, rows: Sequence[Mapping[str, Any]], path: Path) -> bool:
    """Draw one plot: a mean line per series with a ±std band over seeds and each run's value
    as a dot. Returns False (and draws nothing) when no run recorded any of its values."""
    from matplotlib.figure import Figure

    series = plot_series(study, plot, rows)
    if not any(point["n"] for _, _, points in series for point in points):
        return False
    xs = series[0][1]
    numeric = all(_real(x) for x in xs)
    positions = [float(x) for x in xs] if numeric else list(range(len(xs)))
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    for label, _, points in series:
        kept = [(p, s) for p, s in zip(positions, points, strict=True) if s["n"]]
        if not kept:
            continue
        px = [p for p, _ in kept]
        mean = [s["mean"] for _, s in kept]
        std = [s["std"] for _, s in kept]
        (line,) = axes.plot(px, mean, marker="o", label=label)
        axes.fill_between(
            px,
            [m - d for m, d in zip(mean, std, strict=True)],
            [m + d for m, d in zip(mean, std, strict=True)],
            color=line.get_color(),
            alpha=0.18,
            linewidth=0,
        )
        for p, s in kept:
            axes.scatter(
                [p] * len(s["values"]), s["values"], s=10, color=line.get_color(), alpha=0.5
            )
    if not numeric:
        labels = [format_label(x) for x in xs]
        # long category names would run into each other
        rotate = 30 if sum(len(t) for t in labels) > 40 else 0
        axes.set_xticks(positions, labels, rotation=rotate, ha="right" if rotate else "center")
    elif plot.logx:
        axes.set_xscale("log")
    axes.set_xlabel(_text(plot.x.name))
    axes.set_ylabel(_text(plot.y[0] if len(plot.y) == 1 else "value") + " (mean ± std)")
    # a long title would run off the figure: wrap it at about the figure's width
    axes.set_title("\n".join(textwrap.wrap(_text(plot.title), 70)))
    axes.grid(alpha=0.3)
    if len(series) > 1:
        axes.legend(fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return True


def _text(text: str) -> str:
    return text.replace("$", r"\$")  # "$" would start matplotlib mathtext


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- the report ------------------------------------------------------------------------------


def write_report(
    result: StudyRun,
    claims: Sequence[ClaimResult],
    out_dir: Path,
    command: str,
    sequential: Outcome | None = None,
) -> dict[str, Path]:
    """Write the plots, ``report.md``, ``report.html`` and ``results.json``; returns their
    paths by name. ``sequential``: the looks of ``--until-decided``, shown per claim."""
    from gauntlet.leaderboard.formats import to_markdown
    from gauntlet.leaderboard.html_page import write_html

    study = result.study
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = result.labelled_rows()
    groups = cell_groups(result)
    keys = [axis.name for axis in study.axes]
    written: dict[str, Path] = {}
    pictures = []
    for plot in study.plots:
        path = out_dir / f"{plot.name}.png"
        if draw_plot(study, plot, rows, path):
            written[plot.name] = path
            pictures.append((plot, path))
        else:
            path.unlink(missing_ok=True)
            log.warning("plot %s: no run recorded %s", plot.name, ", ".join(plot.y))

    across = None
    if study.across_tasks is not None and study.across_tasks.models:
        from gauntlet.study import across_tasks

        across = across_tasks.summary(study.across_tasks, rows, study.statistics)
        path = out_dir / "performance_profile.png"
        if across_tasks.draw_profiles(study.across_tasks, rows, path):
            written["performance_profile"] = path
    from gauntlet.study import variance

    shares = variance.split(study, rows)
    table = Report(groups, list(study.metrics), keys, title=f"{study.name}: results per cell")
    lines = [f"# Study: {_md(study.name)}", ""]
    if study.description:
        lines += [_md(study.description, cell=False), ""]
    lines += _summary_lines(result, claims, command)
    lines += ["", "## Results per cell", ""]
    lines += [
        f"Mean ± std over seeds; `runs` is n. Seeds: "
        f"{', '.join(map(str, result.study.quick.seeds if result.quick else study.seeds))}.",
        "",
    ]
    lines.append(to_markdown(table) if groups else "No completed runs yet.\n")
    missing = result.missing()
    if missing:
        lines += ["", f"Runs without a completed result ({len(missing)}):", ""]
        lines += [f"- {_md(job.cell.describe() or 'base')}, seed {job.seed}" for job in missing]
    if pictures:
        lines += ["", "## Plots", ""]
        for plot, path in pictures:
            title = _md(plot.title)
            lines += [f"### {title}", "", f"![{title}]({path.name})", ""]
    if across is not None:
        lines += _across_lines(study, across, "performance_profile" in written)
    if shares:
        lines += ["", "## Where the variance comes from", ""]
        lines += [
            "Each level of `vary` lets only its sources follow the seed and holds the others; "
            "its variance over seeds is theirs, its share that over the sum across levels "
            f"({100 * (1 - study.statistics.level):g}% bootstrap intervals).",
            "",
            "| " + " | ".join(VARIANCE_COLUMNS) + " |",
            "|" + "---|" * len(VARIANCE_COLUMNS),
        ]
        lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in _variance_rows(shares)]
    if claims:
        lines += ["", "## Claims", ""]
        if result.quick:
            lines += ["Quick run: the claims are evaluated but not checked.", ""]
        line = _statistics_line(study, len(claims))
        if sequential is not None:
            line += (
                " With --until-decided the verdicts are those of the looks below: each claim's "
                "raw one-sided p-value is held to its look's group-sequential boundary (Holm "
                "across claims), and its numbers are those of the look that decided it, or of "
                "its last look."
            )
        lines += [line, ""]
        lines += ["| claim | result | checked | numbers |", "|---|---|---|---|"]
        lines += [
            f"| {_md(c.name)} | **{c.verdict}** | {_md(c.statement)} | {_md(c.numbers)} |"
            for c in claims
        ]
        unresolved = [c for c in claims if c.advice]
        if unresolved:
            lines += ["", "Inconclusive claims, and what would resolve them:", ""]
            lines += [f"- {_md(c.name)}: {_md(c.advice, cell=False)}" for c in unresolved]
    if sequential is not None:
        lines += ["", "## Sequential looks", "", _md(sequential_line(sequential), cell=False), ""]
        for track in sequential.tracker.claims.values():
            lines += [f"### {_md(track.name)}", "", "| " + " | ".join(LOOK_COLUMNS) + " |"]
            lines.append("|" + "---|" * len(LOOK_COLUMNS))
            lines += ["| " + " | ".join(_md(v) for v in row) + " |" for row in _look_rows(track)]
            lines.append("")
    path = out_dir / REPORT_MD
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    written["report.md"] = path

    description = " ".join(
        [study.description, _claims_line(claims, result.quick)]
        if study.description
        else [_claims_line(claims, result.quick)]
    ).strip()
    written["report.html"] = write_html(
        groups,
        out_dir / REPORT_HTML,
        list(study.metrics),
        f"study {study.name}" + (" (quick)" if result.quick else ""),
        keys=keys,
        description=description or None,
        sections=(
            [
                (
                    "Claims",
                    ["claim", "result", "checked", "numbers", "seeds needed"],
                    [[c.name, c.verdict, c.statement, c.numbers, c.advice] for c in claims],
                )
            ]
            if claims
            else []
        )
        + _sequential_sections(sequential)
        + (
            [("Where the variance comes from", VARIANCE_COLUMNS, _variance_rows(shares))]
            if shares
            else []
        ),
    )
    written["results.json"] = _write_results(
        result, groups, claims, out_dir / RESULTS_JSON, sequential, across, shares
    )
    return written


VARIANCE_COLUMNS = ["cell", "metric", "sources", "runs", "std", "variance", "share", "interval"]


def _variance_rows(shares: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for item in shares:
        cell = ", ".join(f"{k}={v}" for k, v in item["cell"].items()) or "all"
        for source in item["sources"]:
            var = source["variance"]
            share, ci = source["share"], source["share_ci"]
            rows.append(
                [
                    cell,
                    item["metric"],
                    source["source"],
                    str(source["n"]),
                    "—" if var is None else f"{math.sqrt(var):.4f}",
                    "—" if var is None else f"{var:.3g}",
                    "—" if share is None else f"{100 * share:.0f}%",
                    "—" if not ci else f"[{100 * ci[0]:.0f}%, {100 * ci[1]:.0f}%]",
                ]
            )
    return rows


def _across_lines(study: Study, across: list[dict[str, Any]], picture: bool) -> list[str]:
    spec = study.across_tasks
    assert spec is not None
    level = study.statistics.level
    tasks = ", ".join(
        f"{task} [{low:g}, {high:g}]" if not isinstance(high, Mapping) else f"{task} [{low:g}, ref]"
        for task, (low, high) in spec.normalise.items()
    )
    lines = [
        "",
        "## Across tasks",
        "",
        f"Interquartile mean of `{_md(spec.metric)}` normalised per task ({_md(tasks)}), every "
        f"task and seed pooled, with a {100 * (1 - level):g}% stratified bootstrap interval "
        "(seeds resampled within each task).",
        "",
        "| model | IQM | interval | runs per task |",
        "|---|---:|---|---|",
    ]
    for entry in across:
        value = "—" if entry["iqm"] is None else f"{entry['iqm']:.3f}"
        ci = "—" if not entry["ci"] else f"[{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"
        runs = ", ".join(f"{t}: {n}" for t, n in entry["runs"].items())
        lines.append(f"| {_md(entry['model'])} | {value} | {ci} | {_md(runs)} |")
    if picture:
        lines += ["", "![performance profiles](performance_profile.png)"]
    return lines


LOOK_COLUMNS = ["look", "seeds", "p (claim)", "boundary", "p (opposite)", "boundary", "result"]


def sequential_line(outcome: Outcome) -> str:
    """The study in a line: looks, runs used against a fixed design, why it stopped."""
    plan = outcome.tracker.plan
    decided = sum(t.decided for t in outcome.tracker.claims.values())
    return (
        f"Looks at {', '.join(map(str, plan.looks))} seeds per cell ({plan.spending} "
        f"alpha spending, level {plan.level:g}, Holm across claims); {decided} of "
        f"{len(outcome.tracker.claims)} claims decided after {outcome.tracker.looks_done} "
        f"look(s); runs used: {outcome.runs_used}, a fixed design at {plan.max_seeds} seeds "
        f"per cell: {outcome.fixed_runs}; stopped: {outcome.stopped}."
    )


def _look_rows(track: Any) -> list[list[str]]:
    def p(value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"

    return [
        [
            str(r.look),
            str(r.seeds),
            p(r.p_claim),
            p(r.bound_claim),
            p(r.p_against),
            p(r.bound_against),
            r.verdict,
        ]
        for r in track.records
    ]


def _sequential_sections(outcome: Outcome | None) -> list[Any]:
    if outcome is None:
        return []
    rows = [
        [track.name, *row] for track in outcome.tracker.claims.values() for row in _look_rows(track)
    ]
    return [(f"Sequential looks. {sequential_line(outcome)}", ["claim", *LOOK_COLUMNS], rows)]


def _statistics_line(study: Study, count: int) -> str:
    s = study.statistics
    return (
        f"Each claim is a test over seeds: the difference of means with a "
        f"{100 * (1 - s.level):g}% bootstrap interval (paired by seed where both sides ran the "
        f"same seeds; {s.resamples} resamples, seed {s.seed}), a one-sided p-value (permutation "
        f"test, or Student's paired / Welch's t where the seeds are too few to permute) "
        f"Holm-corrected across the study's {count} claims, and Cohen's d. PASS: the claim holds at "
        f"level {s.level:g}; FAIL: its opposite does; INCONCLUSIVE: the seeds cannot tell."
    )


def _summary_lines(result: StudyRun, claims: Sequence[ClaimResult], command: str) -> list[str]:
    n_jobs = len(result.jobs)
    done = len(result.completed)
    lines = [
        f"- command: `{command}`",
        f"- mode: {'quick (smoke run: plumbing, not claims)' if result.quick else 'full'}",
        f"- runs: {done} of {n_jobs} completed ({result.reused} from earlier, "
        f"{result.launched} launched now); {len(result.failed)} failed",
        f"- wall time of this command: {result.wall_s:.0f} s",
    ]
    if result.post_failures:
        lines.append(f"- post steps failed: {len(result.post_failures)}")
    durations = [
        float(row["duration_s"])
        for row in result.completed.values()
        if isinstance(row.get("duration_s"), (int, float))
    ]
    if durations:
        lines.append(f"- training time, summed over runs: {sum(durations):.0f} s")
    if claims:
        lines.append(f"- claims: {_md(_claims_line(claims, result.quick), cell=False)}")
    return lines


def _claims_line(claims: Sequence[ClaimResult], quick: bool) -> str:
    if not claims:
        return ""
    passed = sum(c.passed for c in claims)
    text = f"{passed} of {len(claims)} claims pass"
    for verdict in ("FAIL", "NO DATA", "INCONCLUSIVE"):
        names = [c.name for c in claims if c.verdict == verdict]
        if names:
            text += f"; {verdict}: {'; '.join(names)}"
    return text + (" (quick run: not checked)" if quick else "")


def _write_results(
    result: StudyRun,
    groups: list[dict[str, Any]],
    claims: Sequence[ClaimResult],
    path: Path,
    sequential: Outcome | None = None,
    across: list[dict[str, Any]] | None = None,
    shares: list[dict[str, Any]] | None = None,
) -> Path:
    study = result.study
    payload = {
        "study": study.name,
        "file": str(study.path),
        "quick": result.quick,
        "axes": {axis.name: axis.labels() for axis in study.axes},
        "metrics": list(study.metrics),
        "wall_s": result.wall_s,
        "statistics": study.statistics.as_dict(),
        "runs": [
            {
                "cell": job.cell.labels,
                "seed": job.seed,
                "status": "completed"
                if index in result.completed
                else result.failed.get(index, {}).get("status", "missing"),
                "run_id": (result.completed.get(index) or result.failed.get(index) or {}).get(
                    "run_id"
                ),
            }
            for index, job in enumerate(result.jobs)
        ],
        "cells": groups,
        "claims": [
            {
                "name": c.name,
                "verdict": c.verdict,
                "statement": c.statement,
                "numbers": c.numbers,
                "seeds_needed": c.advice or None,
                "details": c.details,
            }
            for c in claims
        ],
        "post_failures": result.post_failures,
    }
    if sequential is not None:
        payload["sequential"] = sequential.as_dict()
    if across is not None:
        payload["across_tasks"] = across
    if shares:
        payload["variance"] = shares
    path.write_text(json.dumps(finite(payload), indent=1, default=str) + "\n", encoding="utf-8")
    return path


def _md(text: str, cell: bool = True) -> str:
    """Text from a study file or a run, safe in Markdown: nothing in it renders as HTML.

    A "<" starts a tag (or an autolink) only before a letter, "/", "!" or "?", and "&" an
    entity only before a name or "#": those are escaped, so the comparisons in claims
    ("0.91 < 0.95", "a >= b") stay as written. In a table cell, "|" and line breaks too."""
    text = re.sub(r"&(?=#|[A-Za-z][A-Za-z0-9]*;)", "&amp;", str(text))
    text = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)
    if cell:
        text = text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return text
