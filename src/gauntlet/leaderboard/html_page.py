"""A self-contained HTML leaderboard, as a team uses it.

- A filter box over every table, and columns sorted by clicking their headers.
- The groups, then their runs: each run links to its directory's ``curves.png``,
  ``manifest.json`` and ``.hydra/config.yaml`` (relative to the page where it can), and clicking
  a group's run count shows only its runs.
- Tick two runs for their diff (config, overrides, code, packages, data, machine, metrics: what
  ``gauntlet diff`` shows).
- For each sweep, a parallel-coordinates plot of the parameters its runs vary against the metric.
- A plot per metric, each caption with its own plot.

Everything is inline (CSS, the script, the data as JSON, the plots as base64 PNGs), so the file
needs no server and no network and can be mailed or attached anywhere. Every value from the
database is HTML-escaped. ``#filter=TEXT``, ``#group=N`` and ``#diff=RUN_A,RUN_B`` in the URL
set the page up on load, so a link can point at a view.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gauntlet.leaderboard.plots import metric_png
from gauntlet.leaderboard.report import Report, format_value

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
p.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th { cursor: pointer; user-select: none; background: #f4f4f4; position: sticky; top: 0; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
tbody tr:hover { background: #fafae0; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; }
#filter { font-size: 1rem; padding: .3rem .5rem; width: 24rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
td a { margin-right: .5rem; }
#diff table td { vertical-align: top; }
td.id { white-space: nowrap; font-family: ui-monospace, monospace; }
#diff .section { color: #888; }
svg.parallel { background: #fcfcfc; border: 1px solid #eee; }
svg.parallel text { font-size: 11px; }
"""

# Click a header to sort by it; click again to reverse. Blank cells stay at the bottom.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var numeric = th.classList.contains("num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (other) {
      other.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[th.cellIndex].getAttribute("data-sort");
      var y = b.cells[th.cellIndex].getAttribute("data-sort");
      if (x === null) { return y === null ? 0 : 1; }
      if (y === null) { return -1; }
      var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});

// The filter box: keep the rows of every table whose text holds the words typed.
var filterBox = document.getElementById("filter");
function applyFilter() {
  var words = filterBox.value.toLowerCase().split(/\\s+/).filter(Boolean);
  document.querySelectorAll("table.sortable tbody tr").forEach(function (row) {
    var text = row.textContent.toLowerCase();
    var shown = words.every(function (w) { return text.indexOf(w) >= 0; });
    row.classList.toggle("filtered", !shown);
    row.hidden = row.classList.contains("filtered") || row.classList.contains("other-group");
  });
}
filterBox.addEventListener("input", applyFilter);

// A group's run count shows only its runs.
function showGroup(index) {
  document.querySelectorAll("#runs tbody tr").forEach(function (row) {
    row.classList.toggle("other-group", index !== null && row.dataset.group !== String(index));
  });
  applyFilter();
}

