"""Robustness from the training command line: adversarial training and robust.eval."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FAST, run_training, same_weights

# robust accuracy under FGSM after test, on the clean inputs and at one step of eps
ROBUST_EVAL = ["robust=fgsm", "robust.eps=[0,0.1]", "logger=csv"]


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """A short run without adversarial training, evaluated under FGSM: the reference the
    tests below compare with (robust.eval runs after training and changes none of it)."""
    return run_training(tmp_path_factory.mktemp("plain"), [*FAST, *ROBUST_EVAL])


def test_adversarial_training_changes_what_is_trained(plain_run, tmp_path):
    plain, plain_dir = plain_run
    # the same run with the switch on but eps=0 attacks nothing: training is reproducible,
    # so any difference below is the attack's doing, not the seed's
    off, off_dir = run_training(
        tmp_path, [*FAST, *ROBUST_EVAL, "model.adversarial.attack=pgd", "model.adversarial.eps=0"]
    )
    assert same_weights(off_dir, plain_dir)
    assert off["metrics"]["train/loss"] == plain["metrics"]["train/loss"]

    adversarial, adversarial_dir = run_training(
        tmp_path,
        [*FAST, *ROBUST_EVAL, "model.adversarial.attack=pgd", "model.adversarial.eps=0.05"],
        name="adversarial",
    )
    assert adversarial["status"] == "completed"
    assert not same_weights(adversarial_dir, plain_dir)
    # the training loss is measured on the attacked share of each batch: it is higher
    assert adversarial["metrics"]["train/loss"] > plain["metrics"]["train/loss"]
    # and the run measures the robustness it trained for
    for key in ("robust/acc@eps=0", "robust/acc@eps=0.1"):
        assert 0.0 <= adversarial["metrics"][key] <= 1.0


def test_robust_eval_puts_robust_accuracy_on_the_manifest(plain_run):
    manifest, run_dir = plain_run
    metrics = manifest["metrics"]
    # the digits test split fits in one evaluation batch, so the limit on test batches is moot
    # torchmetrics reports test/acc in float32; the robust evaluation counts in float64
    assert metrics["robust/acc@eps=0"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert metrics["robust/acc@eps=0.1"] <= metrics["robust/acc@eps=0"]
    assert (run_dir / "robust" / "fgsm.png").is_file()
