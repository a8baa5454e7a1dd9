"""The foundation, as a user meets it: configs compose, every model trains on every dataset,
eval reproduces test accuracy, multiruns and DDP write what they should, bad input says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.eval import evaluate
from helpers import CONF, FAST, compose, run_training

GROUPS_WITH_OPTIONS = sorted(
    p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("hydra", "paths")
)


# options that need an optional extra: (group, option) -> the module it brings
OPTIONAL = {("launcher", "ray"): "hydra_plugins.hydra_ray_launcher"}


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.parametrize("group", GROUPS_WITH_OPTIONS)
def test_every_option_of_every_group_composes(group):
    for option in options(group):
        extra = OPTIONAL.get((group, option))
        if extra and not installed(extra):
            continue
        cfg = compose([f"{group}={option}"])
        assert cfg.trainer.max_epochs >= 1, (group, option)


def test_experiment_presets_exist_and_compose():
    presets = options("experiment")
    for name in ("digits_cnn", "digits_rnn", "digits_transformer"):
        assert name in presets
    for name in ("mnist1d_cnn", "mnist1d_rnn", "mnist1d_transformer"):
        assert name in presets
    for name in ("listops_cnn", "listops_rnn", "listops_transformer"):
        assert name in presets
    for name in presets:
        cfg = compose([f"experiment={name}"])
        # <data>_<model>, and a variant's suffix (digits_cnn_gpu); former names alias new ones
        assert name.startswith(cfg.experiment_name) or name in (
            "mnist1d_gru",
            "gpu_cnn",
            "gpu_rnn",
            "gpu_transformer",
        )


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory) -> Path:
    """One data cache for the module, so generated datasets are made once, as for a user."""
    return tmp_path_factory.mktemp("data_cache")


@pytest.mark.parametrize("model", ["cnn", "rnn", "transformer"])
@pytest.mark.parametrize("data", ["digits", "mnist1d", "listops", "text_file"])
def test_every_model_trains_on_every_dataset(train, text_file, data_cache, model, data):
    extra = {
        "text_file": [f"data.path={text_file}"],
        "listops": [f"data.cache_dir={data_cache}"],
    }.get(data, [])
    manifest, run_dir = train(f"model={model}", f"data={data}", *extra, "logger=csv")
    assert manifest["status"] == "completed"
    assert manifest["model"] == model and manifest["data"] == data
    for key in ("test/acc", "test/f1", "val/acc", "val/acc_best", "train/loss", "val/loss"):
        assert key in manifest["metrics"], key
    assert manifest["num_params"] > 0
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[dict, Path, Path]:
    """The default run (two epochs, seed 7, the whole test split), trained once for the tests
    below that only read what it wrote: (manifest, run_dir, log_dir)."""
    log_dir = tmp_path_factory.mktemp("default-run")
    overrides = [*FAST, "seed=7", "trainer.max_epochs=2", "trainer.limit_test_batches=null"]
    manifest, run_dir = run_training(log_dir, overrides)
    return manifest, run_dir, log_dir


def test_manifest_records_the_run(default_run):
    manifest, run_dir, _ = default_run
    for key in (
        "run_id", "status", "metrics", "config", "overrides", "command", "git", "packages",
        "seed", "device", "started", "finished", "duration_s",
    ):  # fmt: skip
        assert key in manifest, key
    assert manifest["seed"] == 7 and manifest["config"]["seed"] == 7
    assert "seed=7" in manifest["overrides"]
    assert manifest["packages"]["torch"] and manifest["packages"]["pytorch-lightning"]
    assert manifest["finished"] >= manifest["started"] and manifest["duration_s"] > 0
    assert (run_dir / "curves.png").stat().st_size > 1000
    assert (run_dir / "metrics.csv").is_file()


def test_eval_on_the_best_checkpoint_gives_the_same_test_accuracy(default_run):
    manifest, run_dir, _ = default_run
    metrics = evaluate(run_dir / "checkpoints" / "best.ckpt")
    assert metrics["test/acc"] == pytest.approx(manifest["metrics"]["test/acc"], abs=1e-7)
    assert metrics["test/f1"] == pytest.approx(manifest["metrics"]["test/f1"], abs=1e-7)


def test_log_dir_moves_everything(default_run):
    manifest, _, log_dir = default_run
    assert Path(manifest["run_dir"]).is_relative_to(log_dir)
    assert (log_dir / "leaderboard.db").is_file()


# -- through the command line, as a user runs it ---------------------------------------------


def gauntlet(*args: str, log_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "GAUNTLET_LOG_DIR": str(log_dir), "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_multirun_writes_a_run_dir_manifest_and_wandb_run_per_job(tmp_path):
    result = gauntlet("train", "-m", "seed=1,2", *FAST, log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    manifests = sorted(tmp_path.glob("multiruns/*/*/manifest.json"))
    assert len(manifests) == 2
    loaded = [json.loads(p.read_text()) for p in manifests]
    assert {m["seed"] for m in loaded} == {1, 2}
    assert all(m["status"] == "completed" for m in loaded)
    for path in manifests:
        runs = list((path.parent / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, runs
    assert len({m["run_id"] for m in loaded}) == 2


def test_ddp_on_two_cpu_processes_trains_one_run(tmp_path):
    result = gauntlet("train", "trainer=ddp_cpu", *FAST, "logger=csv", log_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sync_dist" not in result.stdout + result.stderr  # no warning a user cannot act on
    manifests = list(tmp_path.glob("runs/*/manifest.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["status"] == "completed"
    assert manifest["config"]["trainer"]["devices"] == 2


def test_eval_command_prints_the_metrics(default_run, tmp_path):
    manifest, run_dir, _ = default_run
    result = gauntlet(
        "eval", f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}", log_dir=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/acc" in result.stdout
    assert f"{manifest['metrics']['test/acc']:.4f}" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "model=mlp"], ["model", "cnn", "rnn", "transformer"]),
        (["train", "trainer.max_epochs=abc"], ["trainer.max_epochs", "abc"]),
        (["train", "model.net.dropout=high"], ["model.net.dropout"]),
        (["train", "data=text_file", "data.path=missing.csv"], ["data.path", "missing.csv"]),
        (["eval", "ckpt_path=nowhere.ckpt"], ["ckpt_path", "nowhere.ckpt"]),
        (["frobnicate"], ["unknown command", "frobnicate"]),
    ],
)
def test_bad_input_exits_non_zero_naming_the_problem(tmp_path, args, expected):
    result = gauntlet(*args, log_dir=tmp_path)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    for word in expected:
        assert word in out, (word, out[-2000:])
    assert "Traceback" not in out


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "best.ckpt"
    bad.write_bytes(b"\x00not a checkpoint")
    result = gauntlet("eval", f"ckpt_path={bad}", log_dir=tmp_path)
    assert result.returncode != 0
    assert str(bad) in result.stderr and "not a readable PyTorch checkpoint" in result.stderr
