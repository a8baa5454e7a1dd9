"""The packages depend on each other in one direction: what they share sits below them."""

from __future__ import annotations

import subprocess
import sys


def imported_by(module: str) -> set[str]:
    """The gauntlet modules that importing ``module`` loads, in a fresh interpreter."""
    code = (
        f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('gauntlet')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(result.stdout.split())


def test_the_attack_command_does_not_load_the_interpretability_package():
    loaded = imported_by("gauntlet.robust.cli")
    assert "gauntlet.inference" in loaded
    assert not {m for m in loaded if m.startswith("gauntlet.interpret")}
