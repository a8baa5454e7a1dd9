"""Where the Hydra config tree lives, and the structured-config schemas that validate it."""

from __future__ import annotations

import os
from pathlib import Path

from gauntlet.schema import register_schemas

# conf/ sits at the repository root, beside src/; GAUNTLET_CONFIG_DIR points elsewhere.
CONFIG_DIR = Path(
    os.environ.get("GAUNTLET_CONFIG_DIR", Path(__file__).resolve().parents[2] / "conf")
)

__all__ = ["CONFIG_DIR", "register_schemas"]
