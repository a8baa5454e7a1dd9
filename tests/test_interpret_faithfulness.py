"""Deletion curves: faithful attributions make the true class's probability fall faster."""

from __future__ import annotations

import pytest
import torch

from _tiny_nets import digits, digits_cnn, trained
from gauntlet.interpret import attribute, deletion_curve
from gauntlet.interpret.features import feature_scores

pytestmark = pytest.mark.usefixtures("single_thread")


def test_integrated_gradients_beat_a_random_ordering_on_digits():
    net = digits_cnn()
    _, _, test_x, test_y, spec = digits()
    assert (net(test_x).argmax(1) == test_y).float().mean() > 0.95
    x, y = test_x[:64], test_y[:64]

    attr = attribute(net, x, y, "integrated_gradients", spec)
    metrics = deletion_curve(net, x, y, attr, spec, steps=16).metrics()

    assert metrics["interpret/deletion_auc"] < metrics["interpret/deletion_auc_random"]


def test_curve_runs_from_the_input_to_the_baseline():
    net = digits_cnn()
    _, _, test_x, test_y, spec = digits()
    x, y = test_x[:16], test_y[:16]
    attr = attribute(net, x, y, "saliency", spec)

    curves = deletion_curve(net, x, y, attr, spec, steps=8)

    with torch.no_grad():
        clean = torch.softmax(net(x), 1).gather(1, y[:, None]).squeeze(1)
        # digits are scaled to [0, 1]: the baseline is 0, a black image
        black = torch.softmax(net(torch.zeros_like(x)), 1).gather(1, y[:, None]).squeeze(1)
    assert curves.fractions.tolist() == [k / 8 for k in range(9)]
    for probs in (curves.probs, curves.random_probs):
        torch.testing.assert_close(probs[:, 0], clean)
        torch.testing.assert_close(probs[:, -1], black)
    torch.testing.assert_close(curves.auc, torch.trapezoid(curves.probs, curves.fractions, dim=1))


def test_tokens_are_removed_by_their_pad_embedding():
    net, x, y, spec = trained("transformer", "tokens")
    x, y = x[:8], y[:8]
    attr = attribute(net, x, y, "integrated_gradients", spec)

    curves = deletion_curve(net, x, y, attr, spec, steps=4)

    with torch.no_grad():
        # every real token replaced by the padding's embedding, read with the text's own mask
        pads = net.embed(torch.full_like(x, spec.pad_id))
        logits = net.forward_embedded(pads, net.padding_mask(x))
        pad = torch.softmax(logits, 1).gather(1, y[:, None])
    torch.testing.assert_close(curves.probs[:, -1], pad.squeeze(1))
    assert (
        curves.metrics()["interpret/deletion_auc"]
        < curves.metrics()["interpret/deletion_auc_random"]
    )


def test_scores_per_feature_and_full_attributions_give_the_same_curve():
    net, x, y, spec = trained("rnn", "sequence")
    attr = attribute(net, x[:8], y[:8], "integrated_gradients", spec)

    full = deletion_curve(net, x[:8], y[:8], attr, spec, steps=6)
    per_step = deletion_curve(net, x[:8], y[:8], feature_scores(attr, spec), spec, steps=6)

    torch.testing.assert_close(full.probs, per_step.probs)


def test_random_ordering_is_seeded():
    net, x, y, spec = trained("cnn", "image")
    scores = torch.rand(8, 8, 8)
    a = deletion_curve(net, x[:8], y[:8], scores, spec, steps=8, seed=1)
    b = deletion_curve(net, x[:8], y[:8], scores, spec, steps=8, seed=1)
    c = deletion_curve(net, x[:8], y[:8], scores, spec, steps=8, seed=2)
    torch.testing.assert_close(a.random_auc, b.random_auc)
    assert not torch.equal(a.random_probs, c.random_probs)
