"""Groups that mean one thing: runs pool only with runs that trained the same thing.

The configs are the real ones, composed as ``gauntlet train`` composes them, each in its own run
directory (so every path in them differs, as between real runs)."""

from __future__ import annotations

import io
import json
import random
import sqlite3
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from rich.console import Console

from gauntlet.leaderboard.cli import main
from gauntlet.leaderboard.identity import config_key, training_config
from gauntlet.leaderboard.store import Leaderboard
from gauntlet.leaderboard.tables import SCHEMA_VERSION
from gauntlet.run.labels import unnamed_sweep

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAUNTLET_LEADERBOARD_URL", raising=False)


def composed(tmp_path: Path, name: str, *overrides: str) -> dict:
    """The resolved config of ``gauntlet train OVERRIDES`` in its own run directory."""
    from gauntlet.config import compose

    cfg = compose([f"paths.log_dir={tmp_path}", *overrides], run_dir=tmp_path / "runs" / name)
    config = OmegaConf.to_container(cfg, resolve=True)
    config.pop("hydra")
    return config


def manifest(run_id: str, config: dict, overrides: list[str], acc: float) -> dict:
    return {
        "run_id": run_id,
        "status": "completed",
        "experiment": config["experiment_name"],
        "model": "cnn",
        "data": "digits",
        "seed": config["seed"],
        "config": config,
        "overrides": overrides,
        "choices": {"model": "cnn", "data": "digits"},
        "metrics": {"test/acc": acc},
    }


