"""A newcomer's first hour: exit codes and messages as documented, only choosable names in the
lists, nothing lost or left stray, one naming rule, one key per concept, conventions that
users bring from other templates."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from gauntlet.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = [*helpers.TINY[:-1], "model.net.hidden=8"]


def gauntlet(capsys, *args: str) -> tuple[int, str]:
    """``gauntlet ARGS`` in this process: (exit status, what it printed)."""
    try:
        code = main(list(args))
    except SystemExit as stop:  # what the console script's sys.exit would end with
        code = stop.code
    out = capsys.readouterr()
    return code, out.out + out.err


# -- Hydra's composition errors: exit 2, one message -------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model=mlp", r"model=mlp: no such option; choose one of: cnn, rnn, transformer$"),
        ("model=cnnn", r"model=cnnn: no such option \(did you mean cnn\?\)"),
        ("data=digitz", r"data=digitz: no such option \(did you mean digits\?\)"),
        ("experiment=digits_cn", r"\(did you mean digits_cnn"),
        ("model/optimizer=sgdd", r"model/optimizer=sgdd: no such option \(did you mean sgd\?\)"),
        ("trainer.max_epochs=abc", r"trainer\.max_epochs=abc: expected a whole number"),
        ("data.fraction=half", r"data\.fraction=half: expected a number"),
        (
            "model.net.dropot=0.3",
            r"model\.net\.dropot: no such key in model\.net \(did you mean "
            r"model\.net\.dropout\?\)",
        ),
        (
            "modle=cnn",
            r"modle: no such key at the top level \(nor a config group\) \(did you "
            r"mean model\?\)",
        ),
        ("callbacks.overfitting.patiense=4", r"did you mean callbacks\.overfitting\.patience\?"),
        ("trainer.max_epochs=[1,", r"cannot read the override"),
    ],
)
def test_a_composition_error_exits_2_with_one_message(capsys, tmp_path, override, expected):
    code, out = gauntlet(capsys, "train", override, f"paths.log_dir={tmp_path}")
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1, out  # one message: no options list, search path or stack hint
    assert lines[0].startswith("gauntlet train: error: ")
    assert re.search(expected, lines[0]), lines[0]
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_every_hydra_flag_works_or_is_refused(capsys, tmp_path):
    code, out = gauntlet(capsys, "train", "--cfg", "job", "--resolve", f"paths.log_dir={tmp_path}")
    assert code == 0, out
    # the directory the run would get, not an interpolation error
    assert re.search(rf"default_root_dir: {re.escape(str(tmp_path))}/runs/\d{{4}}-", out)
    for flags in (["--cfg", "hydra"], ["--info", "defaults"], ["--cfg", "job", "-p", "model"]):
        code, out = gauntlet(capsys, "train", *flags)
        assert code == 0, (flags, out)
    refused = {
        ("--resolve",): "--resolve only changes what --cfg",
        ("-cp", str(tmp_path)): "add yours with --config-dir",
        ("--experimental-rerun", "x.pickle"): "gauntlet reproduce",
        ("--cfg", "job", "-p", "nosuch"): "package 'nosuch' not found",
    }
    for flags, message in refused.items():
        code, out = gauntlet(capsys, "train", *flags)
        assert code == 2 and message in out, (flags, out)
        assert "Traceback" not in out


def test_a_missing_launcher_plugin_names_what_to_install(capsys):
    if not _installed("hydra_plugins.hydra_ray_launcher"):
        code, out = gauntlet(capsys, "train", "-m", "launcher=ray")
        assert code == 2
        assert "launcher=ray" in out and "pip install 'gauntlet[ray]'" in out
    # any Hydra plugin group: the package named after Hydra's convention
    code, out = gauntlet(capsys, "train", "-m", "hydra/launcher=nosuch")
    assert code == 2 and "needs the Hydra plugin hydra-nosuch-launcher" in out
    code, out = gauntlet(capsys, "train", "-m", "hydra/sweeper=nosuch")
    assert code == 2 and "hydra-nosuch-sweeper" in out


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- internal names stay internal -------------------------------------------------------------


def test_help_completion_and_choice_lists_show_only_what_a_user_can_choose(capsys):
    code, out = gauntlet(capsys, "train", "--help")
    assert code == 0
    groups = out.split("== Config ==")[0]
    assert re.search(r"^model: cnn, rnn, transformer$", groups, re.M)
    for internal in ("schema/", "paths:", "train_schema", "base", "mnist1d_gru", "gpu_cnn"):
        assert internal not in groups, internal
    env = {**os.environ, "COMP_LINE": "gauntlet train model="}
    done = subprocess.run(
        [sys.executable, "-m", "gauntlet", "train", "-sc", "query=bash"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "model=cnn" in done.stdout.split() and "model=base" not in done.stdout.split()
    code, out = gauntlet(capsys, "train", "model=base")
    assert code == 2
    assert "model=base is gauntlet's internal config" in out and "cnn, rnn, transformer" in out


def test_a_users_own_model_still_includes_the_shared_base(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNTLET_USER_CONFIG_DIR", "")  # unset again after the test
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "mine.yaml").write_text(
        "defaults: [base, _self_]\n"
        "net: {_target_: gauntlet.models.cnn.CNN, hidden: 8, depth: 1, kernel_size: 3,\n"
        "  dropout: 0.0, embed_dim: 8, checkpointing: false}\n"
    )
    code, out = gauntlet(
        capsys, "--config-dir", str(tmp_path), "train", "model=mine", "--cfg", "job", "--resolve"
    )
    assert code == 0, out
    assert "_target_: gauntlet.models.module.ClassifierModule" in out  # from model/base
    assert re.search(r"^experiment_name: digits_mine$", out, re.M)
    code, out = gauntlet(capsys, "--config-dir", str(tmp_path), "train", "--help")
    assert re.search(r"^model: cnn, mine, rnn, transformer$", out, re.M)


# -- nothing a user made is lost or left stray ------------------------------------------------


def make(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-s", "-f", str(REPO / "Makefile"), *args],
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_clean_never_deletes_runs_and_clean_logs_asks_first(tmp_path):
    run = tmp_path / "logs" / "runs" / "2026-12-05_10-00-00-000000"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text("{}")
    for db in ("leaderboard.db", "optuna.db"):
        (tmp_path / "logs" / db).write_text("")
    (tmp_path / ".pytest_cache").mkdir()
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    assert make(tmp_path, "clean").returncode == 0
    assert (run / "manifest.json").is_file() and (tmp_path / "logs" / "optuna.db").is_file()
    assert not (tmp_path / ".pytest_cache").exists()
    assert not (tmp_path / "pkg" / "__pycache__").exists()
    kept = make(tmp_path, "clean-logs", stdin="n\n")
    assert kept.returncode != 0 and "kept logs/" in kept.stdout
    assert "run directories: 1" in kept.stdout and "leaderboard.db optuna.db" in kept.stdout
    assert (run / "manifest.json").is_file()
    assert make(tmp_path, "clean-logs", stdin="").returncode != 0  # no answer: nothing deleted
    assert (run / "manifest.json").is_file()
    deleted = make(tmp_path, "clean-logs", stdin="y\n")
    assert deleted.returncode == 0 and not (tmp_path / "logs").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_help_lists_every_target(tmp_path):
    done = make(tmp_path, "help")
    assert done.returncode == 0
    targets = re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M)
    listed = re.findall(r"^  ([a-z-]+)\s", done.stdout, re.M)
    assert listed == targets and "clean-logs" in listed


def test_eval_and_resume_write_into_the_run_and_a_refused_command_leaves_nothing(capsys, tmp_path):
    logs = tmp_path / "logs"
    code, out = gauntlet(capsys, "train", *TINY, f"paths.log_dir={logs}")
    assert code == 0, out[-2000:]
    (run,) = (logs / "runs").iterdir()
    code, out = gauntlet(capsys, "eval", f"ckpt_path={run}/checkpoints/best.ckpt")
    assert code == 0, out[-2000:]
    assert json.loads((run / "eval" / "test.json").read_text())["metrics"]["test/acc"] >= 0
    assert (run / "eval" / "eval.log").is_file()
    code, out = gauntlet(capsys, "train", f"resume={run}", "trainer.max_epochs=2")
    assert code == 0, out[-2000:]
    assert [p.name for p in (logs / "runs").iterdir()] == [run.name]  # no new directory
    log = (run / "train.log").read_text()
    assert log.count("resuming run") == 1 and "completed" in log
    # the run's .hydra/ keeps the config it was started with, not the resume command's
    assert "resume=" not in (run / ".hydra" / "overrides.yaml").read_text()
    # refused before anything ran: no directory left behind, for train and eval alike
    code, _ = gauntlet(capsys, "train", "model=base", f"paths.log_dir={logs}")
    assert code == 2
    code, _ = gauntlet(capsys, "train", f"resume={tmp_path / 'nowhere'}")
    assert code == 2
    assert [p.name for p in (logs / "runs").iterdir()] == [run.name]
    bad = tmp_path / "bad" / "checkpoints" / "best.ckpt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    code, out = gauntlet(capsys, "eval", f"ckpt_path={bad}")
    assert code == 2 and "not a readable PyTorch checkpoint" in out
    assert not (tmp_path / "bad" / "eval").exists()


@pytest.mark.slow  # a run, its resume and three wandb syncs
def test_one_command_syncs_a_run_with_all_its_parts_in_order(capsys, tmp_path):
    logs = tmp_path / "logs"
    tiny = [o for o in TINY if o != "logger=csv"]  # the default loggers: wandb offline + CSV
    assert gauntlet(capsys, "train", *tiny, f"paths.log_dir={logs}")[0] == 0
    (run,) = (logs / "runs").iterdir()
    assert gauntlet(capsys, "train", f"resume={run}", "trainer.max_epochs=2")[0] == 0
    parts = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    run_id = json.loads((run / "manifest.json").read_text())["run_id"]
    assert len(parts) == 2 and all(p.endswith(run_id) for p in parts)  # one id: one W&B run
    env = {**os.environ, "GAUNTLET_LOG_DIR": str(logs)}
    for target in ([str(run)], ["--all"], [run_id]):
        done = subprocess.run(
            [sys.executable, "-m", "gauntlet", "sync", *target, "--dry-run"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        shown = [line for line in done.stderr.splitlines() if "offline-run-" in line]
        assert [re.search(r"offline-run-[^/]+", s).group(0) for s in shown] == parts  # in order
    code, out = gauntlet(capsys, "sync")
    assert code == 2 and "--study NAME or --all" in out


# -- names that match, one key per concept ----------------------------------------------------


def test_every_preset_is_named_as_the_runs_it_makes():
    from gauntlet.config import compose
    from gauntlet.hidden_configs import DEPRECATED

    deprecated = DEPRECATED["experiment"]
    for path in sorted((REPO / "conf" / "experiment").glob("*.yaml")):
        cfg = compose([f"experiment={path.stem}"], run_dir=None)
        choices = cfg.hydra.runtime.choices
        name = f"{choices.data}_{choices.model}"
        assert cfg.experiment_name == name
        if path.stem in deprecated:
            assert deprecated[path.stem].startswith(name)
        else:
            assert path.stem == name or path.stem.startswith(f"{name}_"), path.stem
    assert compose([]).experiment_name == "digits_cnn"  # the default run, as its preset
    assert compose(["model=rnn", "data=mnist1d"]).experiment_name == "mnist1d_rnn"


def test_a_former_preset_name_runs_with_a_warning(train, caplog):
    manifest, _ = train("experiment=mnist1d_gru", *TINY[1:])
    assert manifest["experiment"] == "mnist1d_rnn"
    assert manifest["config"]["model"]["net"]["cell"] == "gru"
    assert "experiment=mnist1d_gru is deprecated" in caplog.text


def test_a_former_key_spelling_works_and_is_recorded_under_the_new_key(train, text_file, caplog):
    from gauntlet.config_schema import RENAMED_KEYS

    manifest, _ = train(
        "data=text_file",
        f"data.path={text_file}",
        "data.max_len=12",
        "data.text_key=text",
        "model.net.hidden=8",
        "logger=csv",
    )
    data = manifest["config"]["data"]
    assert data["max_length"] == 12 and data["text_column"] == "text"
    assert not {"max_len", "text_key", "label_key"} & set(data)
    assert manifest["data_sizes"]["train"] > 0
    for old, new in RENAMED_KEYS.items():
        if old in ("data.max_len", "data.text_key"):
            assert f"{old} is deprecated: it is now {new}" in caplog.text
    # no config file spells a concept the former way
    for path in (REPO / "conf").rglob("*.yaml"):
        text = path.read_text()
        for old in RENAMED_KEYS:
            assert not re.search(rf"^\s*{old.rsplit('.', 1)[1]}:", text, re.M), (path, old)


def test_local_settings_are_applied_when_present(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GAUNTLET_USER_CONFIG_DIR", "")  # unset again after the test
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "default.yaml").write_text(
        "# @package _global_\npaths:\n  log_dir: /srv/this-machine\nseed: 7\n"
    )
    code, out = gauntlet(capsys, "--config-dir", str(tmp_path), "train", "--cfg", "job")
    assert code == 0 and "log_dir: /srv/this-machine" in out and re.search(r"^seed: 7$", out, re.M)
    code, out = gauntlet(capsys, "--config-dir", str(tmp_path), "train", "seed=3", "--cfg", "job")
    assert re.search(r"^seed: 3$", out, re.M)  # the command line still wins
    monkeypatch.setenv("GAUNTLET_USER_CONFIG_DIR", "")
    code, out = gauntlet(capsys, "train", "--cfg", "job")
    assert "/srv/this-machine" not in out  # absent: nothing applied


def test_the_readme_shows_real_output():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```text\n(.*?)```", readme, re.S)
    shown = [b for b in blocks if b.startswith("$ gauntlet ")]
    assert shown
    for block in shown:
        for command, expected in re.findall(
            r"^\$ (gauntlet [^\n]+)\n((?:[^$][^\n]*\n)+)", block, re.M
        ):
            done = subprocess.run(
                [sys.executable, "-m", *command.split()],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=120,
            )
            assert done.returncode == 2
            assert (done.stdout + done.stderr).strip() == expected.strip(), command


def test_pandas_comes_with_the_dev_extra():
    from importlib import metadata

    assert any(
        r.startswith("pandas") and 'extra == "dev"' in r for r in metadata.requires("gauntlet")
    )


# -- the console ------------------------------------------------------------------------------


def test_a_study_relays_a_jobs_line_whole_without_its_prefix(tmp_path):
    import io
    import logging

    from rich.console import Console

    from gauntlet.study import cli as study_cli
    from gauntlet.study.runner import relay

    out = io.StringIO()
    study_cli._logging(Console(file=out, width=40))
    path = tmp_path / "multiruns" / "2026-12-05_18-07-53-123456" / "0"
    relay(f"[2026-12-05 18:08:01,000][gauntlet.train][INFO] run x completed; written to {path}")
    relay("[2026-12-05 18:08:01,000][gauntlet.train][ERROR] job 1 failed: boom")
    lines = out.getvalue().splitlines()
    assert f"  run x completed; written to {path}" in lines  # one line, the path whole
    assert "ERROR:   job 1 failed: boom" in lines
    assert "][" not in out.getvalue()
    logger = logging.getLogger("gauntlet")
    for handler in [h for h in logger.handlers if getattr(h, "_gauntlet_study", False)]:
        logger.removeHandler(handler)


@pytest.mark.slow  # two trials of a real sweep
def test_optuna_trials_lead_back_to_their_runs(capsys, tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    code, out = gauntlet(
        capsys,
        "train",
        "-m",
        "hparams_search=cnn_optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage={storage}",
        *TINY,
        f"paths.log_dir={tmp_path / 'logs'}",
    )
    assert code == 0, out[-3000:]
    trials = optuna.load_study(study_name="cnn_optuna", storage=storage).get_trials()
    assert len(trials) == 2
    for trial in trials:
        manifest = json.loads((Path(trial.user_attrs["output_dir"]) / "manifest.json").read_text())
        assert trial.user_attrs["run_id"] == manifest["run_id"]


def test_help_piped_into_head_ends_quietly():
    process = subprocess.Popen(
        [sys.executable, "-m", "gauntlet", "train", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # what `| head` does once it has its lines: a broken pipe
    assert process.wait(timeout=120) == 0
    assert b"Traceback" not in process.stderr.read()
