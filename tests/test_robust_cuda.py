"""Attacks and adversarial training on a GPU, RNNs in eval mode included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _tiny_nets import ARCHS, MODALITIES, make_net, synthetic
from gauntlet.models.adversarial import AdversarialTraining
from gauntlet.models.attacks import pgd
from gauntlet.robust import robust_accuracy

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_robust_accuracy_on_the_gpu(arch, modality, on_gpu):
    net, x, y, spec = on_gpu(arch, modality)
    eps = 1.0 if modality == "tokens" else 0.3

    metrics = robust_accuracy(net, x, y, spec, "pgd", [0, eps], steps=5, batch_size=32)

    with torch.no_grad():
        clean = int((net(x).argmax(1) == y).sum()) / len(y)
    assert metrics["robust/acc@eps=0"] == clean
    assert metrics[f"robust/acc@eps={eps:g}"] < clean


def test_pgd_is_seeded_on_the_gpu(on_gpu):
    net, x, y, _ = on_gpu("cnn", "image")
    a = pgd(net, x, y, 0.1, steps=3, seed=1)
    b = pgd(net, x, y, 0.1, steps=3, seed=1)
    c = pgd(net, x, y, 0.1, steps=3, seed=2)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_adversarial_training_steps_on_the_gpu(arch, modality):
    x, y, spec = synthetic(modality, n=32)
    net = make_net(arch, spec).cuda().train()
    x, y = x.cuda(), y.cuda()
    helper = AdversarialTraining(attack="pgd", eps=0.1, ratio=0.5, steps=2)

    e = helper.perturb(net, net.embed(x), y)

    assert all(p.grad is None for p in net.parameters())
    F.cross_entropy(net.forward_embedded(e), y).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