// Two ticked runs: their differences, section by section.
var runData = JSON.parse(document.getElementById("run-data").textContent);
function short(value) {
  return typeof value === "number" ? String(+value.toPrecision(4)) : text(value);
}
function text(value) {
  if (value === undefined || value === null) { return "\u2014"; }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
function showDiff() {
  var ticked = Array.prototype.slice.call(document.querySelectorAll("input.pick:checked"))
    .map(function (box) { return box.value; });
  var out = document.getElementById("diff");
  if (ticked.length !== 2) {
    out.innerHTML = "<p>Tick two runs to see what differs between them.</p>";
    return;
  }
  var a = runData[ticked[0]], b = runData[ticked[1]];
  var table = document.createElement("table");
  var head = table.createTHead().insertRow();
  ["section", "key", ticked[0], ticked[1]].forEach(function (name) {
    var th = document.createElement("th"); th.textContent = name; head.appendChild(th);
  });
  var body = table.createTBody(), count = 0;
  Object.keys(a).forEach(function (section) {
    var keys = Object.keys(Object.assign({}, a[section], b[section])).sort();
    keys.forEach(function (key) {
      var x = a[section][key], y = b[section][key];
      if (JSON.stringify(x) === JSON.stringify(y)) { return; }
      var row = body.insertRow();
      row.className = "difference";
      [section, key, text(x), text(y)].forEach(function (value, i) {
        var cell = row.insertCell(); cell.textContent = value;
        if (i === 0) { cell.className = "section"; }
      });
      count += 1;
    });
  });
  out.innerHTML = "";
  var title = document.createElement("p");
  title.textContent = count ? count + " differences between " + ticked.join(" and ")
                            : ticked.join(" and ") + " do not differ";
  out.appendChild(title);
  if (count) { out.appendChild(table); }
}
document.querySelectorAll("input.pick").forEach(function (box) {
  box.addEventListener("change", showDiff);
});

// Parallel coordinates: one vertical axis per parameter and the metric, one line per run.
var SVG = "http://www.w3.org/2000/svg";
function element(name, attributes, parent) {
  var node = document.createElementNS(SVG, name);
  Object.keys(attributes).forEach(function (k) { node.setAttribute(k, attributes[k]); });
  parent.appendChild(node);
  return node;
}
JSON.parse(document.getElementById("sweep-data").textContent).forEach(function (sweep, index) {
  // parallel coordinates: an axis per varying parameter and the metric last, ticks on each,
  // each run's line coloured by its metric (the scale drawn at the right), as wide as the page
  var svg = document.getElementById("parallel-" + index);
  var axes = sweep.axes, metric = axes[axes.length - 1];
  var left = 70, right = 90, top = 30, bottom = 30, height = 280;
  var width = Math.max(360, (svg.parentNode.clientWidth || document.body.clientWidth || 900) - 8);
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  var scales = axes.map(function (axis) {
    var values = sweep.runs.map(function (run) { return run[axis]; })
      .filter(function (v) { return v !== null && v !== undefined; });
    var numeric = values.every(function (v) { return typeof v === "number"; });
    if (numeric) {
      var low = Math.min.apply(null, values), high = Math.max.apply(null, values);
      var ticks = [0, 0.25, 0.5, 0.75, 1].map(function (f) { return low + f * (high - low); });
      if (high === low) { ticks = [low]; }
      return {at: function (v) { return high === low ? 0.5 : (v - low) / (high - low); },
              ticks: ticks, low: low, high: high};
    }
    var levels = values.map(String).filter(function (v, i, all) { return all.indexOf(v) === i; });
    return {at: function (v) {
      return levels.length < 2 ? 0.5 : levels.indexOf(String(v)) / (levels.length - 1);
    }, ticks: levels};
  });
  function x(i) {
    return axes.length < 2 ? left : left + i * (width - left - right) / (axes.length - 1);
  }
  function y(f) { return height - bottom - f * (height - top - bottom); }
  var last = scales[scales.length - 1];
  function colour(v) {
    var f = last.high === undefined || last.high === last.low ? 1 : (v - last.low) / (last.high - last.low);
    var a = [68, 1, 84], b = [253, 231, 37];
    return "rgb(" + a.map(function (c, i) { return Math.round(c + f * (b[i] - c)); }).join(",") + ")";
  }
  sweep.runs.forEach(function (run) {
    var points = axes.map(function (axis, i) {
      var v = run[axis];
      return v === null || v === undefined ? null : x(i) + "," + y(scales[i].at(v));
    }).filter(Boolean);
    var value = run[metric];
    var line = element("polyline", {points: points.join(" "), fill: "none",
      stroke: typeof value === "number" ? colour(value) : "#999", "stroke-width": 2,
      "class": "trial"}, svg);
    var tip = element("title", {}, line);
    tip.textContent = run.run_id + ": " + axes.map(function (a) {
      return a + "=" + text(run[a]);
    }).join(", ");
  });
  axes.forEach(function (axis, i) {
    element("line", {x1: x(i), x2: x(i), y1: top, y2: height - bottom, stroke: "#444"}, svg);
    var label = element("text", {x: x(i), y: 16, "text-anchor": "middle"}, svg);
    label.textContent = axis;
    scales[i].ticks.forEach(function (t) {
      var at = y(scales[i].at(t));
      element("line", {x1: x(i) - 4, x2: x(i), y1: at, y2: at, stroke: "#444"}, svg);
      var tick = element("text", {x: x(i) - 6, y: at + 4, "text-anchor": "end",
        "font-size": 10, "class": "tick"}, svg);
      tick.textContent = short(t);
    });
  });
  if (last.high !== undefined) {
    var defs = element("defs", {}, svg);
    var ramp = element("linearGradient", {id: "ramp-" + index, x1: 0, x2: 0, y1: 1, y2: 0}, defs);
    element("stop", {offset: 0, "stop-color": colour(last.low)}, ramp);
    element("stop", {offset: 1, "stop-color": colour(last.high)}, ramp);
    var sx = width - right + 30;
    element("rect", {x: sx, y: top, width: 12, height: height - top - bottom,
      fill: "url(#ramp-" + index + ")", "class": "colour-scale"}, svg);
    element("text", {x: sx + 16, y: top + 10, "font-size": 10}, svg).textContent = short(last.high);
    element("text", {x: sx + 16, y: height - bottom, "font-size": 10}, svg).textContent = short(last.low);
  }
});

// #filter=TEXT, #group=N, #diff=A,B set the page up, so a link can point at a view.
function fromHash() {
  var hash = decodeURIComponent(location.hash.slice(1));
  hash.split("&").forEach(function (part) {
    var at = part.indexOf("="), key = part.slice(0, at), value = part.slice(at + 1);
    if (key === "filter") { filterBox.value = value; }
    if (key === "group") { showGroup(value); }
    if (key === "diff") {
      var wanted = value.split(",");
      document.querySelectorAll("input.pick").forEach(function (box) {
        box.checked = wanted.indexOf(box.value) >= 0;
      });
    }
  });
  applyFilter();
  showDiff();
}
window.addEventListener("hashchange", fromHash);
fromHash();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


Section = tuple[str, Sequence[str], Sequence[Sequence[Any]]]  # heading, columns, rows


def _section(heading: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(name)}</th>" for name in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{_e(value)}</td>" for value in row) + "</tr>" for row in rows
    )
    return (
        f'<section><h2>{_e(heading)}</h2><table class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></section>"
    )


