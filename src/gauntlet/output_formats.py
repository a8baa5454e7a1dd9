"""What every written output shares: a Markdown table cell that stays one cell, and a tree
made strict JSON. Below the commands that write reports (``leaderboard``, ``study``, ``diff``),
so none of them imports another for it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def markdown_cell(text: str) -> str:
    # Pipes would split the cell; angle brackets would be read as raw HTML by most renderers.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def finite(value: Any) -> Any:
    """A copy of a JSON-like tree with NaN and infinities replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value
