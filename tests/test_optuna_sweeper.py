"""The gauntlet_optuna Hydra sweeper: real Hydra multiruns of a tiny app, real Optuna studies."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from gauntlet.config import compose
from gauntlet.errors import GauntletError
from hydra_plugins.gauntlet_optuna_sweeper._search_space import build_search_space
from hydra_plugins.gauntlet_optuna_sweeper._study import make_sampler
from hydra_plugins.gauntlet_optuna_sweeper.config import Sampler

APP = Path(__file__).parent / "optuna_app"
CONF = Path(__file__).resolve().parents[1] / "conf"


def sweep(
    tmp_path: Path, *overrides: str, name: str = "sweep", app: str = "quadratic.py", rc: int = 0
) -> subprocess.CompletedProcess:
    """Run the app as a user would: ``python app.py -m hydra/sweeper=gauntlet_optuna ...``."""
    cmd = [
        sys.executable,
        str(APP / app),
        "-m",
        "hydra/sweeper=gauntlet_optuna",
        f"hydra.sweep.dir={tmp_path / name}",
        *overrides,
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("GAUNTLET_OPTUNA_STORAGE", None)
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    if rc == 0:
        assert proc.returncode == 0, output
    else:
        assert proc.returncode != 0, output
    return proc


def results(tmp_path: Path, name: str = "sweep") -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.load(tmp_path / name / "optimization_results.yaml"))


def jobs(tmp_path: Path, name: str = "sweep") -> dict[int, dict[str, Any]]:
    """What each launched job saw, by job number (its subdirectory)."""
    return {
        int(p.parent.name): json.loads(p.read_text()) for p in (tmp_path / name).glob("*/job.json")
    }


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def states(storage: str, study_name: str) -> dict[int, TrialState]:
    study = optuna.load_study(study_name=study_name, storage=storage)
    return {t.number: t.state for t in study.trials}


def quadratic(x: float, y: float = 0.0) -> float:
    return -((x - 2.0) ** 2) + y


# ------------------------------------------------------------------ a sweep end to end


def test_sweep_reports_best_value_and_writes_results(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.direction=maximize",
        "x=interval(0, 4)",
    )
    seen = jobs(tmp_path)
    assert sorted(seen) == [0, 1, 2]
    values = {n: quadratic(j["x"]) for n, j in seen.items()}
    best = max(values, key=values.get)

    res = results(tmp_path)
    assert res["trials"] == {"COMPLETE": 3}
    assert res["best_trial"] == best
    assert res["best_value"] == pytest.approx(values[best])
    assert res["best_params"] == {"x": pytest.approx(seen[best]["x"])}
    assert "Best value" in proc.stdout + proc.stderr
    assert (tmp_path / "sweep" / "multirun.yaml").is_file()


def test_rounds_of_n_jobs(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "hydra.sweeper.n_trials=5", "hydra.sweeper.n_jobs=2", "x=interval(0,4)")
    log = proc.stdout + proc.stderr
    assert log.count("Launching 2 jobs locally") == 2
    assert log.count("Launching 1 jobs locally") == 1
    assert sorted(jobs(tmp_path)) == [0, 1, 2, 3, 4]
    assert results(tmp_path)["trials"] == {"COMPLETE": 5}


def test_seeded_sweeps_choose_the_same_params(tmp_path: Path) -> None:
    def xs(name: str, seed: int) -> list[float]:
        sweep(
            tmp_path,
            "hydra.sweeper.n_trials=3",
            f"hydra.sweeper.seed={seed}",
            "x=interval(-10, 10)",
            "label=choice(a, b, c, d)",
            name=name,
        )
        return [(j["x"], j["label"]) for _, j in sorted(jobs(tmp_path, name).items())]

    first = xs("first", 7)
    assert xs("again", 7) == first
    assert xs("other", 8) != first


def test_job_values_lie_in_the_search_space(tmp_path: Path) -> None:
    sweep(
        tmp_path,
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.seed=3",
        "x=range(0, 10, 3)",
        "y=tag(log, interval(1e-3, 1e-1))",
        "label=a,'b c',d",
        "objectives=1",
    )
    seen = jobs(tmp_path).values()
    assert len(seen) == 6
    assert {j["x"] for j in seen} <= {0, 3, 6, 9}
    assert all(isinstance(j["x"], int) for j in seen)
    assert all(1e-3 <= j["y"] <= 1e-1 for j in seen)
    assert {j["label"] for j in seen} <= {"a", "b c", "d"}


# ------------------------------------------------------------------ storage and resume


def test_resume_from_sqlite_runs_only_the_remaining_trials(tmp_path: Path) -> None:
    storage = sqlite(tmp_path)
    common = [f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=resume"]
    sweep(tmp_path, *common, "hydra.sweeper.n_trials=2", "x=interval(0, 4)", name="first")
    assert sorted(jobs(tmp_path, "first")) == [0, 1]

    proc = sweep(tmp_path, *common, "hydra.sweeper.n_trials=4", "x=interval(0, 4)", name="second")
    assert "2 of 4 trials finished, 2 to run" in proc.stdout + proc.stderr
    assert sorted(jobs(tmp_path, "second")) == [2, 3]  # numbered after the earlier trials
    assert states(storage, "resume") == dict.fromkeys(range(4), TrialState.COMPLETE)
    assert results(tmp_path, "second")["trials"] == {"COMPLETE": 4}

    sweep(tmp_path, *common, "hydra.sweeper.n_trials=4", "x=interval(0, 4)", name="third")
    assert jobs(tmp_path, "third") == {}
    assert results(tmp_path, "third")["trials"] == {"COMPLETE": 4}


@pytest.mark.parametrize("crash", ["exit_on_jobs", "interrupt_on_jobs"])
def test_a_killed_or_interrupted_search_continues_where_it_stopped(
    tmp_path: Path, crash: str
) -> None:
    storage = sqlite(tmp_path)
    common = [
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=crash",
        "hydra.sweeper.n_trials=4",
        "x=interval(0, 4)",
    ]
    sweep(tmp_path, *common, f"{crash}=[2]", name="first", rc=1)
    before = states(storage, "crash")
    assert [before[n] for n in (0, 1)] == [TrialState.COMPLETE] * 2
    # a killed process leaves trial 2 running; an interrupted one records it as abandoned
    assert before[2] == (TrialState.RUNNING if crash == "exit_on_jobs" else TrialState.FAIL)
    assert len(before) == 3

    sweep(tmp_path, *common, name="second")
    assert sorted(jobs(tmp_path, "second")) == [3, 4]
    after = states(storage, "crash")
    assert after[2] == TrialState.FAIL
    assert sum(s == TrialState.COMPLETE for s in after.values()) == 4
    res = results(tmp_path, "second")
    assert res["trials"] == {"COMPLETE": 4, "FAIL": 1}
    assert res["abandoned"] == [2]


# ------------------------------------------------------------------ failures and pruning


def test_failed_jobs_are_recorded_fail_and_the_sweep_goes_on(tmp_path: Path) -> None:
    storage = sqlite(tmp_path)
    proc = sweep(
        tmp_path,
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=failures",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.direction=maximize",
        "x=interval(0, 4)",
        "raise_on_jobs=[1]",
        "nan_on_jobs=[2]",
        "none_on_jobs=[3]",
    )
    log = proc.stdout + proc.stderr
    assert "Trial 1 failed: the job raised RuntimeError: job 1 was told to fail" in log
    assert "Trial 2 failed: the job returned nan" in log
    assert "Trial 3 failed: the job returned None" in log

    study = optuna.load_study(study_name="failures", storage=storage)
    by_number = {t.number: t for t in study.trials}
    assert [by_number[n].state for n in range(5)] == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.FAIL,
        TrialState.FAIL,
        TrialState.COMPLETE,
    ]
    assert "told to fail" in by_number[1].user_attrs["error"]
    res = results(tmp_path)
    assert res["trials"] == {"COMPLETE": 2, "FAIL": 3}
    assert res["best_value"] == max(by_number[0].value, by_number[4].value)


def test_median_pruner_prunes_a_clearly_bad_trial(tmp_path: Path) -> None:
    storage = sqlite(tmp_path)
    sweep(
        tmp_path,
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=pruning",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.direction=maximize",
        "hydra.sweeper.pruner.name=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "x=interval(1, 3)",
        "report_steps=5",
        "bad_jobs=[3]",
    )
    assert states(storage, "pruning") == {
        0: TrialState.COMPLETE,
        1: TrialState.COMPLETE,
        2: TrialState.COMPLETE,
        3: TrialState.PRUNED,
        4: TrialState.COMPLETE,
    }
    steps = {n: int((tmp_path / "sweep" / str(n) / "steps.txt").read_text()) for n in range(5)}
    assert steps == {0: 5, 1: 5, 2: 5, 3: 1, 4: 5}
    assert results(tmp_path)["trials"] == {"COMPLETE": 4, "PRUNED": 1}


@pytest.mark.slow  # four Lightning fits in a fresh process: about 20 s
def test_lightning_callback_prunes_inside_a_sweep(tmp_path: Path) -> None:
    storage = sqlite(tmp_path)
    sweep(
        tmp_path,
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=lightning",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.direction=maximize",
        "hydra.sweeper.pruner.name=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "lr=tag(log, interval(1e-3, 1e-1))",
        "bad_jobs=[2]",
        app="lightning_task.py",
    )
    study = optuna.load_study(study_name="lightning", storage=storage)
    by_number = {t.number: t for t in study.trials}
    assert [by_number[n].state for n in range(4)] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert list(by_number[2].intermediate_values) == [0]  # stopped at its first epoch
    assert list(by_number[0].intermediate_values) == [0, 1, 2, 3]
    epochs = {n: (tmp_path / "sweep" / str(n) / "epochs.txt") for n in range(4)}
    assert not epochs[2].exists()
    assert [int(epochs[n].read_text()) for n in (0, 1, 3)] == [4, 4, 4]


@pytest.mark.slow  # two workers' worth of process starts: about 25 s
@pytest.mark.parametrize("pruner", ["median", "asha"])
def test_trials_in_parallel_processes_are_pruned_through_the_sweep_dirs_storage(
    tmp_path: Path, pruner: str
) -> None:
    proc = sweep(
        tmp_path,
        "hydra/launcher=gauntlet_joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.direction=maximize",
        f"hydra.sweeper.pruner.name={pruner}",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.pruner.min_resource=1",
        "hydra.sweeper.pruner.reduction_factor=2",
        "x=interval(1, 3)",
        "report_steps=5",
        "bad_jobs=[2,3]",
    )
    storage = f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}"
    assert "the study is kept in " + storage in proc.stdout + proc.stderr
    # each job ran in a process of its own (a joblib worker's child), and reported there
    pids = {json.loads((tmp_path / "sweep" / str(n) / "pid.txt").read_text()) for n in range(5)}
    assert os.getpid() not in pids and len(pids) == 5
    study = optuna.load_study(study_name="quadratic", storage=storage)
    by_number = {t.number: t for t in study.trials}
    assert {n: t.state for n, t in by_number.items()} == {
        0: TrialState.COMPLETE,
        1: TrialState.COMPLETE,
        2: TrialState.PRUNED,
        3: TrialState.PRUNED,
        4: TrialState.COMPLETE,
    }
    # the pruned jobs stopped early, in their own processes, at the step they last reported
    steps = {n: int((tmp_path / "sweep" / str(n) / "steps.txt").read_text()) for n in range(5)}
    assert [steps[n] for n in (0, 1, 4)] == [5, 5, 5]
    for n in (2, 3):
        assert steps[n] == len(by_number[n].intermediate_values) < 5
    assert results(tmp_path)["trials"] == {"COMPLETE": 3, "PRUNED": 2}


@pytest.mark.slow  # three Lightning fits on two joblib workers: 30-50 s here
def test_gauntlet_search_on_two_joblib_workers_prunes_runs_and_records_their_epochs(
    tmp_path: Path,
) -> None:
    from gauntlet.leaderboard.store import Leaderboard, resolve_url

    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("GAUNTLET_OPTUNA_STORAGE", None)
    env.pop("GAUNTLET_NUM_THREADS", None)
    sweep_dir = tmp_path / "sweep"
    max_epochs = 3
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gauntlet",
            "train",
            "-m",
            "hparams_search=cnn_optuna",
            "logger=csv",
            f"trainer.max_epochs={max_epochs}",
            "trainer.limit_train_batches=10",
            "trainer.enable_progress_bar=false",
            "launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.n_trials=3",
            "hydra.sweeper.pruner.n_startup_trials=2",
            "hydra.sweeper.pruner.n_warmup_steps=0",
            # wide enough that some trials cannot learn in a few epochs
            "model.optimizer.lr=tag(log, interval(1e-6, 1e-1))",
            f"paths.log_dir={tmp_path}",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    study = optuna.load_study(
        study_name="cnn_optuna", storage=f"sqlite:///{sweep_dir / 'optuna.db'}"
    )
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned and {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    with Leaderboard.open(resolve_url(None, tmp_path), settle=False) as board:
        rows = {r["run_dir"]: r for r in board.runs()}
    for trial in study.trials:
        manifest = json.loads((Path(trial.user_attrs["output_dir"]) / "manifest.json").read_text())
        row = rows[manifest["run_dir"]]
        if trial.state == TrialState.PRUNED:
            # stopped early, after the epochs it reported to its trial, and never 'failed'
            epochs = len(trial.intermediate_values)
            assert epochs < max_epochs
            assert (manifest["status"], manifest["epochs"]) == ("pruned", epochs)
            assert (row["status"], row["epochs"]) == ("pruned", epochs)
            assert f"pruned at epoch {epochs - 1}" in row["error"]
        else:
            assert (row["status"], row["epochs"]) == ("completed", max_epochs)


# ------------------------------------------------------------------ several objectives


def test_two_objectives_give_a_pareto_front(tmp_path: Path) -> None:
    sweep(
        tmp_path,
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.direction=[maximize,minimize]",
        "x=interval(0, 4)",
        "objectives=2",
    )
    res = results(tmp_path)
    assert res["directions"] == ["maximize", "minimize"]
    assert res["trials"] == {"COMPLETE": 4}
    front = res["best_trials"]
    assert front
    seen = jobs(tmp_path)
    for t in front:
        x = seen[t["number"]]["x"]
        assert t["values"] == pytest.approx([quadratic(x), abs(x)])
        # nobody is better on both objectives
        assert not any(
            quadratic(o["x"]) > quadratic(x) and abs(o["x"]) < abs(x) for o in seen.values()
        )


# ------------------------------------------------------------------ user errors


def test_bad_direction_names_the_key_and_the_choices(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "hydra.sweeper.direction=up", "x=interval(0,1)", rc=1)
    assert "hydra.sweeper.direction: expected minimize or maximize" in proc.stderr


def test_bad_storage_url_names_the_key(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "hydra.sweeper.storage=nosuchdb://x", "x=interval(0,1)", rc=1)
    assert "hydra.sweeper.storage: cannot open study" in proc.stderr


def test_unknown_sampler_lists_the_valid_ones(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "hydra.sweeper.sampler=grid", "x=interval(0,1)", rc=1)
    assert "expected one of [tpe, random, gp, qmc, cmaes]" in proc.stderr


# ------------------------------------------------------------------ search space (in process)


def space_of(*overrides: str):
    return build_search_space(OverridesParser.create().parse_overrides(list(overrides)))


def test_sweep_expressions_become_optuna_distributions() -> None:
    space = space_of(
        "a=interval(0, 1)",
        "b=tag(log, interval(1e-4, 1e-2))",
        "c=tag(int, interval(1, 8))",
        "d=range(1, 10, 2)",
        "e=range(0.1, 0.5, 0.1)",
        "f=choice(relu, gelu)",
        "g=16,32,64",
        "h=tag(log, range(1, 65))",
        "i=3",
    )
    assert space.distributions == {
        "a": FloatDistribution(0.0, 1.0),
        "b": FloatDistribution(1e-4, 1e-2, log=True),
        "c": IntDistribution(1, 8),
        "d": IntDistribution(1, 9, step=2),
        "e": FloatDistribution(0.1, 0.4, step=0.1),
        "f": CategoricalDistribution(["relu", "gelu"]),
        "g": CategoricalDistribution([16, 32, 64]),
        "h": IntDistribution(1, 64, log=True),
    }
    assert space.fixed == ("i=3",)


def test_command_line_overrides_replace_preset_dimensions() -> None:
    # preset params come first, then the command line, as the sweeper passes them
    space = space_of(
        "lr=interval(0, 1)", "depth=range(1, 4)", "lr=tag(log, interval(1e-3, 1e-1))", "depth=2"
    )
    assert space.distributions == {"lr": FloatDistribution(1e-3, 1e-1, log=True)}
    assert space.fixed == ("depth=2",)


def test_job_overrides_parse_back_to_the_sampled_values() -> None:
    space = space_of(
        "+a=choice('x y', '[1]', true, 2.5)", "b=tag(int, interval(1, 3))", "c=interval(0, 1)"
    )
    parser = OverridesParser.create()
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    for _ in range(8):
        trial = study.ask(space.distributions)
        lines = space.job_overrides(trial.params)
        parsed = {o.get_key_element(): o.value() for o in parser.parse_overrides(lines)}
        assert parsed == {"+a": trial.params["a"], "b": trial.params["b"], "c": trial.params["c"]}
        study.tell(trial, 0.0)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr=tag(log, interval(0, 1))", "lr=tag(log, interval(0, 1))"),
        ("d=range(5, 5)", "the range holds no values"),
        ("d=tag(lgo, interval(1, 2))", "valid tags: int, log"),
        ("d=tag(int, interval(1.5, 4))", "whole-number bounds"),
        ("d=tag(log, range(0.1, 1.0, 0.1))", "cannot be log-scale"),
    ],
)
def test_bad_sweep_expressions_name_the_dimension(override: str, message: str) -> None:
    with pytest.raises(GauntletError, match=message.replace("(", r"\(").replace(")", r"\)")):
        space_of(override)


def test_every_sampler_builds_or_says_what_it_needs() -> None:
    for name in Sampler:
        try:
            sampler = make_sampler(name, seed=1)
        except GauntletError as e:
            assert name is Sampler.cmaes and "pip install cmaes" in str(e)
            assert importlib.util.find_spec("cmaes") is None
        else:
            assert isinstance(sampler, optuna.samplers.BaseSampler)


# ------------------------------------------------------------------ the callback (in process)


def load_lightning_app():
    spec = importlib.util.spec_from_file_location(
        "optuna_lightning_task", APP / "lightning_task.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pruning_callback_outside_a_sweep_does_nothing(tmp_path: Path) -> None:
    from gauntlet.callbacks.optuna_pruning import OptunaPruning

    app = load_lightning_app()
    trainer = app.fit(0.1, 0.1, 3, tmp_path, OptunaPruning(monitor="val/acc"))
    assert trainer.current_epoch == 3
    assert (tmp_path / "epochs.txt").read_text() == "3"


def test_pruning_callback_with_an_explicit_trial(tmp_path: Path) -> None:
    from gauntlet.callbacks.optuna_pruning import OptunaPruning

    app = load_lightning_app()

    def objective(trial: optuna.Trial) -> float:
        score = 0.1 if trial.number == 2 else 0.9
        out = tmp_path / str(trial.number)
        out.mkdir()
        trainer = app.fit(score, 0.1, 3, out, OptunaPruning(monitor="val/acc", trial=trial))
        return float(trainer.callback_metrics["val/acc"])

    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2)
    )
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert study.trials[2].user_attrs["pruned_at_step"] == 0


def test_pruning_callback_names_a_metric_that_was_never_logged(tmp_path: Path) -> None:
    from gauntlet.callbacks.optuna_pruning import OptunaPruning

    app = load_lightning_app()
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with pytest.raises(GauntletError, match=r"'val/f1' was not logged.*logged metrics: val/acc"):
        app.fit(0.5, 0.1, 2, tmp_path, OptunaPruning(monitor="val/f1", trial=trial))


# ------------------------------------------------------------------ the presets


needs_train_config = pytest.mark.skipif(
    not (CONF / "train.yaml").is_file(), reason="conf/train.yaml is not written yet"
)


@needs_train_config
@pytest.mark.parametrize("arch", ["cnn", "rnn", "transformer"])
def test_presets_compose_and_their_trials_compose_too(
    arch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAUNTLET_OPTUNA_STORAGE", raising=False)
    cfg = compose([f"hparams_search={arch}_optuna"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("optuna_sweeper.GauntletOptunaSweeper")
    assert (sweeper.sampler.name, sweeper.direction, sweeper.n_trials) == ("tpe", "maximize", 20)
    assert sweeper.seed is not None
    assert isinstance(make_sampler(sweeper.sampler, sweeper.seed), optuna.samplers.TPESampler)
    assert sweeper.storage is None
    assert sweeper.study_name == f"{arch}_optuna"
    assert cfg.optimized_metric == "val/acc_best"
    assert cfg.hydra.runtime.choices.model == arch
    assert cfg.callbacks.optuna_pruning.monitor == "val/acc"

    space = space_of(*(f"{k}={v}" for k, v in sweeper.params.items()))
    assert len(space.dimensions) >= 5
    for dim in space.dimensions:
        assert OmegaConf.select(cfg, dim.name) is not None, f"{dim.name} is not a config key"

    # a sampled trial's overrides compose onto the real config, with the sampled values
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask(
        space.distributions
    )
    job = compose([f"hparams_search={arch}_optuna", *space.job_overrides(trial.params)])
    for name, value in trial.params.items():
        assert OmegaConf.select(job, name) == pytest.approx(value)


@needs_train_config
def test_preset_storage_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAUNTLET_OPTUNA_STORAGE", "sqlite:///optuna.db")
    cfg = compose(["hparams_search=cnn_optuna"])
    assert cfg.hydra.sweeper.storage == "sqlite:///optuna.db"


# ------------------------------------------------------------------ resuming without replaying


def trial_params(storage: str, study_name: str) -> list[tuple[int, dict[str, Any]]]:
    study = optuna.load_study(study_name=study_name, storage=storage)
    return [(t.number, dict(t.params)) for t in study.trials]


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_resumed_seeded_search_proposes_new_params_not_trial_0s_again(
    tmp_path: Path, sampler: str
) -> None:
    storage = sqlite(tmp_path)
    common = [
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=again",
        f"hydra.sweeper.sampler={sampler}",
        "hydra.sweeper.seed=7",
        "x=interval(0, 4)",
        "y=range(0, 1000)",
    ]
    sweep(tmp_path, *common, "hydra.sweeper.n_trials=3", name="first")
    sweep(tmp_path, *common, "hydra.sweeper.n_trials=6", name="second")
    params = trial_params(storage, "again")
    assert [number for number, _ in params] == list(range(6))
    seen = [tuple(sorted(p.items())) for _, p in params]
    assert len(set(seen)) == 6, params  # no trial repeats another's parameters

    # and the resumed search is itself reproducible: the same two steps give the same trials
    other = f"sqlite:///{tmp_path / 'other.db'}"
    twin = [c.replace(storage, other) for c in common]
    sweep(tmp_path, *twin, "hydra.sweeper.n_trials=3", name="third")
    sweep(tmp_path, *twin, "hydra.sweeper.n_trials=6", name="fourth")
    assert trial_params(other, "again") == params


def test_a_killed_sweeps_running_trial_is_failed_and_retried_when_asked(tmp_path: Path) -> None:
    storage = sqlite(tmp_path)
    common = [
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=retry",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.seed=3",
        "x=interval(0, 4)",
    ]
    sweep(tmp_path, *common, "exit_on_jobs=[2]", name="first", rc=1)
    assert states(storage, "retry")[2] == TrialState.RUNNING
    sweep(tmp_path, *common, "hydra.sweeper.retry_abandoned=true", name="second")
    study = optuna.load_study(study_name="retry", storage=storage)
    by_number = {t.number: t for t in study.trials}
    assert by_number[2].state == TrialState.FAIL
    retries = [t for t in study.trials if t.user_attrs.get("retry_of") == 2]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == by_number[2].params
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4


def replicate_jobs(tmp_path: Path, name: str = "sweep") -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / name).glob("*/job.json"))]


@pytest.mark.parametrize("objective", ["mean", "lcb"])
def test_replicates_train_seeds_per_trial_and_optuna_stores_their_mean_or_bound(
    tmp_path: Path, objective: str
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep(
        tmp_path,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.replicates=3",
        f"hydra.sweeper.objective={objective}",
        "hydra.sweeper.direction=maximize",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=replicates",
        "hydra.sweeper.seed=3",
        "x=interval(-3, 3)",
        app="replicates.py",
    )
    study = optuna.load_study(study_name="replicates", storage=storage)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    jobs = replicate_jobs(tmp_path)
    assert len(jobs) == 9
    for trial in trials:
        mine = [job for job in jobs if job["trial"] == trial.number]
        # the replicates share everything but the seed
        assert sorted(job["seed"] for job in mine) == [7, 8, 9]
        assert {(job["x"], job["label"]) for job in mine} == {(trial.params["x"], "a")}
        values = [-((trial.params["x"] - 2.0) ** 2) + 0.5 * (s % 3) for s in (7, 8, 9)]
        mean = sum(values) / 3
        expected = mean
        if objective == "lcb":  # mean - t(0.9, 2) * sd / sqrt(3), sd of (0.5, 1, 0) = 0.5
            from scipy import stats

            expected = mean - stats.t.ppf(0.9, 2) * 0.5 / 3**0.5
        assert trial.value == pytest.approx(expected)
        assert trial.user_attrs["replicate_seeds"] == [7, 8, 9]


def test_bad_replicate_settings_name_the_key(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.objective=lcb",
        "x=interval(-3, 3)",
        app="replicates.py",
        rc=1,
    )
    assert "hydra.sweeper.objective=lcb: needs replicates of 2 or more" in proc.stderr


@pytest.mark.slow
def test_replicate_runs_of_a_real_search_group_under_their_trial_on_the_leaderboard(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "WANDB_MODE": "offline", "GAUNTLET_LEADERBOARD_URL": ""}
    env.pop("GAUNTLET_OPTUNA_STORAGE", None)
    tiny = [
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "logger=csv",
        "model.net.hidden=16",
        "trainer.enable_progress_bar=false",
    ]
    search = [
        "hparams_search=cnn_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.replicates=2",
        "hydra.sweeper.pruner.name=none",
    ]
    run = [sys.executable, "-m", "gauntlet"]
    train = subprocess.run(
        [*run, "train", "-m", *search, *tiny, f"paths.log_dir={tmp_path}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert train.returncode == 0, train.stdout + train.stderr
    query = ["leaderboard", "--log-dir", str(tmp_path), "--group-by", "trial", "--all"]
    board = subprocess.run(
        [*run, *query, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    groups = {g["trial"]: g for g in json.loads(board.stdout)}
    assert sorted(groups) == [0, 1]
    assert all(g["runs"] == 2 for g in groups.values())
    manifests = [json.loads(p.read_text()) for p in tmp_path.glob("multiruns/*/*/manifest.json")]
    for trial in (0, 1):
        mine = [m for m in manifests if m["config"]["trial"] == trial]
        assert sorted(m["seed"] for m in mine) == [42, 43]
        # the replicates share everything but the seed (and what follows it)
        configs = []
        for m in mine:
            data = {k: v for k, v in m["config"]["data"].items() if k not in ("seed", "split_seed")}
            trainer = {k: v for k, v in m["config"]["trainer"].items() if k != "default_root_dir"}
            trained = {"model": m["config"]["model"], "trainer": trainer}
            configs.append(json.dumps({**trained, "data": data}, sort_keys=True))
        assert configs[0] == configs[1]
