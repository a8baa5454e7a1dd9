"""Overfitting: the monitor's verdict, gaps in the manifest and wandb, curves, early stopping."""

from __future__ import annotations

import csv
import json
import struct

import pytest

from gauntlet.callbacks.overfitting import best_epoch, overfit_epoch


def rows(val_losses, train_losses=None, val_accs=None):
    train_losses = train_losses or [1.0 / (i + 1) for i in range(len(val_losses))]
    val_accs = val_accs or [0.5] * len(val_losses)
    return [
        {"epoch": i, "val/loss": v, "train/loss": t, "val/acc": a, "train/acc": 1.0}
        for i, (v, t, a) in enumerate(zip(val_losses, train_losses, val_accs, strict=True))
    ]


# -- the verdict ------------------------------------------------------------------------------


def test_overfit_epoch_is_the_last_low_before_val_loss_rises_for_patience_epochs():
    history = rows([1.0, 0.7, 0.5, 0.55, 0.6, 0.7, 0.8])
    assert overfit_epoch(history, patience=3) == 2
    assert overfit_epoch(history, patience=4) == 2
    assert overfit_epoch(history, patience=5) is None  # not enough epochs after it


def test_a_blip_or_a_wobbling_plateau_is_not_overfitting():
    # one epoch's rise, then lower again: the lowest val loss comes last
    assert overfit_epoch(rows([1.0, 0.7, 0.75, 0.6, 0.65, 0.66, 0.5, 0.45]), patience=2) is None
    # a plateau after the low, up and down within its noise (a well-trained run's tail)
    plateau = [1.2, 0.45, 0.21, 0.15, 0.17, 0.14, 0.16, 0.15, 0.17, 0.155]
    assert overfit_epoch(rows(plateau), patience=3) is None
    # the default run (`make train`, 2026-12-05: test/acc 0.975), once flagged from epoch 2
    val = [0.6719, 0.1009, 0.0595, 0.0651, 0.0703, 0.0697, 0.0600, 0.0682, 0.0706, 0.0666]
    train = [0.5850, 0.0688, 0.0266, 0.0146, 0.0154, 0.0155, 0.0145, 0.0267, 0.0064, 0.0170]
    assert overfit_epoch(rows(val, train), patience=3) is None
    # one spike after the low, back down after it
    assert overfit_epoch(rows([1.0, 0.5, 0.3, 0.5, 0.31, 0.32, 0.31]), patience=3) is None


def test_a_steady_rise_beyond_the_noise_with_a_growing_gap_is_overfitting():
    # the low at epoch 3, then val loss climbs with scatter while train loss keeps falling
    val = [1.0, 0.6, 0.45, 0.42, 0.47, 0.46, 0.55, 0.6, 0.58, 0.7]
    train = [0.9, 0.5, 0.3, 0.2, 0.14, 0.1, 0.07, 0.05, 0.04, 0.03]
    assert overfit_epoch(rows(val, train), patience=3) == 3
    # the same rise with train loss rising as fast: the gap does not grow
    assert overfit_epoch(rows(val, [v - 0.1 for v in val]), patience=3) is None


def test_patience_below_two_is_refused():
    from gauntlet.callbacks.overfitting import OverfittingMonitor
    from gauntlet.errors import GauntletError

    with pytest.raises(GauntletError, match=r"callbacks\.overfitting\.patience"):
        OverfittingMonitor(patience=1)


def test_rising_val_loss_with_rising_train_loss_is_divergence_not_overfitting():
    history = rows([0.5, 0.6, 0.7, 0.8], train_losses=[0.5, 0.6, 0.7, 0.8])
    assert overfit_epoch(history, patience=3) is None


def test_val_loss_below_train_loss_is_not_overfitting():
    # heavy augmentation or mixup: training is the harder task, val loss wobbles below it
    history = rows([0.9, 0.5, 0.42, 0.47, 0.45], train_losses=[2.2, 1.6, 1.67, 1.65, 1.4])
    assert overfit_epoch(history, patience=2) is None


def test_min_delta_ignores_tiny_rises():
    history = rows([1.0, 0.5, 0.501, 0.502, 0.503])
    assert overfit_epoch(history, patience=3) == 1
    assert overfit_epoch(history, patience=3, min_delta=0.01) is None


def test_best_epoch_follows_the_monitored_metric():
    history = rows([0.9, 0.5, 0.6], val_accs=[0.5, 0.7, 0.8])
    assert best_epoch(history) == 2  # val/acc, max: what the checkpoint keeps
    assert best_epoch(history, "val/loss", "min") == 1
    assert best_epoch([]) is None


