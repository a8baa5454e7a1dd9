"""Bad input costs nothing and never hangs: one line naming the key or file, exit code 2.

Classes, each tried over its shapes:

- files that are not what they claim (empty, random bytes, a truncated archive, a directory)
  at every place a file is read: arrays, labels, checkpoints, run manifests;
- a manifest that is valid JSON with a field of the wrong type, for every field readers use;
- values whose check would cost memory or time in proportion to them (a label or token id of
  10**12);
- every Trainer argument outside its documented domain, read from the schema's own table,
  and what Lightning refuses only once it knows the data (``val_check_interval`` beyond the
  epoch);
- settings that would wait or train for ever (``num_nodes=2`` with no cluster,
  ``max_epochs=-1`` unbounded) and a leaderboard that cannot keep rows (in memory).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from faults import QUICK, cli

SLOW = pytest.mark.slow


def one_line_error(code: int, said: str, *names: str, exit_code: int = 2) -> None:
    errors = [line for line in said.splitlines() if "error: " in line]
    assert code == exit_code, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert len(errors) == 1, said[-3000:]
    for name in names:
        assert name in errors[0], errors[0]


def _fast_first(cases):
    """One case in the fast suite, every case in the slow one."""
    slow = [pytest.param(*c.values, id=c.id, marks=pytest.mark.slow) for c in cases[1:]]
    return cases[:1] + slow


def train(tmp_path: Path, *overrides: str, capsys) -> tuple[int, str]:
    return cli("train", *QUICK, *overrides, f"hydra.run.dir={tmp_path / 'run'}",
               f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip


# -- files that are not what they claim ---------------------------------------------------------

BROKEN = {
    "empty": lambda p: p.write_bytes(b""),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(300)),
    "truncated archive": lambda p: (
        np.savez(p.with_suffix(".tmp.npz"), x_train=np.zeros((8, 2, 3)), y_train=np.arange(8)),
        p.write_bytes(p.with_suffix(".tmp.npz").read_bytes()[:200]),
    ),
    "a directory": lambda p: p.mkdir(),
}
# (where the file goes, its name, the override naming it)
READERS = {
    "arrays": ("data.npz", lambda f: ["data=arrays", f"data.path={f}"]),
    "labels": (
        "labels.npy",
        lambda f: ["data=arrays", f"data.path={f.parent / 'x.npy'}", f"data.labels={f}"],
    ),
    "checkpoint": ("model.ckpt", lambda f: [f"ckpt_path={f}"]),
    "resume manifest": ("manifest.json", lambda f: [f"resume={f.parent}"]),
}


def file_cases():
    cases = [pytest.param(r, b, id=f"{r}-{b}") for r in READERS for b in BROKEN]
    return _fast_first(cases)


@pytest.mark.parametrize(("reader", "broken"), file_cases())
def test_a_file_that_is_not_what_it_claims_is_one_line_naming_it(reader, broken, tmp_path, capsys):
    if reader == "resume manifest" and broken == "a directory":
        pytest.skip("resume= takes the run directory itself; covered by the manifest test")
    name, overrides = READERS[reader]
    folder = tmp_path / "given"
    folder.mkdir()
    np.save(folder / "x.npy", np.zeros((12, 2, 3), dtype=np.float32))
    path = folder / name
    BROKEN[broken](path)
    if reader == "resume manifest":
        (folder / "checkpoints").mkdir()
    code, said = train(tmp_path, *overrides(path), capsys=capsys)
    one_line_error(code, said, str(path.name))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from gauntlet.cli import main

    root = tmp_path_factory.mktemp("run")

    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(["train", *QUICK, f"hydra.run.dir={root / 'run'}", f"paths.log_dir={root}"])
    assert code == 0
    return root / "run"


def wrong_type_cases():
    from gauntlet.run.manifest import FIELD_TYPES

    cases = []
    for name, types in FIELD_TYPES.items():
        bad = 5 if str in types else "oops"
        cases.append((name, bad))
    cases.append(("metrics", {"test/acc": "high"}))
    commands = ["resume", "diff", "reproduce"]
    return _fast_first([pytest.param(c, f, v, id=f"{c}-{f}") for f, v in cases for c in commands])


@pytest.mark.parametrize(("command", "field", "value"), wrong_type_cases())
def test_a_manifest_with_a_field_of_the_wrong_type_is_one_line_naming_the_field(
    command, field, value, finished_run, tmp_path, capsys
):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest[field] = value
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    if command == "resume":
        code, said = cli("train", f"resume={run_dir}", capsys=capsys)
    elif command == "diff":
        code, said = cli("diff", str(run_dir), str(finished_run), capsys=capsys)
    else:
        code, said = cli("reproduce", str(run_dir), capsys=capsys)
    one_line_error(code, said, repr(field))


# -- checks cost what the data costs, never what a value says -----------------------------------


@pytest.mark.parametrize(
    ("what", "arrays"),
    [
        ("label 10**12", {"y_train": np.array([0, 1] * 10 + [10**12])}),
        pytest.param(
            "label 2**62 as float",
            {"y_train": np.array([0.0, 1.0] * 10 + [2.0**62])},
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "token id 10**12",
            {"x_train": np.r_[np.zeros((20, 5), np.int64), [[10**12] * 5]]},
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "negative label -10**12",
            {"y_train": np.array([0, 1] * 10 + [-(10**12)])},
            marks=pytest.mark.slow,
        ),
    ],
)
def test_a_huge_value_costs_nothing_to_refuse(what, arrays, tmp_path, capsys):
    data = {"x_train": np.zeros((21, 2, 3), np.float32), "y_train": np.array([0, 1] * 10 + [1])}
    data.update(arrays)
    path = tmp_path / "huge.npz"
    np.savez(path, **data)
    code, said = train(tmp_path, "data=arrays", f"data.path={path}", capsys=capsys)
    one_line_error(code, said, "huge.npz")


# -- every trainer argument by its domain -------------------------------------------------------


def test_every_trainer_field_has_a_domain():
    from gauntlet.config_schema import RANGES, TrainerSchema

    checked = {key.removeprefix("trainer.") for key, _, _ in RANGES if key.startswith("trainer.")}
    unchecked = [
        f.name
        for f in dataclasses.fields(TrainerSchema)
        if f.name not in checked and f.type not in (bool, "bool", "Optional[bool]")
        and f.name != "_target_"
    ]  # fmt: skip
    assert unchecked == []


CANDIDATES = (-5, 0, -0.5, 1.5, 10**12, "bogus", "1:2")


def trainer_domain_cases():
    """Every trainer key with a value of the candidates its domain refuses."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ValidationError

    from gauntlet.config_schema import RANGES, TrainerSchema

    cases = []
    for key, ok, _ in RANGES:
        name = key.removeprefix("trainer.")
        if not key.startswith("trainer.") or name == "default_root_dir":
            continue
        for value in CANDIDATES:
            try:  # what the schema's type refuses fails at composition: a class of its own
                OmegaConf.update(OmegaConf.structured(TrainerSchema), name, value)
            except ValidationError:
                continue
            try:
                refused = not ok(value)
            except TypeError:
                refused = True
            if refused:
                cases.append(pytest.param(key, value, id=f"{key}={value}"))
    return cases


