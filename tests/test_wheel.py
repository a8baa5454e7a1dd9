"""The built wheel works with no checkout: its own configs, from an empty directory.

The fast test installs the wheel alone beside this environment's dependencies; the slow one
installs it into a fresh virtualenv with the CPU torch and takes the example project
(``examples/own_project``) through everything a user does with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helpers import FAST, REPO

TORCH = "torch==2.13.0"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-v", "-w", str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (path,) = out.glob("gauntlet-*.whl")
    (out / "build.log").write_text(built.stdout + built.stderr)
    return path


def test_the_build_gives_no_license_deprecation(wheel):
    # setuptools deprecates the license table form and stops building it in 2027
    log = (wheel.parent / "build.log").read_text()
    assert "project.license" not in log and "License classifiers are deprecated" not in log
    archive = zipfile.ZipFile(wheel)
    metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in archive.read(metadata).decode()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GAUNTLET_", "PYTHONPATH"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1")
    env.update(GAUNTLET_LEADERBOARD_URL="", GAUNTLET_NUM_THREADS="1", **extra)
    return env


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 600):
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def manifests(log_dir: Path, pattern: str = "runs/*/manifest.json") -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(log_dir.glob(pattern))]


def test_the_wheel_carries_the_configs_and_trains_from_an_empty_directory(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("train.yaml", "model/base.yaml", "data/arrays.yaml", "trainer/default.yaml"):
        assert f"gauntlet/conf/{name}" in names
    assert "gauntlet/build_info.json" in names
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        check=True,
        capture_output=True,
        timeout=600,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    env = clean_env(PYTHONPATH=str(site))
    logs = tmp_path / "logs"
    run([sys.executable, "-m", "gauntlet", "train", *FAST, f"paths.log_dir={logs}"], empty, env)
    (manifest,) = manifests(logs)
    assert manifest["status"] == "completed" and "test/acc" in manifest["metrics"]
    assert manifest["config"]["model"]["net"]["_target_"] == "gauntlet.models.cnn.CNN"
    # the package says which gauntlet made the run, the commit included, outside a checkout
    built = json.loads(zipfile.ZipFile(wheel).read("gauntlet/build_info.json"))
    assert manifest["gauntlet"] == {"version": "0.1.0", **built}
    assert (
        str(site)
        in run(
            [sys.executable, "-c", "import gauntlet.config as c; print(c.CONFIG_DIR)"], empty, env
        ).stdout
    )


@pytest.mark.slow
def test_a_fresh_virtualenv_runs_the_example_project_through_every_command(wheel, tmp_path):
    started = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, TORCH], check=True, capture_output=True, timeout=1800)
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=1800)
    installed = time.monotonic()
    gauntlet = str(venv / "bin" / "gauntlet")
    env = clean_env()
    logs = tmp_path / "logs"
    log = f"paths.log_dir={logs}"

    # the default training, from an empty directory
    empty = tmp_path / "empty"
    empty.mkdir()
    run([gauntlet, "train", *FAST, log], empty, env)
    assert manifests(logs)[0]["status"] == "completed"

    # the example project: its own network, data, configs
    project = tmp_path / "own_project"
    shutil.copytree(REPO / "examples" / "own_project", project)
    run([str(venv / "bin" / "python"), "make_data.py", "--samples", "300"], project, env)
    mine = ["--config-dir", "conf", "experiment=strokes_mlp", "trainer.enable_progress_bar=false"]
    logs = tmp_path / "mine"
    log = f"paths.log_dir={logs}"
    run([gauntlet, "train", *mine, "trainer.max_epochs=2", log], project, env)
    (first,) = manifests(logs)
    assert first["status"] == "completed" and first["model"] == "tiny_mlp"
    ckpt = str(Path(first["run_dir"]) / "checkpoints" / "best.ckpt")
    shown = run([gauntlet, "eval", f"ckpt_path={ckpt}", log], project, env).stdout
    assert f"{first['metrics']['test/acc']:.4f}" in shown
    run(
        [gauntlet, "explain", f"ckpt_path={ckpt}", "method=integrated_gradients", "n=8"],
        project,
        env,
    )
    run([gauntlet, "attack", f"ckpt_path={ckpt}", "attack=fgsm", "eps=[0,0.1]"], project, env)
    metrics = json.loads((Path(first["run_dir"]) / "manifest.json").read_text())["metrics"]
    assert "interpret/integrated_gradients/deletion_auc" in metrics
    assert "robust/acc@eps=0.1" in metrics

    # a two-job multirun
    run([gauntlet, "train", "-m", *mine, "trainer.max_epochs=1", "seed=1,2", log], project, env)
    jobs = manifests(logs, "multiruns/*/*/manifest.json")
    assert sorted(m["seed"] for m in jobs) == [1, 2]
    assert all(m["status"] == "completed" for m in jobs)

    # an interrupted run, resumed from another directory: the manifest finds the project
    run_dir = tmp_path / "interrupted"
    args = [*mine, "trainer.max_epochs=3", "trainer.deterministic=true", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(
        [gauntlet, "train", *args, log],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not last.is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run([gauntlet, "train", f"resume={run_dir}", log], empty, env)
    resumed = json.loads((run_dir / "manifest.json").read_text())
    assert resumed["status"] == "completed"
    assert resumed["project"]["dir"] == str(project)

    # reproduce it, from another directory too
    shown = run([gauntlet, "reproduce", str(run_dir), "--log-dir", str(logs)], empty, env).stdout
    assert "reproduced" in shown

    # and the leaderboard rows of the user's own net
    board = [gauntlet, "leaderboard", "--log-dir", str(logs), "--model", "tiny_mlp", "--runs"]
    rows = json.loads(run([*board, "--format", "json"], empty, env).stdout)["items"]
    assert len(rows) == 4  # the first run, two multirun jobs, the resumed run
    assert {(r["model"], r["data"], r["status"]) for r in rows} == {
        ("tiny_mlp", "strokes", "completed")
    }
    print(
        f"wheel test: install {installed - started:.0f} s, commands "
        f"{time.monotonic() - installed:.0f} s"
    )