# -- a run: metrics, CSV, curves, wandb -------------------------------------------------------


def read_wandb_records(path):
    """Records of a wandb transaction log (leveldb-log framing of protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, chunk, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        if length == 0 and kind == 0:
            break
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def test_a_run_logs_gaps_and_verdict_to_manifest_csv_curves_and_wandb(train):
    manifest, run_dir = train("trainer.max_epochs=3", "data.samples_per_class=10")
    metrics = manifest["metrics"]
    assert metrics["gap/loss"] == pytest.approx(metrics["val/loss"] - metrics["train/loss"])
    assert metrics["gap/acc"] == pytest.approx(metrics["train/acc"] - metrics["val/acc"])
    assert metrics["epochs_trained"] == 3
    assert metrics["best_epoch"] in (0, 1, 2)

    with (run_dir / "metrics.csv").open() as f:
        csv_rows = list(csv.DictReader(f))
    gaps = [r for r in csv_rows if r.get("gap/loss")]
    assert [int(r["epoch"]) for r in gaps] == [0, 1, 2]
    assert any(r.get("best_epoch") for r in csv_rows)

    png = run_dir / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    import wandb

    wandb.teardown()  # what the end of the process does: wait for the run file to be written
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    media = list((offline / "files" / "media" / "images").glob("curves_*.png"))
    assert len(media) == 1 and media[0].read_bytes()[:4] == b"\x89PNG"
    records = read_wandb_records(next(offline.glob("run-*.wandb")))
    metric_defs = {r.metric.name: r.metric for r in records if r.HasField("metric")}
    kinds = [r.WhichOneof("record_type") for r in records if not r.HasField("output_raw")]
    assert "val/acc" in metric_defs, f"metric definitions {sorted(metric_defs)}; records {kinds}"
    assert metric_defs["val/acc"].step_metric == "epoch"
    assert metric_defs["val/acc"].summary.max
    assert metric_defs["val/loss"].summary.min
    history = [
        {
            item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in r.history.item
        }
        for r in records
        if r.HasField("history")
    ]
    gap_rows = [h for h in history if "gap/loss" in h]
    assert [h["epoch"] for h in gap_rows] == [0, 1, 2]
    summary = {
        item.key: json.loads(item.value_json)
        for r in records
        if r.HasField("summary")
        for item in r.summary.update
    }
    assert summary["best_epoch"] == metrics["best_epoch"]


def test_early_stopping_is_switched_on_from_the_command_line(train):
    manifest, _ = train(
        "callbacks=with_early_stopping",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=100",  # no epoch can improve by that much
        "trainer.max_epochs=6",
        "trainer.limit_train_batches=1",
    )
    callbacks = manifest["config"]["callbacks"]
    assert callbacks["early_stopping"]["monitor"] == "val/loss"
    assert "model_checkpoint" in callbacks and "overfitting" in callbacks
    assert manifest["metrics"]["epochs_trained"] == 2


# -- real training: the overfit preset fires, regularisation narrows the gap ------------------


@pytest.mark.slow
def test_the_overfit_preset_makes_the_monitor_fire(train):
    manifest, run_dir = train("debug=overfit", fast=False)  # its 40 epochs
    metrics = manifest["metrics"]
    assert manifest["experiment"] == "digits_cnn"  # <data>_<model>, as every run
    assert manifest["data_sizes"]["train"] == 80
    assert "overfit_epoch" in metrics
    assert metrics["overfit_epoch"] < metrics["epochs_trained"] - 3
    assert metrics["train/acc"] == 1.0 and metrics["gap/acc"] > 0.05
    assert (run_dir / "curves.png").is_file()


@pytest.mark.slow
def test_regularisation_narrows_the_final_gap_on_the_same_seed(train):
    common = [
        "debug=overfit",
        "trainer.max_epochs=15",
        "logger=csv",
        "seed=3",
    ]
    plain, _ = train(*common, name="plain", fast=False)
    regular, _ = train(
        *common,
        "model.net.dropout=0.3",
        "model.optimizer.weight_decay=0.05",
        "model.label_smoothing=0.1",
        "augment=strong",
        "trainer.gradient_clip_val=1.0",
        name="regularised",
        fast=False,
    )
    gap_plain, gap_regular = plain["metrics"]["gap/loss"], regular["metrics"]["gap/loss"]
    assert gap_regular < gap_plain
    assert regular["metrics"]["gap/acc"] < plain["metrics"]["gap/acc"]
