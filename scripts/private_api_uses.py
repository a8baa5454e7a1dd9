"""List the places outside src/gauntlet/compat/ that use a library's private API.

Usage: python scripts/private_api_uses.py [SRC_DIR]   (default: src; exit 1 when any is found)

A use is: an import of a library module or name that starts with an underscore
(``hydra._internal``, ``_SubprocessScriptLauncher``); an attribute ``x._name`` (or
``getattr(x, "_name")``) where ``_name`` is not defined anywhere in gauntlet's own code outside
compat/, so it is a library's (``module._trainer``, ``frozen._trial_id``); or a string naming a
private module path (``"net._orig_mod."``, a warning filter's module) or a library's private
class named by a string (``"_TqdmLoggingHandler"``). Dunders are public.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

OWN_PACKAGES = ("gauntlet", "hydra_plugins")


# underscore names that are documented public API
PUBLIC = {"_exit", "_replace", "_asdict", "_fields", "_make", "_target_", "_partial_", "_args_"}


def private(name: str) -> bool:
    dunder = name.startswith("__") and name.endswith("__")
    return name.startswith("_") and not dunder and name not in PUBLIC


def own_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "compat" not in p.relative_to(root).parts)


def defined_names(files: list[Path]) -> set[str]:
    """Private names gauntlet's own code defines: functions, classes, assigned attributes."""
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.keyword) and node.arg:
                names.add(node.arg)  # dataclass fields built by keyword
    return {n for n in names if private(n)}


def is_own(name: str, own: set[str]) -> bool:
    # gauntlet marks library objects it wraps with attributes of its own: _gauntlet_*
    return name in own or name.startswith("_gauntlet")


def uses(path: Path, own: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        hit = None
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith(OWN_PACKAGES) and (
                any(private(part) for part in node.module.split("."))
                or any(private(alias.name) for alias in node.names)
            ):
                hit = f"from {node.module} import {', '.join(a.name for a in node.names)}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith(OWN_PACKAGES) and any(
                    private(part) for part in alias.name.split(".")
                ):
                    hit = f"import {alias.name}"
        elif (
            isinstance(node, ast.Attribute) and private(node.attr) and not is_own(node.attr, own)
        ) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
            and not is_own(node.args[1].value, own)
        ):
            hit = ast.unparse(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            parts = text.strip(".").split(".")
            dotted = len(parts) > 1 and all(p.isidentifier() for p in parts)
            # a module path or attribute chain with a private part after the first, or a
            # library's private name on its own (a class name compared with type(x).__name__)
            private_path = dotted and any(private(p) and not is_own(p, own) for p in parts[1:])
            private_class = re.fullmatch(r"_[A-Z]\w*[a-z]\w*", text) and not is_own(text, own)
            if private_path or private_class:
                hit = repr(text)
        if hit:
            found.append(f"{path}:{node.lineno}: {hit}")
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    files = own_files(root)
    own = defined_names(files)
    found = sorted({line for path in files for line in uses(path, own)})
    print("\n".join(found) if found else "no private library API outside compat/")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
