"""Robustness from the training command line: adversarial training and robust.eval."""

from __future__ import annotations

import pytest


def test_adversarial_training_switch_trains(train):
    manifest, _ = train("model.adversarial.attack=pgd", "model.adversarial.eps=0.05", "logger=csv")
    assert manifest["status"] == "completed"
    assert manifest["config"]["model"]["adversarial"]["attack"] == "pgd"


def test_robust_eval_puts_robust_accuracy_on_the_manifest(train):
    manifest, run_dir = train("robust=fgsm", "robust.eps=[0,0.1]", "logger=csv")
    metrics = manifest["metrics"]
    # the digits test split fits in one evaluation batch, so the limit on test batches is moot
    # torchmetrics reports test/acc in float32; the robust evaluation counts in float64
    assert metrics["robust/acc@eps=0"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert metrics["robust/acc@eps=0.1"] <= metrics["robust/acc@eps=0"]
    assert (run_dir / "robust" / "fgsm.png").is_file()
