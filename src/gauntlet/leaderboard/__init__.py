"""The team leaderboard: a SQLAlchemy store of runs, queries, and table/CSV/JSON/MD/HTML output.

``Leaderboard``, ``resolve_url`` and ``redact_url`` record runs; ``aggregate`` groups runs and
summarises metrics over seeds; ``write_html`` writes the HTML page (it loads matplotlib, so it
is imported on first use).
"""

from typing import Any

from gauntlet.leaderboard.aggregate import aggregate
from gauntlet.leaderboard.store import Leaderboard, redact_url, resolve_url

__all__ = ["Leaderboard", "aggregate", "redact_url", "resolve_url", "write_html"]


def __getattr__(name: str) -> Any:
    if name == "write_html":
        from gauntlet.leaderboard.html_page import write_html

        return write_html
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
