"""The static page, ``gauntlet leaderboard --output page.html``: the served app's own page (its
HTML, script and style, inline) with the API's answers for the chosen runs embedded as JSON, so
the same script and the same views draw it as they draw ``gauntlet serve``'s pages, and the two
cannot drift apart.

The file needs no server and no network (a Content-Security-Policy forbids any request): the
board, each run's page with its curves drawn from the stored history, each group, sweep and
study, and the comparison of any two runs (from each run's ``gauntlet diff`` sections). Links
are fragments of the page (``#/runs/ID``), never paths on the disk that wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from gauntlet.leaderboard.serve.views import MAX_LIMIT, NotFound, Views, clean
from gauntlet.redaction import scrub_secrets

# a file opened from disk may run its own inline script and style, and fetch nothing
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'none'"
)


def _asset(name: str) -> str:
    return (
        resources.files("gauntlet.leaderboard.serve")
        .joinpath("static", name)
        .read_text(encoding="utf-8")
    )


def snapshot(views: Views, params: Mapping[str, Any], title: str) -> dict[str, Any]:
    """The API's answers a static page shows: the board ``params`` select (as ``/api/groups``
    and ``/api/runs`` answer it, every run), and each of its runs, groups, sweeps and studies."""
    from gauntlet.repro.diff import SECTIONS, sections_of

    query = {**params, "limit": params.get("limit") or MAX_LIMIT}
    groups = views.groups(query)
    runs = views.runs({**query, "limit": MAX_LIMIT})
    answers: dict[str, Any] = {
        "/api/groups": groups,
        "/api/runs": runs,
        "/api/tasks": views.tasks(params),
        "/api/studies": views.studies(),
    }
    sections: dict[str, Any] = {}
    metric = groups["metrics"][0]
    for item in runs["items"]:
        run_id = str(item["run_id"])
        answers[f"/api/runs/{run_id}"] = views.run(run_id)
        answers[f"/api/runs/{run_id}/history"] = views.history(run_id)
        row = views.board.get(run_id)
        sections[run_id] = clean(scrub_secrets(sections_of(row or {})))
        if item.get("sweep") and f"/api/sweeps/{item['sweep']}" not in answers:
            answers[f"/api/sweeps/{item['sweep']}"] = views.sweep(
                str(item["sweep"]), {"metric": metric}
            )
    for group in groups["items"]:
        if group.get("key"):
            answers[f"/api/groups/{group['key']}"] = views.group(group["key"], {"metric": metric})
    for study in answers["/api/studies"]:
        try:
            answers[f"/api/studies/{study['name']}"] = views.study(study["name"])
        except NotFound:  # removed since it was listed
            continue
    return {
        "title": title,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "answers": answers,
        "sections": sections,
        "section_order": list(SECTIONS),
    }


def render_page(data: Mapping[str, Any]) -> str:
    """The served page, made whole: its style and script inline and ``data`` embedded."""
    shell = _asset("index.html")
    style = f"<style>\n{_asset('app.css')}</style>"
    # "<" escaped, so that no value can close the element that holds it
    text = json.dumps(data, sort_keys=True, default=str).replace("<", "\\u003c")
    script = _asset("app.js")
    if "</script" in script.lower():
        raise AssertionError("app.js must not contain a closing script tag")
    page = shell.replace('<link rel="stylesheet" href="/static/app.css">', style, 1)
    page = page.replace(
        '<script src="/static/app.js" defer></script>',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        1,
    )
    page = page.replace(
        "<title>gauntlet leaderboard</title>", f"<title>{escape(str(data['title']))}</title>", 1
    )
    return page.replace(
        "</body>",
        f'<script type="application/json" id="snapshot">{text}</script>\n'
        f"<script>\n{script}</script>\n</body>",
        1,
    )


def write_page(views: Views, params: Mapping[str, Any], title: str, path: Path) -> Path:
    """Write the static page of the board ``params`` select to ``path``; returns the path."""
    path.write_text(render_page(snapshot(views, params, title)), encoding="utf-8")
    return path