def _json_script(element_id: str, value: Any) -> str:
    """Data for the page's script; "<" escaped so that no value can close the element."""
    from gauntlet.leaderboard.report import finite

    text = json.dumps(finite(value), default=str, sort_keys=True).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _href(run_dir: str, name: str, base: Path | None) -> str:
    """A link to a file of a run directory: relative to the page where it can be, else a
    file:// URI."""
    target = Path(run_dir) / name
    if base is not None:
        try:
            return Path(os.path.relpath(target, base)).as_posix()
        except ValueError:  # another drive
            pass
    return target.resolve().as_uri()


_RUN_FILES = (
    ("curves", "curves.png"),
    ("manifest", "manifest.json"),
    ("config", ".hydra/config.yaml"),
)


def _runs_table(report: Report, base: Path | None) -> str:
    """Every run of the page: its group, status, seed, metrics, links to its files and a box to
    tick for a diff."""
    runs = report.item_runs()
    if not runs:
        return ""
    group_of: dict[str, int] = {}
    labels: dict[int, str] = {}
    if report.kind == "groups":
        for index, group in enumerate(report.items):
            labels[index] = group.get("label") or ", ".join(
                f"{k}={v}" for k, v in group["group"].items()
            )
            for run_id in group.get("run_ids") or []:
                group_of[str(run_id)] = index
    head = "".join(
        f"<th>{_e(name)}</th>"
        for name in ("diff", "run_id", "group", "status", "seed", *report.metrics, "files")
    )
    rows = []
    for run in runs:
        run_id = str(run.get("run_id"))
        index = group_of.get(run_id)
        recorded = run.get("metrics") or {}
        metric_cells = "".join(
            f'<td class="num">{_e(_metric_text(recorded.get(m)))}</td>' for m in report.metrics
        )
        run_dir = run.get("run_dir")
        links = ""
        if run_dir:
            links = "".join(
                f'<a href="{_e(_href(str(run_dir), name, base))}">{label}</a>'
                for label, name in _RUN_FILES
                if (Path(str(run_dir)) / name).is_file()
            )
        group_attr = f' data-group="{index}"' if index is not None else ""
        rows.append(
            f'<tr data-run="{_e(run_id)}"{group_attr}>'
            f'<td><input type="checkbox" class="pick" value="{_e(run_id)}"></td>'
            f'<td class="id">{_e(run_id)}</td><td>{_e(labels.get(index, ""))}</td>'
            f"<td>{_e(run.get('status') or '')}</td><td>{_e(format_value(run.get('seed')))}</td>"
            f"{metric_cells}<td>{links}</td></tr>"
        )
    return (
        '<section><h2>Runs</h2><p class="meta">Click a group\'s run count to show only its '
        'runs; tick two runs for their diff.</p><table class="sortable" id="runs">'
        f"<thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
        '<h2>Diff of two runs</h2><div id="diff"></div></section>'
    )


