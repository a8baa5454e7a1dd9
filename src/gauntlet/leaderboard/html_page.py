"""A self-contained HTML page of a table of groups, for a study's ``report.html``: a filter box
over every table, columns sorted by clicking their headers, further tables (the claims), and a
plot per metric. Everything is inline (CSS, the script, the plots as base64 PNGs), so the file
needs no server and no network. Every value is HTML-escaped.

The leaderboard's own page (``gauntlet leaderboard --output page.html``) is not drawn here: it is
``gauntlet serve``'s page with its answers embedded (:mod:`gauntlet.leaderboard.serve.snapshot`).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gauntlet.leaderboard.plots import metric_png
from gauntlet.leaderboard.report import Report

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
td.id { white-space: nowrap; font-family: ui-monospace, monospace; }
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
    row.hidden = row.classList.contains("filtered");
  });
}
filterBox.addEventListener("input", applyFilter);

applyFilter();
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


def render_html(report: Report, sections: Sequence[Section] = ()) -> str:
    """The whole page as a string; ``sections`` are further tables after the main one."""
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
            cells.append(f"<td{css}{sort}>{_e(cell.text)}</td>")
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
{chr(10).join(_section(*section) for section in sections)}
{chr(10).join(figures)}
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
) -> Path:
    """Write the HTML page for groups (from :func:`aggregate`); returns the path.

    ``metric`` is one metric name or several (one plot each); ``keys`` are the group-by keys
    (default: those of the first group); ``source`` is shown as given, so pass a redacted URL.
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
    )
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, sections), encoding="utf-8")
    return target


def _sort_text(value: float | str) -> str:
    if isinstance(value, float):
        # repr() round-trips every finite float; JavaScript's Number() spells infinity out.
        return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
