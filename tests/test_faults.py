"""Faults a run meets and what it leaves behind: nothing lost, nothing overwritten with less,
every record in a final state (see the README, "What gauntlet promises when things go wrong")."""

from __future__ import annotations

import csv
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from faults import QUICK, cli, finish, manifest, row, spawn, sqlite


def can_mount_tmpfs() -> str | None:
    """None when this process may mount a tmpfs (root on Linux), else why not."""
    if sys.platform != "linux":
        return "tmpfs mounts need Linux"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size)``: a fresh tmpfs mounted under tmp_path (a second filesystem)."""
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    mounts: list[Path] = []

    def mount(size: str = "64m") -> Path:
        point = tmp_path / f"tmpfs{len(mounts)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_atomic_write_leaves_the_old_file_when_the_write_fails(tmp_path):
    from gauntlet.run.files import atomic_path

    target = tmp_path / "last.ckpt"
    target.write_bytes(b"good")
    with pytest.raises(OSError) as raised, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.filename == str(target)
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# -- nothing overwritten with less -----------------------------------------------------------


def test_a_completed_run_is_resumed_only_to_train_more_and_keeps_every_metric(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, err = cli("train", *QUICK, f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}",
                    capsys=capsys)  # fmt: skip
    assert code == 0, err
    done = manifest(run_dir)
    csv_before = (run_dir / "metrics.csv").read_text()

    code, err = cli("train", f"resume={run_dir}", f"paths.log_dir={tmp_path}", capsys=capsys)
    assert code == 2
    assert "already completed (1 epochs" in err and "trainer.max_epochs=" in err
    assert "Traceback" not in err
    assert manifest(run_dir)["metrics"] == done["metrics"]
    assert (run_dir / "metrics.csv").read_text() == csv_before

    code, err = cli("train", f"resume={run_dir}", "trainer.max_epochs=2",
                    f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 0, err
    more = manifest(run_dir)
    assert more["status"] == "completed" and more["epochs"] == 2
    assert set(done["metrics"]) <= set(more["metrics"])  # val/acc_best, train/*, gap/*, perf/*
    for key in ("val/acc_best", "best_epoch", "train/loss", "gap/acc", "perf/samples_per_s"):
        assert key in more["metrics"]
    with (run_dir / "metrics.csv").open() as f:
        test_rows = [r for r in csv.DictReader(f) if r.get("test/acc")]
    assert len(test_rows) == 2 and test_rows[0]["step"] != test_rows[1]["step"]


def test_metrics_measured_after_the_run_are_merged_not_replaced(tmp_path):
    from gauntlet.run.manifest import read_manifest, update_metrics, write_manifest

    write_manifest(tmp_path, {"run_id": "r", "metrics": {"test/acc": 0.9, "val/acc_best": 0.8}})
    update_metrics(tmp_path, {"robust/acc@0.1": 0.5})
    assert read_manifest(tmp_path)["metrics"] == {
        "test/acc": 0.9,
        "val/acc_best": 0.8,
        "robust/acc@0.1": 0.5,
    }


def test_a_damaged_last_checkpoint_is_refused_and_the_last_good_one_named(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, err = cli("train", *QUICK, "trainer.max_epochs=2", f"hydra.run.dir={run_dir}",
                    f"paths.log_dir={tmp_path}", "trainer.max_time=null", capsys=capsys)  # fmt: skip
    assert code == 0, err
    last = run_dir / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # as a copy cut short by a kill leaves it
    code, err = cli("train", f"resume={run_dir}", "trainer.max_epochs=3",
                    f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 2
    assert f"checkpoint {last} is damaged" in err
    assert f"the last good checkpoint there is {run_dir / 'checkpoints' / 'best.ckpt'}" in err
    assert "Traceback" not in err


def test_a_second_process_on_one_run_is_refused_naming_the_first_ones_pid(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, err = cli("train", *QUICK, f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}",
                    capsys=capsys)  # fmt: skip
    assert code == 0, err
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from gauntlet.run.lock import RunLock; "
         "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
         str(run_dir)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        code, err = cli("train", f"resume={run_dir}", "trainer.max_epochs=2",
                        f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    assert f"is in use by pid {holder.pid} on " in err
    assert manifest(run_dir)["status"] == "completed"


# -- a row always ends in a final state ------------------------------------------------------


def test_a_running_record_whose_process_is_gone_is_marked_lost(tmp_path):
    from gauntlet.leaderboard.store import Leaderboard
    from gauntlet.run.liveness import STALE_AFTER_S
    from gauntlet.run.lock import RunLock
    from gauntlet.run.manifest import base_manifest, write_manifest

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs
    url = sqlite(tmp_path / "leaderboard.db")
    records = {}
    for name, pid in (("gone", gone.pid), ("alive", os.getpid())):
        run_dir = tmp_path / name
        m = base_manifest(run_id=name, run_dir=run_dir, config={}, overrides=[], choices={},
                          seed=0, experiment="e", study=None, tags=[])  # fmt: skip
        m["pid"] = pid
        write_manifest(run_dir, m)
        records[name] = m
    lock = RunLock(tmp_path / "alive")
    lock.acquire()  # this process trains "alive"
    (tmp_path / "gone" / ".lock").write_text(f"pid {gone.pid}\n")  # left behind, not held
    far = {**records["alive"], "run_id": "far", "host": "elsewhere", "run_dir": "/nowhere",
           "heartbeat": "2000-01-01T00:00:00+00:00"}  # fmt: skip
    with Leaderboard.open(url, settle=False) as board:
        for m in (*records.values(), far):
            board.upsert(m)
    try:
        with Leaderboard.open(url) as board:  # what every command does when it opens it
            status = {r["run_id"]: (r["status"], r["error"]) for r in board.runs()}
    finally:
        lock.release()
    assert status["alive"] == ("running", None)
    assert status["gone"][0] == "lost" and f"pid {gone.pid} on " in status["gone"][1]
    assert status["far"][0] == "lost" and "sent no heartbeat for" in status["far"][1]
    assert STALE_AFTER_S > 60
    assert manifest(tmp_path / "gone")["status"] == "lost"
    assert manifest(tmp_path / "alive")["status"] == "running"


@pytest.mark.slow
def test_a_run_killed_by_sigkill_shows_as_lost_on_the_next_leaderboard(tmp_path, capsys):
    run_dir = tmp_path / "run"
    proc = spawn("train", *QUICK, "trainer.max_epochs=200", "trainer.limit_train_batches=1.0",
                 f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}")  # fmt: skip
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").is_file():  # well into training
        assert proc.poll() is None, finish(proc)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    running = manifest(run_dir)
    assert running["status"] == "running" and running["pid"] == proc.pid
    assert running["heartbeat"]

    code, out = cli("leaderboard", "--log-dir", str(tmp_path), "--status", "lost", "--all", "--runs",
                    "--format", "json", capsys=capsys)  # fmt: skip
    assert code == 0, out
    assert running["run_id"] in out
    lost = manifest(run_dir)
    assert lost["status"] == "lost"
    assert f"pid {proc.pid} on {running['host']}" in lost["error"]
    stored = row(sqlite(tmp_path / "leaderboard.db"), running["run_id"])
    assert stored["status"] == "lost" and stored["error"] == lost["error"]


def test_a_run_killed_before_its_start_row_arrived_is_still_found_lost(tmp_path, capsys):
    """The start row is written by a thread after a pending copy is on disk: with the database
    locked the row cannot arrive, the run is killed meanwhile, and the next command finds it."""
    from gauntlet.leaderboard import store

    url = sqlite(tmp_path / "leaderboard.db")
    with store.Leaderboard.open(url):
        pass
    locker = sqlite3.connect(tmp_path / "leaderboard.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    run_dir = tmp_path / "run"
    try:
        proc = spawn("train", *QUICK, "trainer.max_epochs=200", "trainer.limit_train_batches=1.0",
                     f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}")  # fmt: skip
        deadline = time.monotonic() + 300
        while not (run_dir / "checkpoints" / "last.ckpt").is_file():  # training, row pending
            assert proc.poll() is None, finish(proc)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert (run_dir / "leaderboard.pending.json").is_file()
        proc.kill()
        proc.wait()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    run_id = manifest(run_dir)["run_id"]
    assert row(url, run_id) is None  # the row never arrived
    code, out = cli("leaderboard", "--log-dir", str(tmp_path), "--status", "lost", "--all", "--runs",
                    "--format", "json", capsys=capsys)  # fmt: skip
    assert code == 0, out
    assert run_id in out
    assert row(url, run_id)["status"] == "lost"
    assert manifest(run_dir)["status"] == "lost"
    assert not (run_dir / "leaderboard.pending.json").exists()


@pytest.mark.slow
def test_sigterm_before_the_first_checkpoint_does_not_suggest_resume(tmp_path):
    run_dir = tmp_path / "run"
    proc = spawn("train", *QUICK, "data.batch_size=1", "trainer.limit_train_batches=1.0",
                 f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}")  # fmt: skip
    deadline = time.monotonic() + 300
    while not (run_dir / "manifest.json").is_file():
        assert proc.poll() is None, finish(proc)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # inside the first epoch (over a thousand steps of one sample)
    assert not (run_dir / "checkpoints" / "last.ckpt").exists()
    proc.send_signal(signal.SIGTERM)
    code, output = finish(proc)
    assert code == 143, output[-2000:]
    stopped = manifest(run_dir)
    assert stopped["status"] == "failed"
    assert stopped["error"] == (
        "stopped by SIGTERM; it had not saved a checkpoint yet, so start it again"
    )
    assert "resume=" not in output


# -- the leaderboard unreachable -------------------------------------------------------------


def test_a_row_the_database_could_not_take_is_written_by_the_next_command(tmp_path, capsys):
    blocker = tmp_path / "board"
    blocker.write_text("a file where the database's directory should be")
    url = sqlite(blocker / "leaderboard.db")
    run_dir = tmp_path / "run"
    code, err = cli("train", *QUICK, f"leaderboard.url={url}", f"hydra.run.dir={run_dir}",
                    f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 0, err
    pending = run_dir / "leaderboard.pending.json"
    assert pending.is_file()
    run_id = manifest(run_dir)["run_id"]

    blocker.unlink()  # the database is back
    blocker.mkdir()
    code, out = cli("leaderboard", "--url", url, capsys=capsys)
    assert code == 0, out
    stored = row(url, run_id)
    assert stored is not None and stored["status"] == "completed"
    assert stored["metrics"]["test/acc"] == manifest(run_dir)["metrics"]["test/acc"]
    assert not pending.exists()


def test_a_database_locked_past_its_retry_time_keeps_the_row_pending(tmp_path, capsys, monkeypatch):
    from gauntlet.leaderboard import store

    url = sqlite(tmp_path / "leaderboard.db")
    with store.Leaderboard.open(url):
        pass
    monkeypatch.setattr(store, "RETRY_SECONDS", 0.5)
    monkeypatch.setattr(store, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    locker = sqlite3.connect(tmp_path / "leaderboard.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    run_dir = tmp_path / "run"
    try:
        code, err = cli("train", *QUICK, f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}",
                        capsys=capsys)  # fmt: skip
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert code == 0, err
    assert (run_dir / "leaderboard.pending.json").is_file()
    run_id = manifest(run_dir)["run_id"]
    monkeypatch.undo()
    code, _ = cli("train", *QUICK, f"hydra.run.dir={tmp_path / 'next'}",
                  f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 0
    assert row(url, run_id)["status"] == "completed"
    assert not (run_dir / "leaderboard.pending.json").exists()


# -- a diverging run -------------------------------------------------------------------------


def test_a_diverging_run_stops_at_once_and_says_what_to_change(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, err = cli("train", *QUICK, "trainer.max_epochs=5", "trainer.limit_train_batches=20",
                    "model.optimizer.lr=1e30", "model.scheduler=null",
                    f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}",
                    capsys=capsys)  # fmt: skip
    assert code == 1
    failed = manifest(run_dir)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("train/loss (step) became nan at epoch 0, step ")
    assert "Lower model.optimizer.lr (now 1e+30)" in failed["error"]
    step = int(failed["error"].split("step ")[1].split(" ")[0])
    assert step < 20  # stopped within the first epoch, not after five
    assert failed["error"] in err and "Traceback" not in err
    stored = row(sqlite(tmp_path / "leaderboard.db"), failed["run_id"])
    assert stored["status"] == "failed" and stored["error"] == failed["error"]


# -- a full disk, a second filesystem ----------------------------------------------------------


def test_a_full_disk_fails_the_run_with_one_message_and_always_in_its_row(tmp_path, tmpfs, capsys):
    small = tmpfs("300k")  # room for the Hydra files and the manifest, not for a checkpoint
    url = sqlite(tmp_path / "leaderboard.db")
    run_dir = small / "run"
    code, output = cli("train", *QUICK, f"leaderboard.url={url}", f"hydra.run.dir={run_dir}",
                       f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 1, output[-3000:]
    assert "Traceback" not in output
    said = [line for line in output.splitlines() if "no space left on device" in line]
    assert said == [f"gauntlet: error: no space left on device: {run_dir}/checkpoints/best.ckpt"]
    (stored,) = _rows(url)
    assert stored["status"] == "failed"
    assert stored["error"] == f"no space left on device: {run_dir}/checkpoints/best.ckpt"
    assert manifest(run_dir)["error"] == stored["error"]
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def _rows(url: str) -> list[dict]:
    from gauntlet.leaderboard.store import Leaderboard

    with Leaderboard.open(url, settle=False) as board:
        return board.runs()


@pytest.mark.slow
def test_kill_9_while_a_checkpoint_is_written_to_another_filesystem_leaves_a_resumable_run(
    tmp_path, tmpfs
):
    """The log directory on a tmpfs; the run is killed while ``last.ckpt`` is being written
    (its temporary file exists), then resumed to the end."""
    other = tmpfs("512m")
    run_dir = other / "run"
    # a wide network: each checkpoint is tens of MB, so its write takes a while
    args = ["train", *QUICK, "trainer.max_epochs=30", "model.net.hidden=160",
            f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}"]  # fmt: skip
    proc = spawn(*args)
    checkpoints = run_dir / "checkpoints"
    caught = False
    deadline = time.monotonic() + 400
    while proc.poll() is None and time.monotonic() < deadline:
        if (checkpoints / "last.ckpt").is_file() and any(
            p.name.startswith(".tmp-last.ckpt") for p in checkpoints.iterdir()
        ):
            proc.kill()
            caught = True
            break
        time.sleep(0.001)
    proc.wait()
    assert caught, "the run ended before a checkpoint write could be interrupted"
    torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    code, output = finish(spawn("train", f"resume={run_dir}", f"paths.log_dir={tmp_path}"))
    assert code == 0, output[-3000:]
    assert manifest(run_dir)["status"] == "completed"
    assert not any(p.name.startswith(".tmp-") for p in checkpoints.iterdir())
