"""FGSM and PGD on embedded inputs, and accuracy under attack."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from omegaconf import OmegaConf

from _tiny_nets import ARCHS, MODALITIES, accuracy, digits, digits_cnn, trained
from gauntlet.errors import GauntletError
from gauntlet.models.adversarial import AdversarialTraining
from gauntlet.models.attacks import fgsm, pgd
from gauntlet.robust import evaluate_robustness, robust_accuracy

EPS = [0.0, 0.05, 0.1, 0.2]


pytestmark = pytest.mark.usefixtures("single_thread")


def test_accuracy_at_eps_zero_is_the_clean_accuracy_and_falls_as_eps_grows():
    net = digits_cnn()
    _, _, x, y, spec = digits()

    metrics = robust_accuracy(net, x, y, spec, "fgsm", EPS, batch_size=128)

    assert list(metrics) == [f"robust/acc@eps={eps:g}" for eps in EPS]
    assert metrics["robust/acc@eps=0"] == accuracy(net, x, y)
    values = list(metrics.values())
    assert all(a > b for a, b in itertools.pairwise(values))
    assert metrics["robust/acc@eps=0.2"] < 0.5 * metrics["robust/acc@eps=0"]


def test_pgd_is_at_least_as_strong_as_fgsm():
    net = digits_cnn()
    _, _, x, y, spec = digits()
    x, y = x[:200], y[:200]

    one_step = robust_accuracy(net, x, y, spec, "fgsm", EPS[1:])
    iterated = robust_accuracy(net, x, y, spec, "pgd", EPS[1:], steps=10)

    for key in one_step:
        assert iterated[key] <= one_step[key]
    assert iterated["robust/acc@eps=0.1"] < one_step["robust/acc@eps=0.1"]


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_perturbation_stays_in_the_budget_and_the_data_range(attack):
    net = digits_cnn()
    _, _, x, y, _ = digits()
    e = net.embed(x[:64])

    adv = attack(net, e, y[:64], 0.1)

    assert adv.shape == e.shape
    assert (adv - e).abs().max() <= 0.1 + 1e-6
    assert (adv - e).abs().max() > 0.09  # the budget is used
    assert adv.min() >= 0.0 and adv.max() <= 1.0  # digits live in [0, 1]


def test_token_embeddings_are_attacked_without_a_clamp():
    net, x, y, spec = trained("rnn", "tokens")
    with torch.no_grad():
        e = net.embed(x)

    adv = fgsm(net.eval(), e, y, 0.5)

    # FGSM moves every coordinate by exactly eps: nothing is clipped in embedding space
    torch.testing.assert_close((adv - e).abs(), torch.full_like(e, 0.5))
    assert robust_accuracy(net, x, y, spec, "pgd", [0, 1.0], steps=5)["robust/acc@eps=1"] < 0.9


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_and_modality_can_be_attacked(arch, modality):
    net, x, y, spec = trained(arch, modality)
    eps = 1.0 if modality == "tokens" else 0.3

    metrics = robust_accuracy(net, x, y, spec, "pgd", [0, eps], steps=5, batch_size=32)

    assert metrics[f"robust/acc@eps={eps:g}"] < metrics["robust/acc@eps=0"]
    assert not net.training


def test_pgd_is_reproducible_with_a_seed():
    net = digits_cnn()
    _, _, x, y, _ = digits()
    e = x[:32]
    a = pgd(net, e, y[:32], 0.1, steps=3, seed=5)
    b = pgd(net, e, y[:32], 0.1, steps=3, seed=5)
    c = pgd(net, e, y[:32], 0.1, steps=3, seed=6)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


def test_evaluate_robustness_writes_the_plot_and_returns_the_metrics(tmp_path):
    net = digits_cnn()
    _, _, x, y, spec = digits()

    class Module:  # what the trainer hands over: a LightningModule's .net and a datamodule
        pass

    module, datamodule = Module(), Module()
    module.net = net
    datamodule.test_x, datamodule.test_y, datamodule.spec = x[:100], y[:100], spec
    cfg = OmegaConf.create(
        {"eval": True, "attack": "pgd", "eps": [0, 0.1], "steps": 3, "batch_size": 64}
    )

    metrics = evaluate_robustness(module, datamodule, cfg, tmp_path)

    assert set(metrics) == {"robust/acc@eps=0", "robust/acc@eps=0.1"}
    assert (tmp_path / "robust" / "pgd.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "robust" / "pgd.json").read_text())["metrics"] == metrics


def test_unknown_attack_names_the_key_and_the_choices(tmp_path):
    net = digits_cnn()
    _, _, x, y, spec = digits()
    with pytest.raises(GauntletError, match="attack") as err:
        robust_accuracy(net, x, y, spec, "cw", [0.1])
    assert "fgsm" in str(err.value) and "pgd" in str(err.value)
    with pytest.raises(GauntletError, match=r"robust\.attack.*fgsm, pgd"):
        cfg = {"attack": "deepfool", "eps": [0.1]}
        evaluate_robustness(None, None, cfg, tmp_path)
    with pytest.raises(GauntletError, match=r"attack.*fgsm, pgd"):
        AdversarialTraining(attack="bim")
    with pytest.raises(GauntletError, match="eps"):
        robust_accuracy(net, x, y, spec, "fgsm", [-0.1])
