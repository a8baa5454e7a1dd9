"""A full or read-only disk at every write site outside the checkpoint path: one line, exit
code 1, no traceback, no half-written file (no 0-byte picture); a read-only leaderboard
database is still read.

Each fault is a real filesystem: a tmpfs mounted for the test, filled to the last byte or
remounted read-only (root on Linux; skipped elsewhere).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from faults import QUICK
from test_faults import can_mount_tmpfs


def gauntlet(*args: str) -> tuple[int, str]:
    from gauntlet.cli import main

    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        try:
            code = main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return code, out.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    code, said = gauntlet(
        "train", *QUICK, "model.net.hidden=8", f"hydra.run.dir={root / 'run'}",
        f"paths.log_dir={root}",
    )  # fmt: skip
    assert code == 0, said
    return root


@pytest.fixture
def faulty(tmp_path):
    """``faulty(kind, copy=DIR)``: a tmpfs holding a copy of DIR (if given), then made
    read-only or filled to its last byte."""
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    mounts: list[Path] = []

    def make(kind: str, copy: Path | None = None) -> Path:
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounts.append(point)
        if copy is not None:
            shutil.copytree(copy, point / copy.name)
        if kind == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        else:
            fill(point)
        return point

    yield make
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(point: Path) -> None:
    """Write zeros until the disk refuses even one more byte."""
    import os

    fd = os.open(point / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)


def one_line_failure(code: int, said: str, path: Path) -> None:
    errors = [line for line in said.splitlines() if "error: " in line]
    assert code == 1, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert len(errors) == 1 and str(path) in errors[0], said[-3000:]


def no_empty_pictures(root: Path) -> None:
    assert [p for p in root.rglob("*.png") if p.stat().st_size == 0] == []
    assert [p for p in root.rglob(".tmp-*")] == []


FAULTS = ["read-only", pytest.param("full", marks=pytest.mark.slow)]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_run_directory_on_a_faulty_disk_is_one_line_before_hydra_writes(fault, faulty, trained):
    disk = faulty(fault)
    code, said = gauntlet("train", *QUICK, f"hydra.run.dir={disk / 'run'}",
                          f"paths.log_dir={trained}")  # fmt: skip
    one_line_failure(code, said, disk / "run")


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_eval_into_a_faulty_disk_is_one_line(fault, faulty, trained):
    disk = faulty(fault)
    ckpt = trained / "run" / "checkpoints" / "last.ckpt"
    code, said = gauntlet("eval", f"ckpt_path={ckpt}", f"hydra.run.dir={disk / 'eval'}")
    one_line_failure(code, said, disk / "eval")


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(
    "command",
    [["explain", "method=saliency", "n=2", "steps=2"], ["attack", "eps=[0.1]"]],
    ids=["explain", "attack"],
)
def test_explain_and_attack_of_a_run_on_a_faulty_disk_are_one_line(command, fault, faulty,
                                                                   trained):  # fmt: skip
    disk = faulty(fault, copy=trained / "run")
    ckpt = disk / "run" / "checkpoints" / "last.ckpt"
    code, said = gauntlet(command[0], f"ckpt_path={ckpt}", *command[1:])
    one_line_failure(code, said, disk / "run")
    no_empty_pictures(disk)


@pytest.mark.slow
def test_a_read_only_leaderboard_is_still_read(faulty, trained):
    board = trained / "board"
    board.mkdir(exist_ok=True)
    shutil.copy(trained / "leaderboard.db", board / "leaderboard.db")
    disk = faulty("read-only", copy=board)
    code, said = gauntlet("leaderboard", "--log-dir", str(disk / "board"), "--runs", "--all")
    assert code == 0, said
    assert "could not create the tables" not in said
    assert "1 run" in said or "run_id" in said or "digits" in said, said
