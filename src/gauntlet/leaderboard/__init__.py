"""The team leaderboard: a SQLAlchemy store of runs, queries, and table/CSV/JSON/MD/HTML output.

``Leaderboard``, ``resolve_url`` and ``redact_url`` record runs; ``aggregate`` groups runs and
summarises metrics over seeds; ``write_html`` writes a table of groups as an HTML page (a
study's report.html; it loads matplotlib). The leaderboard's own page is ``gauntlet serve``'s
(:mod:`gauntlet.leaderboard.serve.snapshot`).

Each name is imported on first use, so that a run importing a light module of this package
(``query``, ``location``) does not pay for SQLAlchemy before it writes its row.
"""

from importlib import import_module
from typing import Any

# bound here, light as it is: once its module is imported, the package's attribute of that name
# would otherwise be the module, not the function
from gauntlet.leaderboard.aggregate import aggregate as aggregate

_HOMES = {
    "Leaderboard": "gauntlet.leaderboard.store",
    "redact_url": "gauntlet.leaderboard.store",
    "resolve_url": "gauntlet.leaderboard.location",
    "write_html": "gauntlet.leaderboard.html_page",
}
__all__ = sorted([*_HOMES, "aggregate"])


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
