"""One way to switch on mixup and adversarial training, and a checkpoint's own config."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

import pytest
import torch

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.eval import evaluate
from gauntlet.models.adversarial import AdversarialTraining
from gauntlet.models.cnn import CNN
from gauntlet.models.mixing import Mixing
from gauntlet.models.module import ClassifierModule

SPEC = InputSpec("image", (1, 8, 8), 3)
ADAM = functools.partial(torch.optim.Adam, lr=1e-3)


def test_the_nodes_switch_mixup_and_adversarial_training_on():
    module = ClassifierModule(
        CNN(SPEC, hidden=8, depth=1),
        ADAM,
        mixup={"alpha": 0.4},
        adversarial={"attack": "fgsm", "eps": 0.1, "ratio": 0.5, "steps": 1},
    )
    assert isinstance(module.mixing, Mixing) and module.mixing.mixup_alpha == 0.4
    assert isinstance(module.adversarial, AdversarialTraining)
    assert module.adversarial.attack == "fgsm"


def test_a_ready_mixing_object_is_refused_pointing_at_model_mixup():
    with pytest.raises(GauntletError, match=r"model\.mixing.*model\.mixup\.alpha"):
        ClassifierModule(CNN(SPEC, hidden=8, depth=1), ADAM, mixing=Mixing(mixup_alpha=0.4))


def test_a_ready_adversarial_object_is_refused_pointing_at_the_node():
    with pytest.raises(GauntletError, match=r"model\.adversarial.*attack=fgsm"):
        ClassifierModule(CNN(SPEC, hidden=8, depth=1), ADAM, adversarial=AdversarialTraining())


def test_model_mixing_on_the_command_line_fails_at_composition(tmp_path):
    env = {**os.environ, "GAUNTLET_LOG_DIR": str(tmp_path), "WANDB_MODE": "offline"}
    result = subprocess.run(
        [sys.executable, "-m", "gauntlet", "train", "model.mixing=1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode != 0
    assert "model.mixing" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.glob("runs/*/manifest.json"))


def test_a_checkpoint_of_an_older_run_with_model_mixing_null_still_evaluates(train, tmp_path):
    manifest, run_dir = train("trainer.limit_test_batches=null")
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    assert checkpoint["gauntlet_config"]["model"]["_target_"].endswith("ClassifierModule")
    checkpoint["gauntlet_config"]["model"]["mixing"] = None  # what older runs recorded
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)

    metrics = evaluate(old)

    assert metrics["test/acc"] == pytest.approx(manifest["metrics"]["test/acc"], abs=1e-7)