def _tasks_section(report: Report) -> str:
    """Per task (dataset x metric), each model's best group, ranked; its run count shows the
    group's runs in the runs table below, and its run ids are listed."""
    if not report.tasks:
        return ""
    shown = len(report.items) if report.kind == "groups" else 0
    parts = [
        '<section id="tasks"><h2>Best per task</h2><p class="meta">For each dataset and '
        "metric, each model's best group; click its run count for its runs.</p>"
    ]
    columns = report.task_columns()
    for task in report.tasks:
        head = "".join(
            f'<th class="num">{_e(n)}</th>'
            if n in ("rank", "runs", "mean ± std", "mean ± 95% CI")
            else f"<th>{_e(n)}</th>"
            for n in columns
        )
        rows = []
        for entry, cells in zip(task["entries"], report.task_cells(task), strict=True):
            tds = []
            for name, cell in zip(columns, cells, strict=True):
                css = ' class="num"' if name in ("rank", "runs", columns[-2]) else ""
                sort = "" if cell.sort is None else f' data-sort="{_e(_sort_text(cell.sort))}"'
                text = _e(cell.text)
                if name == "runs" and entry["index"] is not None and entry["index"] < shown:
                    text = f'<a href="#group={entry["index"]}" class="group-runs">{text}</a>'
                tds.append(f"<td{css}{sort}>{text}</td>")
            rows.append(f'<tr data-model="{_e(entry["model"])}">' + "".join(tds) + "</tr>")
        parts.append(
            f"<h3>{_e(task['data'])} · {_e(task['metric'])}</h3>"
            f'<table class="sortable task" data-data="{_e(task["data"])}" '
            f'data-metric="{_e(task["metric"])}"><thead><tr>{head}</tr></thead><tbody>\n'
            + "\n".join(rows)
            + "\n</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _metric_text(value: Any) -> str:
    from gauntlet.leaderboard.report import format_metric

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_metric(float(value))
    return "\u2014" if value is None else str(value)


def _run_data(report: Report) -> dict[str, Any]:
    from gauntlet.repro.diff import sections_of

    return {str(run.get("run_id")): sections_of(run) for run in report.item_runs()}


def _sweeps(report: Report) -> list[dict[str, Any]]:
    """For each sweep with two runs or more: the config keys its runs vary, the first metric
    and each run's values."""
    from gauntlet.leaderboard.identity import ignored_patterns, is_ignored
    from gauntlet.repro.diff import sections_of

    if not report.metrics:
        return []
    metric = report.metrics[0]
    by_sweep: dict[str, list[Mapping[str, Any]]] = {}
    for run in report.item_runs():
        if run.get("sweep"):
            by_sweep.setdefault(str(run["sweep"]), []).append(run)
    sweeps = []
    for name, runs in by_sweep.items():
        if len(runs) < 2:
            continue
        configs = [sections_of(run)["config"] for run in runs]
        keys = sorted(set().union(*configs))
        # only parameters: not the seed nor what it derives, paths, loggers, names (identity.py)
        ignored = ignored_patterns(runs[0].get("config"))
        varied = [
            k
            for k in keys
            if len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1
            and all(not isinstance(c.get(k), (dict, list)) for c in configs)
            and not is_ignored(k, ignored)
        ]
        values = []
        for run, config in zip(runs, configs, strict=True):
            point = {"run_id": run.get("run_id"), metric: (run.get("metrics") or {}).get(metric)}
            point.update({k: config.get(k) for k in varied})
            values.append(point)
        sweeps.append({"name": name, "axes": [*varied, metric], "runs": values})
    return sweeps


def render_html(report: Report, sections: Sequence[Section] = (), base: Path | None = None) -> str:
    """The whole page as a string; ``sections`` are further tables after the main one; links to
    run files are relative to ``base`` (the page's directory) when given."""
    numeric = report.numeric_columns()
    header = "".join(
        f'<th class="num">{_e(name)}</th>' if name in numeric else f"<th>{_e(name)}</th>"
        for name in report.columns()
    )
    body_rows = []
    for index, row in enumerate(report.cells()):
        cells = []
        for name, cell in zip(report.columns(), row, strict=True):
            css = ' class="num"' if name in numeric else ""
            sort = "" if cell.sort is None else f' data-sort="{_e(_sort_text(cell.sort))}"'
            text = _e(cell.text)
            if name == "runs" and report.kind == "groups":
                text = f'<a href="#group={index}" class="group-runs">{text}</a>'
            cells.append(f"<td{css}{sort}>{text}</td>")
        body_rows.append(f'<tr data-index="{index}">' + "".join(cells) + "</tr>")
    figures = []
    for metric in report.metrics:
        png = metric_png(report, metric)
        if png is None:
            continue
        encoded = base64.b64encode(png).decode("ascii")
        figures.append(
            f'<figure><img alt="{_e(metric)} per {"group" if report.kind == "groups" else "run"}"'
            f' src="data:image/png;base64,{encoded}"><figcaption>{_e(metric)}</figcaption></figure>'
        )
    sweeps = _sweeps(report)
    parallel = "".join(
        f'<figure><svg class="parallel" id="parallel-{i}"></svg><figcaption>sweep '
        f"{_e(sweep['name'])}: each line a run, across the parameters its runs vary and "
        f"{_e(sweep['axes'][-1])}</figcaption></figure>"
        for i, sweep in enumerate(sweeps)
    )
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    description = f"<p>{_e(report.description)}</p>" if report.description else ""
    empty = "" if body_rows else "<p>No runs match.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(report.title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_e(report.title)}</h1>
<p class="meta">{_e(report.summary())} · generated {_e(generated)}</p>
{description}
<input id="filter" type="search" placeholder="filter: words any cell holds" aria-label="filter">
<table class="sortable" id="board">
<thead><tr>{header}</tr></thead>
<tbody>
{chr(10).join(body_rows)}
</tbody>
</table>
{empty}
{_tasks_section(report)}
{chr(10).join(_section(*section) for section in sections)}
{_runs_table(report, base)}
{"<h2>Sweeps</h2>" + parallel if parallel else ""}
{chr(10).join(figures)}
{_json_script("run-data", _run_data(report))}
{_json_script("sweep-data", sweeps)}
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write_html(
    items: Sequence[Mapping[str, Any]],
    path: str | Path,
    metric: str | Sequence[str],
    title: str,
    *,
    keys: Sequence[str] = (),
    source: str | None = None,
    description: str | None = None,
    sections: Sequence[Section] = (),
    runs: Sequence[Mapping[str, Any]] = (),
) -> Path:
    """Write the HTML page for groups (from :func:`aggregate`) or runs; returns the path.

    ``metric`` is one metric name or several (one plot each); ``keys`` are the group-by keys
    (default: those of the first group; for runs: extra config keys to show as columns); ``source`` is shown as given, so pass a
    redacted URL.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not keys and items and "group" in items[0]:
        keys = list(items[0]["group"])
    report = Report(
        items=list(items),
        metrics=metrics,
        keys=list(keys),
        title=title,
        source=source,
        description=description,
        runs=list(runs),
    )
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, sections, target.parent.resolve()), encoding="utf-8")
    return target


def _sort_text(value: float | str) -> str:
    if isinstance(value, float):
        # repr() round-trips every finite float; JavaScript's Number() spells infinity out.
        return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
