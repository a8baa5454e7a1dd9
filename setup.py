"""Ships the repository's top-level ``conf/`` inside the wheel as ``gauntlet/conf``.

``conf/`` stays where the design puts it, beside ``src/``; a built package carries a copy, and
``gauntlet.config.find_config_dir`` finds either one. The build also records the commit it was
made from, so runs of an installed wheel can say which code made them.
"""

import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


class BuildWithConfigs(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads conf/ from the checkout itself
        package = Path(self.build_lib) / "gauntlet"
        target = package / "conf"
        if target.exists():
            shutil.rmtree(target)
        def skip(folder: str, names: list[str]) -> set[str]:
            # conf/local/ holds one machine's settings (gitignored): never shipped
            kept = {"__pycache__"} & set(names)
            return kept | ({"local"} if Path(folder) == ROOT / "conf" else set())

        shutil.copytree(ROOT / "conf", target, ignore=skip)
        (package / "build_info.json").write_text(json.dumps(_commit()) + "\n")


setup(cmdclass={"build_py": BuildWithConfigs})
