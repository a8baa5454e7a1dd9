"""Start-up phases: every run records where its start-up went, as perf/startup_<phase>_s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers import FAST

PHASES = ("import", "compose", "manifest", "data", "network", "trainer", "record", "wandb")
FIT_PHASES = ("fit_setup", "fit_teardown")


def _phases(manifest: dict) -> dict[str, float]:
    prefix = "perf/startup_"
    return {
        k[len(prefix) : -2]: v
        for k, v in manifest["metrics"].items()
        if k.startswith(prefix)
        and k.endswith("_s")
        and k not in ("perf/startup_cpu_s", "perf/startup_s")
    }


def test_a_command_line_run_records_every_start_up_phase(tmp_path):
    # in a process of its own, as a user runs it, with wandb (offline) as by default; the
    # script also says whether wandb's start imported W&B Launch, which nothing staged for
    script = textwrap.dedent(
        """
        import sys
        from gauntlet.cli import main
        code = main(sys.argv[1:])
        print("LAUNCH_IMPORTED", "wandb.sdk.launch.inputs.internal" in sys.modules)
        sys.exit(code)
        """
    )
    env = {**os.environ, "GAUNTLET_LOG_DIR": str(tmp_path), "WANDB_MODE": "offline"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script, "train", *FAST, "test=false"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LAUNCH_IMPORTED False" in result.stdout
    (path,) = tmp_path.glob("runs/*/manifest.json")
    manifest = json.loads(Path(path).read_text())
    phases = _phases(manifest)
    # every phase is there, and each took time: a phase recorded as 0 was not timed at all
    assert set(PHASES + FIT_PHASES) == set(phases), sorted(phases)
    assert all(v > 0 for v in phases.values()), phases
    # the phases before the first step add up to no more than the way to it, and all of them
    # to no more than the command took as its caller measured it
    before = sum(phases[p] for p in (*PHASES, "fit_setup"))
    assert before <= manifest["metrics"]["perf/startup_s"] + 0.05
    assert sum(phases.values()) <= wall, (phases, wall)
    # the libraries' import is the largest part; composing and building are not
    assert phases["import"] > phases["data"] + phases["network"] + phases["trainer"]


def test_a_run_started_in_process_records_its_build_phases(train):
    first, _ = train("logger=csv", name="a")
    second, _ = train("logger=csv", name="b")
    # runs that never came through the CLI's entry have no import of their own to claim
    for manifest in (first, second):
        phases = _phases(manifest)
        assert "import" not in phases and "wandb" not in phases
        assert {"manifest", "data", "network", "trainer", "record"} <= set(phases)
        assert all(v > 0 for v in phases.values()), phases


def test_hydra_is_asked_for_the_mode_only_where_something_can_set_it(tmp_path):
    from gauntlet.compat.hydra_mode import mode_may_be_set
    from gauntlet.config import CONFIG_DIR

    assert not mode_may_be_set(["seed=3", "model=rnn"], [CONFIG_DIR])
    assert mode_may_be_set(["hydra.mode=MULTIRUN"], [CONFIG_DIR])
    assert mode_may_be_set(["hydra.searchpath=[file:///elsewhere]"], [CONFIG_DIR])
    sets = tmp_path / "conf" / "experiment"
    sets.mkdir(parents=True)
    (sets / "sweep.yaml").write_text("# @package _global_\nhydra:\n  mode: MULTIRUN\n")
    assert mode_may_be_set([], [CONFIG_DIR, tmp_path / "conf"])


def test_a_config_that_sets_hydra_mode_still_starts_a_multirun(tmp_path):
    conf = tmp_path / "conf" / "experiment"
    conf.mkdir(parents=True)
    (conf / "two_seeds.yaml").write_text(
        "# @package _global_\nhydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      seed: 1,2\n"
    )
    env = {**os.environ, "GAUNTLET_LOG_DIR": str(tmp_path / "logs"), "WANDB_MODE": "offline"}
    command = ["train", "--config-dir", str(tmp_path / "conf"), "experiment=two_seeds"]
    result = subprocess.run(
        [sys.executable, "-m", "gauntlet", *command, "logger=csv", "test=false", *FAST],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifests = sorted((tmp_path / "logs").glob("multiruns/*/*/manifest.json"))
    assert sorted(json.loads(p.read_text())["seed"] for p in manifests) == [1, 2]
