"""Private library APIs are used only behind the wall, gauntlet.compat, each entry with its
version and test. import-linter's forbidden contract (``make lint``) holds the imports; these
hold what it cannot see: attribute access to a private member, and the entries' documentation."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "gauntlet"
WALL = SRC / "compat"
# a private module of a library, or a private attribute of torch's modules
PRIVATE = re.compile(
    r"\b(hydra\._internal|wandb\.sdk|captum\._utils|torch\._dynamo|pytorch_lightning\.[\w.]*\._\w+"
    r"|lightning_fabric\.[\w.]*\._\w+|optuna\.[\w.]*\._\w+)|\._forward(_pre)?_hooks\b|\._trainer\b"
    r"|\._orig_mod\b|\._return_value\b|\._trial_id\b"
)


def test_no_private_library_api_outside_the_compat_modules():
    found = [
        f"{path.relative_to(SRC.parent)}:{number}: {line.strip()}"
        for path in SRC.parent.rglob("*.py")
        if WALL not in path.parents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == [], "\n".join(found)


def test_the_private_api_scan_finds_nothing_outside_compat_and_finds_a_planted_use(tmp_path):
    scan = runpy.run_path(str(REPO / "scripts" / "private_api_uses.py"))
    own = scan["defined_names"](scan["own_files"](SRC.parent))
    found = [line for path in scan["own_files"](SRC.parent) for line in scan["uses"](path, own)]
    assert found == [], "\n".join(found)
    # the scan sees each kind of use it names: a private import, attribute and module path
    planted = tmp_path / "gauntlet" / "planted.py"
    planted.parent.mkdir()
    planted.write_text(
        "from hydra._internal.utils import run_and_report\n"
        "def f(module, state):\n"
        "    return module._trainer, {k.replace('net._orig_mod.', ''): v for k, v in state}\n"
    )
    lines = scan["uses"](planted, set())
    assert len(lines) == 3 and "hydra._internal" in lines[0], lines


def test_every_compat_module_names_its_version_and_test():
    modules = [p for p in WALL.rglob("*.py") if p.name != "__init__.py" or p.parent != WALL]
    assert len(modules) >= 10
    for path in modules:
        text = path.read_text()
        name = path.relative_to(WALL)
        assert re.search(r"measured on\s+\S+\s+\d+\.\d+", text, re.IGNORECASE), name
        for test in re.findall(r"tests/(test_\w+\.py)", text) or [None]:
            assert test is not None, f"{name} names no test"
            assert (REPO / "tests" / test).is_file(), f"{name} names a missing test {test}"


def test_the_lightning_speedups_are_switchable_by_name():
    from gauntlet.compat.lightning import SPEEDUPS, switched_off
    from gauntlet.compat.lightning.checkpoint import ModelCheckpoint

    assert "checkpoint" in SPEEDUPS
    with switched_off(["checkpoint"]):
        assert "state_key" not in ModelCheckpoint.__dict__
    assert "state_key" in ModelCheckpoint.__dict__
