"""Shell completion: the script `gauntlet -sc install=bash` prints, run in a real bash, completes
commands, config groups and their options; `--hydra-help` advertises only forms that work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # where the `gauntlet` console script is installed
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def query(line: str, *command: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "gauntlet", *command, "-sc", "query=bash"],
        capture_output=True,
        text=True,
        env=env(COMP_LINE=line),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_query_completes_groups_and_their_options():
    assert "model=" in query("gauntlet train mod", "train")
    assert set(query("gauntlet train model=", "train")) >= {
        "model=cnn",
        "model=rnn",
        "model=transformer",
    }
    assert "trainer.max_epochs=" in query("gauntlet train trainer.max_", "train")
    assert query("gauntlet tr") == ["train"]  # the command itself
    assert query("gauntlet eval ckpt") == ["ckpt_path="]
    assert query("gauntlet leaderboard --") == []  # not a Hydra command: the shell's own


@needs_bash
def test_the_installed_bash_script_completes_in_bash(tmp_path):
    install = subprocess.run(
        [BIN / "gauntlet", "-sc", "install=bash"], capture_output=True, text=True, env=env()
    )
    assert install.returncode == 0, install.stderr
    assert install.stdout.rstrip().endswith("-F hydra_bash_completion gauntlet")
    script = tmp_path / "completion.bash"
    script.write_text(install.stdout)

    def complete(line: str) -> list[str]:
        words = line.split() + ([""] if line.endswith(" ") else [])
        body = (
            f"source {script}\n"
            f'COMP_LINE="{line}"; COMP_POINT={len(line)}; COMP_CWORD={len(words) - 1}\n'
            "hydra_bash_completion\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        done = subprocess.run(
            ["bash", "-c", body], capture_output=True, text=True, env=env(), timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert "model=" in complete("gauntlet train mod")
    assert "model=transformer" in complete("gauntlet train model=")
    assert complete("gauntlet tr") == ["train"]


def test_hydra_help_advertises_completion_forms_that_work():
    done = subprocess.run(
        [BIN / "gauntlet", "--hydra-help"], capture_output=True, text=True, env=env()
    )
    assert done.returncode == 0, done.stderr
    assert 'eval "$(gauntlet -sc install=bash)"' in done.stdout
    for shell in ("bash", "fish"):
        for action in ("install", "uninstall"):
            run = subprocess.run(
                [BIN / "gauntlet", "-sc", f"{action}={shell}"],
                capture_output=True,
                text=True,
                env=env(),
            )
            assert run.returncode == 0 and run.stdout.strip(), (shell, action, run.stderr)


def test_train_help_names_the_command_and_the_completion():
    done = subprocess.run(
        [BIN / "gauntlet", "train", "--help"], capture_output=True, text=True, env=env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gauntlet train: ")
    assert 'eval "$(gauntlet -sc install=bash)"' in done.stdout
