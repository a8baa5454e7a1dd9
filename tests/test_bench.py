"""`gauntlet bench`: both paths run on a tiny config and the figures reach the screen and JSON."""

from __future__ import annotations

import json

import pytest

from gauntlet.cli import main

# digits at batch 256: 4 steps an epoch, so one warm-up epoch and two timed ones
TINY = ["--steps", "4", "--rounds", "1", "data.batch_size=256", "model.net.hidden=8"]


@pytest.mark.slow
def test_bench_prints_both_figures_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    code = main(["bench", "--models", "cnn", *TINY, "--json", str(out), "--markdown", str(md)])
    assert code == 0
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("cnn: "))
    assert "full " in line and "plain " in line and "ratio" in line and "us/step" in line
    (row,) = json.loads(out.read_text())
    assert row["model"] == "cnn" and row["data"] == "digits"
    assert row["full_samples_per_s"] > 0 and row["plain_samples_per_s"] > 0
    assert abs(row["ratio"] - row["full_samples_per_s"] / row["plain_samples_per_s"]) < 1e-9
    # both paths timed the same steps of the same batches
    (rnd,) = row["per_round"]
    assert rnd["full"]["samples"] == rnd["plain"]["samples"]
    # 1,222 training images: four full batches of 256 and a last one of 198 an epoch
    assert rnd["full"]["samples"] == row["timed_steps"] // 4 * (3 * 256 + 198)
    assert row["timed_steps"] >= 4
    # one round: the overhead's spread over rounds is that round's own figure
    low, high = row["overhead_us_range"]
    assert low == high == row["overhead_us"]
    assert f"rounds {low:+.0f} to {high:+.0f}" in line
    assert f"{row['full_samples_per_s']:,.0f}" in printed
    assert md.read_text().startswith("| model | data | precision |")


def test_bench_runs_each_architecture_with_overrides(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--models",
            "rnn,transformer",
            *TINY,
            "trainer.precision=bf16-mixed",
            "data=digits",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    rows = json.loads(out.read_text())
    assert [r["model"] for r in rows] == ["rnn", "transformer"]
    assert all(r["precision"] == "bf16-mixed" for r in rows)
    printed = capsys.readouterr().out
    assert "rnn: full" in printed and "transformer: full" in printed


def test_bench_rejects_an_unknown_model(capsys):
    assert main(["bench", "--models", "mlp"]) == 2
    err = capsys.readouterr().err
    assert "--models ['mlp']" in err and "cnn" in err


def test_bench_refuses_what_the_plain_loop_cannot_reproduce(capsys):
    assert main(["bench", "--models", "cnn", "trainer.devices=2"]) == 2
    assert "bench runs on one device" in capsys.readouterr().err
    assert main(["bench", "--models", "cnn", "trainer.precision=64-true"]) == 2
    assert "trainer.precision=64-true" in capsys.readouterr().err


def test_bench_rejects_a_bad_override(capsys):
    assert main(["bench", "--models", "cnn", "model.net.no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err


@pytest.mark.parametrize("paired", [[], ["--paired"]], ids=["separate-runs", "paired"])
def test_bench_breakdown_times_each_layer_of_the_full_path(tmp_path, capsys, paired):
    out = tmp_path / "bench.json"
    code = main(["bench", "--models", "cnn", "--breakdown", *paired, *TINY, "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    lines = [x for x in printed.splitlines() if x.startswith("cnn breakdown: ")]
    assert len(lines) == 3
    assert "Lightning's loop" in lines[0] and "callbacks" in lines[1] and "loggers" in lines[2]
    (row,) = json.loads(out.read_text())
    layers = row["breakdown"]
    assert [part["layer"] for part in layers] == ["lightning", "callbacks", "full"]
    # the layers stack: the last is the full path, and their increments add up to its overhead
    assert layers[-1]["step_us"] == pytest.approx(row["full_step_us"])
    added = sum(part["adds_us"] for part in layers)
    assert added == pytest.approx(layers[-1]["overhead_us"])
    # the full layer's overhead is the row's: paired, each layer against its own plain steps
    assert layers[-1]["overhead_us"] == pytest.approx(row["overhead_us"])
    assert all(part["step_us"] > 0 for part in layers)
    # the whole fit of each layer against the plain loop's, validation included
    assert all(part["fit_x"] > 0 for part in layers)
    assert layers[-1]["fit_x"] == pytest.approx(row["fit_x"])
    assert all("whole fit" in x for x in lines)


def test_bench_paired_times_both_paths_in_one_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--models", "cnn", "--paired", *TINY, "--json", str(out)])
    assert code == 0
    (row,) = json.loads(out.read_text())
    assert row["paired"] is True
    (rnd,) = row["per_round"]
    # the plain loop stepped on every batch the full path did, and both were timed alike
    timed = row["timed_steps"] // 4 * (3 * 256 + 198)
    assert rnd["full"]["samples"] == rnd["plain"]["samples"] == timed
    assert row["full_step_us"] > 0 and row["plain_step_us"] > 0
    # one run holds both: its wall time is split between them
    assert rnd["full"]["wall_s"] > 0 and rnd["plain"]["wall_s"] > 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cnn: "))
    assert f"median of paired steps {row['overhead_us_step_median']:+.0f}" in line
    assert "x 1 rounds" in line
    # the whole fit: the plain loop's steps and validation passes against the rest of the run
    assert row["fit_x"] == pytest.approx(rnd["full"]["wall_s"] / rnd["plain"]["wall_s"])
    assert f"whole fit {row['full_wall_s']:.1f} s vs {row['plain_wall_s']:.1f} s" in line
    assert f"{row['fit_x']:.2f}x plain" in line


def test_bench_without_a_workaround_runs_lightnings_own_code_then_restores_it(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint as LightningModelCheckpoint

    from gauntlet.compat.lightning.checkpoint import ModelCheckpoint

    out = tmp_path / "bench.json"
    ours = ModelCheckpoint.on_train_batch_end
    args = ["bench", "--models", "cnn", "--paired", "--without", "checkpoint"]
    assert main([*args, *TINY, "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["without"] == ["checkpoint"]
    assert row["full_step_us"] > 0 and row["plain_step_us"] > 0
    # the bench's process gets the workarounds back: later runs are a user's runs again
    assert ModelCheckpoint.on_train_batch_end is ours
    assert ours is not LightningModelCheckpoint.on_train_batch_end


def test_bench_rejects_an_unknown_workaround(capsys):
    assert main(["bench", "--models", "cnn", "--without", "progress_bar"]) == 2
    err = capsys.readouterr().err
    assert "--without ['progress_bar']" in err and "checkpoint" in err
