"""Grouping runs and aggregating seeds: values worked out by hand."""

from __future__ import annotations

import math

import pytest

from gauntlet.leaderboard.aggregate import aggregate, sort_items


def run(run_id: str, model: str, dropout: float, seed: int, **metrics: float) -> dict:
    return {
        "run_id": run_id,
        "status": "completed" if metrics else "failed",
        "experiment": f"digits_{model}",
        "model": model,
        "data": "digits",
        "seed": seed,
        "config": {"model": {"net": {"dropout": dropout}}, "data": {"fraction": 1.0}},
        "metrics": {name.replace("_", "/"): value for name, value in metrics.items()},
    }


ROWS = [
    run("c1", "cnn", 0.1, 1, test_acc=0.9, test_loss=0.30),
    run("c2", "cnn", 0.1, 2, test_acc=0.8, test_loss=0.50),
    run("c3", "cnn", 0.1, 3, test_acc=0.7, test_loss=0.40),
    run("r1", "rnn", 0.1, 1, test_acc=0.5),
    run("t1", "transformer", 0.2, 1, test_acc=0.6),
    run("t2", "transformer", 0.2, 2, test_acc=0.7),
    run("t3", "transformer", 0.2, 3),  # failed: no metrics
]


def test_seeds_of_one_setup_aggregate_to_mean_and_sample_std() -> None:
    groups = aggregate(ROWS, ["experiment", "model", "data"], ["test/acc", "test/loss"])
    assert [g["group"] for g in groups] == [
        {"experiment": "digits_cnn", "model": "cnn", "data": "digits"},
        {"experiment": "digits_rnn", "model": "rnn", "data": "digits"},
        {"experiment": "digits_transformer", "model": "transformer", "data": "digits"},
    ]
    cnn, rnn, transformer = groups
    # cnn: (0.9 + 0.8 + 0.7) / 3 = 0.8; deviations 0.1, 0, -0.1 -> sqrt(0.02 / 2) = 0.1
    assert cnn["n"] == 3 and cnn["run_ids"] == ["c1", "c2", "c3"]
    assert cnn["metrics"]["test/acc"]["mean"] == pytest.approx(0.8)
    assert cnn["metrics"]["test/acc"]["std"] == pytest.approx(0.1)
    assert cnn["metrics"]["test/acc"]["n"] == 3
    # 95% t interval: 0.8 ± t(0.975, df=2) * 0.1 / sqrt(3) = 0.8 ± 4.302653 * 0.057735
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert cnn["metrics"]["test/acc"]["ci_low"] == pytest.approx(0.8 - half)
    assert cnn["metrics"]["test/acc"]["ci_high"] == pytest.approx(0.8 + half)
    assert (cnn["metrics"]["test/acc"]["min"], cnn["metrics"]["test/acc"]["max"]) == (0.7, 0.9)
    # loss: 0.3, 0.5, 0.4 -> mean 0.4, std 0.1
    assert cnn["metrics"]["test/loss"]["mean"] == pytest.approx(0.4)
    assert cnn["metrics"]["test/loss"]["std"] == pytest.approx(0.1)
    # one seed: std is 0 by definition
    assert rnn["metrics"]["test/acc"] == {
        "mean": 0.5,
        "std": 0.0,
        "n": 1,
        "ci_low": None,
        "ci_high": None,
        "min": 0.5,
        "max": 0.5,
        "values": [0.5],
    }
    assert rnn["metrics"]["test/loss"]["n"] == 0 and rnn["metrics"]["test/loss"]["mean"] is None
    # three runs, one failed: the metric counts the two that have it; 0.6, 0.7 -> 0.65,
    # std = sqrt(2 * 0.05**2 / 1) = 0.0707...
    assert transformer["n"] == 3
    assert transformer["metrics"]["test/acc"]["n"] == 2
    assert transformer["metrics"]["test/acc"]["mean"] == pytest.approx(0.65)
    assert transformer["metrics"]["test/acc"]["std"] == pytest.approx(math.sqrt(0.005))


def test_grouping_by_a_config_key_pools_across_models() -> None:
    groups = aggregate(ROWS, ["model.net.dropout"], ["test/acc"])
    by_dropout = {g["group"]["model.net.dropout"]: g for g in groups}
    assert set(by_dropout) == {0.1, 0.2}
    # 0.1: 0.9, 0.8, 0.7, 0.5 -> mean 0.725; squares of deviations:
    # 0.175^2 + 0.075^2 + 0.025^2 + 0.225^2 = 0.0875 -> std = sqrt(0.0875 / 3)
    assert by_dropout[0.1]["n"] == 4
    assert by_dropout[0.1]["metrics"]["test/acc"]["mean"] == pytest.approx(0.725)
    assert by_dropout[0.1]["metrics"]["test/acc"]["std"] == pytest.approx(math.sqrt(0.0875 / 3))


def test_several_keys_and_a_key_no_run_has() -> None:
    groups = aggregate(ROWS, ["model", "data.fraction", "optimizer.lr"], ["test/acc"])
    assert groups[0]["group"] == {"model": "cnn", "data.fraction": 1.0, "optimizer.lr": None}
    assert len(groups) == 3


def test_no_keys_makes_one_group_of_everything() -> None:
    (group,) = aggregate(ROWS, [], ["test/acc"])
    assert group["group"] == {} and group["n"] == 7
    assert group["metrics"]["test/acc"]["n"] == 6
    assert group["metrics"]["test/acc"]["mean"] == pytest.approx(
        (0.9 + 0.8 + 0.7 + 0.5 + 0.6 + 0.7) / 6
    )


def test_non_finite_and_non_numeric_metric_values_are_left_out() -> None:
    rows = [
        run("a", "cnn", 0.1, 1, test_acc=0.5),
        run("b", "cnn", 0.1, 2, test_acc=math.nan),
        run("c", "cnn", 0.1, 3, test_acc=math.inf),
        {**run("d", "cnn", 0.1, 4), "metrics": {"test/acc": "0.9"}},
        {**run("e", "cnn", 0.1, 5), "metrics": {"test/acc": True}},
    ]
    (group,) = aggregate(rows, ["model"], ["test/acc"])
    assert group["n"] == 5
    assert group["metrics"]["test/acc"]["values"] == [0.5]


def test_groups_sort_by_mean_with_empty_groups_last() -> None:
    groups = aggregate(ROWS, ["model"], ["test/acc", "test/loss"])
    best_first = sort_items(groups, "test/acc")
    assert [g["group"]["model"] for g in best_first] == ["cnn", "transformer", "rnn"]
    worst_first = sort_items(groups, "test/acc", ascending=True)
    assert [g["group"]["model"] for g in worst_first] == ["rnn", "transformer", "cnn"]
    by_loss = sort_items(groups, "test/loss", ascending=True)
    assert by_loss[0]["group"]["model"] == "cnn"  # the only group with a loss; others follow
    by_size = sort_items(groups, "runs")  # 3, 1, 3 runs; ties keep their order
    assert [g["group"]["model"] for g in by_size] == ["cnn", "transformer", "rnn"]


def test_runs_sort_by_metric_and_by_config_key() -> None:
    by_acc = sort_items(ROWS, "test/acc")
    assert [r["run_id"] for r in by_acc] == ["c1", "c2", "c3", "t2", "t1", "r1", "t3"]
    by_dropout = sort_items(ROWS, "model.net.dropout", ascending=True)
    assert [r["config"]["model"]["net"]["dropout"] for r in by_dropout] == [0.1] * 4 + [0.2] * 3