@pytest.mark.parametrize(("key", "value"), _fast_first(trainer_domain_cases()))
def test_a_trainer_value_outside_its_documented_domain_is_one_line(key, value, tmp_path, capsys):
    code, said = train(tmp_path, f"{key}={value}", capsys=capsys)
    one_line_error(code, said, key)
    assert not (tmp_path / "leaderboard.db").exists()  # refused before anything was recorded


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.val_check_interval=1000"],
        pytest.param(
            ["trainer.limit_train_batches=2", "trainer.val_check_interval=3"],
            marks=pytest.mark.slow,
        ),
    ],
)
def test_what_lightning_refuses_once_it_knows_the_data_names_the_key(overrides, tmp_path, capsys):
    code, said = train(tmp_path, *overrides, capsys=capsys)
    one_line_error(code, said, "trainer.val_check_interval")


# -- nothing that waits or trains for ever, nothing that loses rows -----------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["trainer.num_nodes=2"], "trainer.num_nodes"),
        pytest.param(["trainer.num_nodes=4", "trainer.devices=2"], "trainer.num_nodes", marks=SLOW),
        (["trainer.max_epochs=-1"], "trainer.max_epochs"),
        pytest.param(
            ["trainer.max_epochs=-1", "trainer.max_steps=-1"], "trainer.max_epochs", marks=SLOW
        ),
        (["leaderboard.url=sqlite://"], "leaderboard.url"),
        pytest.param(["leaderboard.url=sqlite:///:memory:"], "leaderboard.url", marks=SLOW),
        pytest.param(
            ["leaderboard.url='sqlite:///file:x?mode=memory&uri=true'"],
            "leaderboard.url",
            marks=SLOW,
        ),
    ],
)
def test_a_setting_that_would_wait_or_train_for_ever_or_lose_rows_is_refused(
    overrides, key, tmp_path, capsys
):
    code, said = train(tmp_path, *overrides, capsys=capsys)
    one_line_error(code, said, key)


def test_max_epochs_minus_one_bounded_by_steps_trains_and_says_so(tmp_path, capsys):
    code, said = train(tmp_path, "trainer.max_epochs=-1", "trainer.max_steps=4", capsys=capsys)
    assert code == 0, said
    assert "trainer.max_epochs=-1: no epoch limit" in said
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["steps"] == 4


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_the_leaderboard_command_refuses_an_in_memory_database(url, capsys):
    code, said = cli("leaderboard", "--url", url, capsys=capsys)
    one_line_error(code, said, "in-memory", exit_code=2)  # a user error, as in every command


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("end", ["timeout", "SIGTERM", "SIGINT"])
def test_a_group_that_never_forms_ends_with_its_record(end, tmp_path):
    """A cluster that says two nodes, with one never joining: the run waits at most
    $GAUNTLET_GROUP_TIMEOUT_S, and honours SIGTERM and Ctrl-C while it waits."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from faults import env

    run_dir = tmp_path / "run"
    extra = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "NODE_RANK": "0",
             "WORLD_SIZE": "2", "GAUNTLET_GROUP_TIMEOUT_S": "6" if end == "timeout" else "600"}  # fmt: skip
    log = tmp_path / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gauntlet", "train", *QUICK, "trainer.num_nodes=2",
             f"hydra.run.dir={run_dir}", f"paths.log_dir={tmp_path}"],
            env=env(**extra), stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while "MEMBER: 1/2" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.3)
        if end != "timeout":
            time.sleep(1)
            os.kill(proc.pid, getattr(signal, end))
        code = proc.wait(timeout=300)
    said = log.read_text()
    assert code == {"timeout": 1, "SIGTERM": 143, "SIGINT": 130}[end], said[-2000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert ("could not form their group" if end == "timeout" else "stopped by") in manifest["error"]
