"""Private library APIs are used only behind the wall, gauntlet.compat, each entry with its
version and test. import-linter's forbidden contract (``make lint``) holds the imports; these
hold what it cannot see: attribute access to a private member, and the entries' documentation."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def _lint_imports(*args: str, cwd: Path = REPO, env: dict | None = None):
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (the dev extra installs it)")
    return subprocess.run(
        [exe, "--no-cache", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_the_import_contracts_are_kept():
    done = _lint_imports()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert ", 0 broken." in done.stdout and "compat" in done.stdout


def test_the_forbidden_contract_catches_each_private_module_it_names(tmp_path):
    """The same list of forbidden modules, applied to a package that imports each of them:
    every one is reported."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (wall,) = [c for c in config["contracts"] if c["type"] == "forbidden"]
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    forbidden = wall["forbidden_modules"]
    (package / "uses.py").write_text("".join(f"import {name}\n" for name in forbidden))
    roots = sorted({name.split(".")[0] for name in forbidden})
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_packages =\n    planted\n"
        + "".join(f"    {root}\n" for root in roots)
        + "[importlinter:contract:wall]\nname = wall\ntype = forbidden\n"
        + "source_modules =\n    planted\nallow_indirect_imports = true\n"
        + "forbidden_modules =\n"
        + "".join(f"    {name}\n" for name in forbidden)
    )
    done = _lint_imports(cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    for name in forbidden:
        assert f"planted is not allowed to import {name}" in done.stdout, name


def test_a_failed_jobs_exception_that_does_not_pickle_travels_as_its_text():
    """The isolated launcher sends each job's JobReturn back from its process; Hydra keeps a
    failed job's exception in a private field (compat.hydra.job_error)."""
    import pickle
    import threading

    from hydra.core.utils import JobReturn, JobStatus

    from gauntlet.compat.hydra import job_error
    from hydra_plugins.gauntlet_launchers._job_process import _dumps

    class Unpicklable(Exception):
        def __init__(self) -> None:
            super().__init__("lock held")
            self.lock = threading.Lock()

    ret = JobReturn(status=JobStatus.FAILED, _return_value=Unpicklable())
    back = pickle.loads(_dumps(ret))
    assert back.status == JobStatus.FAILED
    error = job_error(back)
    assert isinstance(error, RuntimeError) and str(error) == "Unpicklable: lock held"
    with pytest.raises(RuntimeError, match="Unpicklable: lock held"):
        _ = back.return_value  # Hydra's public way re-raises it
