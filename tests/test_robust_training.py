"""Adversarial training: the batch helper, and what it buys on digits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _tiny_nets import digits, fit, make_net, synthetic
from gauntlet.errors import GauntletError
from gauntlet.models.adversarial import AdversarialTraining
from gauntlet.robust import robust_accuracy

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_perturb_replaces_the_first_share_of_the_batch(attack):
    x, y, spec = synthetic("image", n=10)
    net = make_net("cnn", spec).train()
    adv = AdversarialTraining(attack=attack, eps=0.1, ratio=0.3, steps=2)
    e = net.embed(x)

    mixed = adv.perturb(net, e, y)

    assert mixed.shape == e.shape
    assert torch.equal(mixed[3:], e[3:])  # round(0.3 * 10) = 3 samples attacked
    assert all(not torch.equal(mixed[i], e[i]) for i in range(3))
    assert (mixed - e).abs().max() <= 0.1 + 1e-6
    assert net.training  # the attack ran in the mode it was given
    assert all(p.grad is None for p in net.parameters())  # no gradient leaked into weights


def test_token_embeddings_still_learn_through_attacked_samples():
    x, y, spec = synthetic("tokens", n=8)
    net = make_net("rnn", spec).train()
    adv = AdversarialTraining(attack="pgd", eps=0.2, ratio=1.0, steps=2)

    e = adv.perturb(net, net.embed(x), y)
    assert all(p.grad is None for p in net.parameters())
    F.cross_entropy(net.forward_embedded(e), y).backward()

    assert net.embedding.weight.grad is not None
    assert net.embedding.weight.grad[x.unique()].abs().sum() > 0


def test_ratio_zero_or_eps_zero_leaves_the_batch_alone():
    x, y, spec = synthetic("sequence", n=6)
    net = make_net("transformer", spec).train()
    for helper in (AdversarialTraining(ratio=0.0), AdversarialTraining(eps=0.0)):
        assert helper.perturb(net, x, y) is x


def test_bad_settings_name_the_key():
    with pytest.raises(GauntletError, match="ratio"):
        AdversarialTraining(ratio=1.5)
    with pytest.raises(GauntletError, match="eps"):
        AdversarialTraining(eps=-0.1)
    with pytest.raises(GauntletError, match="steps"):
        AdversarialTraining(attack="pgd", steps=0)


@pytest.mark.slow
def test_adversarial_training_raises_robust_accuracy_on_digits():
    train_x, train_y, test_x, test_y, spec = digits()
    eps = [0.0, 0.1]
    results = {}
    for name, helper in [("plain", None), ("adversarial", AdversarialTraining("fgsm", 0.1, 0.5))]:
        net = fit(
            make_net("cnn", spec, seed=0), train_x, train_y, steps=150, lr=5e-3, adversarial=helper
        )
        results[name] = {
            attack: robust_accuracy(net, test_x, test_y, spec, attack, eps, steps=10)
            for attack in ("fgsm", "pgd")
        }

    plain, adversarial = results["plain"], results["adversarial"]
    for attack in ("fgsm", "pgd"):
        assert adversarial[attack]["robust/acc@eps=0.1"] > plain[attack]["robust/acc@eps=0.1"] + 0.1
    # robustness is not bought with most of the clean accuracy
    assert adversarial["fgsm"]["robust/acc@eps=0"] > 0.9