def board_json(capsys: pytest.CaptureFixture[str], log_dir: Path, *args: str) -> list[dict]:
    assert main(["--log-dir", str(log_dir), "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def six_runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Two configurations (the preset's 15 epochs; 1 epoch) x three seeds, with their accuracies."""
    tmp_path = tmp_path_factory.mktemp("six")
    runs = []
    for epochs, accuracies in ((10, (0.975, 0.970, 0.972)), (1, (0.91, 0.60, 0.75))):
        for seed, acc in zip((1, 2, 3), accuracies, strict=True):
            overrides = [f"seed={seed}"] + ([] if epochs == 10 else ["trainer.max_epochs=1"])
            name = f"e{epochs}-s{seed}"
            config = composed(tmp_path, name, "experiment=digits_cnn", *overrides)
            runs.append(manifest(name, config, ["experiment=digits_cnn", *overrides], acc))
    return runs


def test_the_seed_and_bookkeeping_are_not_part_of_what_was_trained(six_runs) -> None:
    first, second = six_runs[0], six_runs[1]  # seeds 1 and 2 of one setup, two run dirs
    assert first["config"]["paths"] != second["config"]["paths"]
    assert first["config"]["data"]["seed"] != second["config"]["data"]["seed"]
    assert config_key(first["config"]) == config_key(second["config"])
    kept = training_config(first["config"])
    assert "seed" not in kept and "seed" not in kept["data"] and "paths" not in kept
    assert "seeds" not in kept and "split_seed" not in kept["data"]  # each source a seed too
    assert "logger" not in kept and "leaderboard" not in kept
    assert kept["trainer"]["max_epochs"] == 15 and kept["model"]["net"]["_target_"]
    # a 1-epoch run is another identity
    assert config_key(six_runs[3]["config"]) != config_key(first["config"])


def test_two_configurations_times_three_seeds_make_two_groups_of_three_in_any_order(
    six_runs, tmp_path, capsys
) -> None:
    for order in range(3):
        runs = list(six_runs)
        random.Random(order).shuffle(runs)
        log_dir = tmp_path / f"order{order}"
        with Leaderboard.open(f"sqlite:///{log_dir / 'leaderboard.db'}") as board:
            for run in runs:
                board.upsert(run)
        groups = {g["group"]: g for g in board_json(capsys, log_dir)}
        assert set(groups) == {"digits_cnn", "digits_cnn · trainer.max_epochs=1"}, order
        full, short = groups["digits_cnn"], groups["digits_cnn · trainer.max_epochs=1"]
        assert sorted(full["run_ids"]) == ["e10-s1", "e10-s2", "e10-s3"]
        assert sorted(short["run_ids"]) == ["e1-s1", "e1-s2", "e1-s3"]
        assert full["runs"] == short["runs"] == 3
        assert full["test/acc.mean"] == pytest.approx((0.975 + 0.970 + 0.972) / 3)
        # the 95% t interval of three values: mean ± t(0.975, 2) * std / sqrt(3)
        half = 4.302652729911275 * full["test/acc.std"] / 3**0.5
        assert full["test/acc.ci_low"] == pytest.approx(full["test/acc.mean"] - half)
        assert full["test/acc.ci_high"] == pytest.approx(full["test/acc.mean"] + half)
        # the best group ranks first, not the lucky 1-epoch seed
        assert board_json(capsys, log_dir)[0]["group"] == "digits_cnn"


def test_a_one_epoch_run_never_joins_the_ten_epoch_group_and_by_task_ranks_groups(
    six_runs, tmp_path, capsys
) -> None:
    lucky = manifest(
        "e1-s9",
        {**six_runs[3]["config"], "seed": 9},
        ["experiment=digits_cnn", "seed=9", "trainer.max_epochs=1"],
        0.99,
    )
    with Leaderboard.open(f"sqlite:///{tmp_path / 'leaderboard.db'}") as board:
        for run in [*six_runs[:3], lucky]:
            board.upsert(run)
    groups = {g["group"]: g for g in board_json(capsys, tmp_path)}
    assert groups["digits_cnn"]["run_ids"] == ["e10-s3", "e10-s2", "e10-s1"] or sorted(
        groups["digits_cnn"]["run_ids"]
    ) == ["e10-s1", "e10-s2", "e10-s3"]
    assert groups["digits_cnn · trainer.max_epochs=1"]["run_ids"] == ["e1-s9"]

    (task,) = board_json(capsys, tmp_path, "--by-task", "--min-seeds", "3")
    # one model, one entry: its best group with enough seeds, not the single lucky run
    assert task["group"] == "digits_cnn" and task["runs"] == 3 and not task["few_seeds"]
    (task,) = board_json(capsys, tmp_path, "--by-task")  # min 1 seed: the lucky run leads
    assert task["group"] == "digits_cnn · trainer.max_epochs=1" and task["runs"] == 1

    assert main(["--log-dir", str(tmp_path), "--by-task", "--min-seeds", "5"]) == 0
    out = capsys.readouterr().out
    assert "few seeds" in out  # marked, not hidden
    # asked for, different identities pool
    (pooled,) = board_json(capsys, tmp_path, "--group-by", "experiment")
    assert pooled["runs"] == 4


def test_a_user_extends_the_keys_that_do_not_change_what_is_trained(tmp_path) -> None:
    a = composed(tmp_path, "a", "trainer.num_sanity_val_steps=0")
    b = composed(tmp_path, "b", "trainer.num_sanity_val_steps=2")
    assert config_key(a) != config_key(b)
    ignore = "leaderboard.identity_ignore=[trainer.num_sanity_val_steps]"
    a = composed(tmp_path, "a2", "trainer.num_sanity_val_steps=0", ignore)
    b = composed(tmp_path, "b2", "trainer.num_sanity_val_steps=2", ignore)
    assert config_key(a) == config_key(b)


def test_a_database_written_by_schema_1_is_migrated_and_backfilled(tmp_path, capsys) -> None:
    path = tmp_path / "leaderboard.db"
    with sqlite3.connect(path) as conn:  # the file as gauntlet's schema-1 code left it
        conn.executescript((FIXTURES / "leaderboard_schema1.sql").read_text())
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
        assert "config_key" not in columns
    with Leaderboard.open(f"sqlite:///{path}") as board:
        assert board.schema_version() == SCHEMA_VERSION
        rows = board.runs()
        assert len(rows) == 4
        for row in rows:  # backfilled from the stored config, as a new write computes it
            assert row["config_key"] == config_key(row["config"])
        assert len({row["config_key"] for row in rows}) == 2
    groups = {g["group"]: g for g in board_json(capsys, tmp_path)}
    assert sorted(groups) == ["cnn_digits", "cnn_digits · trainer.max_epochs=1"]
    assert groups["cnn_digits"]["test/acc.mean"] == pytest.approx(0.9725)
    assert groups["cnn_digits · trainer.max_epochs=1"]["runs"] == 2
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"history", "studies", "ix_runs_config_key"} <= tables


@pytest.mark.parametrize("width", [80, 200])
def test_the_table_keeps_run_ids_values_and_the_url_whole_at_any_width(
    width, tmp_path, monkeypatch
) -> None:
    deep = tmp_path / "a_long_directory_name_for_the_team_board" / "logs"
    runs = []
    for index, acc in enumerate((0.9749, 0.9712, 0.9788)):
        runs.append(
            {
                "run_id": f"20261205-1010{index:02d}-abcdef",
                "status": "completed",
                "experiment": "a_rather_long_experiment_name_for_the_board",
                "model": "transformer",
                "data": "fashion_mnist",
                "seed": index,
                "config": {"model": {"net": {"dropout": 0.1}}, "seed": index},
                "overrides": ["model.net.dropout=0.1"],
                "metrics": {"test/acc": acc, "test/f1": acc - 0.01, "test/loss": 1 - acc},
            }
        )
    with Leaderboard.open(f"sqlite:///{deep / 'leaderboard.db'}") as board:
        for run in runs:
            board.upsert(run)
    metrics = ["--metric", "test/acc", "--metric", "test/f1", "--metric", "test/loss"]
    for extra in ([], ["--runs"], ["--by-task"]):
        buffer = io.StringIO()
        console = Console(file=buffer, width=width, color_system=None)
        monkeypatch.setattr("gauntlet.leaderboard.cli.Console", lambda c=console, **kw: c)
        assert main(["--log-dir", str(deep), *metrics, *extra]) == 0
        text = buffer.getvalue()
        url = f"sqlite:///{deep / 'leaderboard.db'}"
        assert url in text.replace("\n", "") and url in text, (width, extra)
        if extra:  # the runs, and the ids behind the best group
            for run in runs:
                assert run["run_id"] in text, (width, extra)
        assert "0.9749" in text or "0.9750 ±" in text
        for line in text.splitlines():
            assert not line.rstrip().endswith("±"), (width, extra, line)
            assert not line.lstrip("│ ").startswith("±"), (width, extra, line)
        lines = [line for line in text.splitlines() if "│" in line or "┃" in line]
        assert all(len(line) <= width for line in lines), (width, extra)


def test_unnamed_sweeps_are_named_after_their_experiment_and_start() -> None:
    assert unnamed_sweep("cnn_digits", "2026-12-05_10-15-00-123456") == (
        "cnn_digits-20261205-101500"
    )
    assert unnamed_sweep("cnn_digits", "my_dir") == "cnn_digits-my_dir"


def test_a_sweep_is_named_by_the_user_or_by_its_experiment_and_start(tmp_path) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from gauntlet.config import compose
    from gauntlet.loggers import wandb_fields
    from gauntlet.run.labels import run_labels

    def multirun_job(*overrides: str):
        cfg = compose([f"paths.log_dir={tmp_path}", "experiment=digits_cnn", *overrides])
        OmegaConf.set_readonly(cfg.hydra, False)
        with open_dict(cfg):
            cfg.hydra.mode = RunMode.MULTIRUN
            cfg.hydra.sweep.dir = str(tmp_path / "multiruns" / "2026-12-05_10-15-00-123456")
        HydraConfig.instance().set_config(cfg)
        config = OmegaConf.to_container(cfg, resolve=False)
        config["experiment_name"] = cfg.experiment_name  # <data>_<model>, as the run resolves it
        return config

    unnamed = multirun_job("seed=1")
    name = "digits_cnn-20261205-101500"
    assert run_labels(unnamed, [])["sweep"] == name
    assert wandb_fields(unnamed, "r1")["group"] == name  # W&B groups the sweep the same way
    named = multirun_job("sweep=widths")
    assert run_labels(named, [])["sweep"] == "widths"
    fields = wandb_fields(named, "r1")
    assert fields["group"] == "widths" and "sweep:widths" in fields["tags"]
    optuna = multirun_job("hparams_search=cnn_optuna")
    assert run_labels(optuna, [])["sweep"] == "cnn_optuna"
