"""captum internals (measured on captum 0.9.0).

``ridge_surrogate``: Lime's default surrogate is a Lasso, which on few samples often zeroes
every feature; captum ships a ridge one only under ``captum._utils``. Test:
``tests/test_interpret_methods.py`` (LIME's attributions).
"""

from __future__ import annotations

from typing import Any


def ridge_surrogate(alpha: float = 1.0) -> Any:
    from captum._utils.models.linear_model import SkLearnRidge

    return SkLearnRidge(alpha=alpha)
