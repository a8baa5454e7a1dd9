"""Private library APIs are used only behind the wall: gauntlet.compat (and
gauntlet.lightning_compat for Lightning), each entry with its version and test."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gauntlet"
WALLS = {SRC / "compat", SRC / "lightning_compat"}
# a private module of a library, or a private attribute of torch's modules
PRIVATE = re.compile(
    r"\b(hydra\._internal|wandb\.sdk|captum\._utils|torch\._dynamo|pytorch_lightning\.[\w.]*\._\w+"
    r"|lightning_fabric\.[\w.]*\._\w+)|\._forward(_pre)?_hooks\b"
)


def test_no_private_library_api_outside_the_compat_modules():
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in SRC.rglob("*.py")
        if not any(wall in path.parents for wall in WALLS)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == [], "\n".join(found)


def test_every_compat_module_names_its_version_and_test():
    for path in (SRC / "compat").glob("*.py"):
        if path.name == "__init__.py":
            continue
        text = path.read_text()
        assert re.search(r"measured on\s+\S+\s+\d+\.\d+", text, re.IGNORECASE), path.name
        assert re.search(r"tests/test_\w+\.py", text), path.name
