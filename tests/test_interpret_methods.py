"""Every attribution method on every architecture and modality, through ``explain``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _tiny_nets import ARCHS, MODALITIES, make_net, synthetic, trained
from gauntlet.errors import GauntletError
from gauntlet.interpret import METHODS, attribute, explain
from gauntlet.models.cnn import CNN

PNG = b"\x89PNG\r\n\x1a\n"
# per-sample score shapes: a pixel of the 8x8 image, a step of the 24-step signal, a token
SCORE_SHAPE = {"image": (8, 8), "sequence": (24,), "tokens": (12,)}


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_explain_writes_pictures_and_scores(method, arch, modality, tmp_path):
    net, x, y, spec = trained(arch, modality)
    opts = {"n_samples": 48} if method in ("lime", "kernel_shap") else {}

    metrics = explain(net, x, y, spec, method, tmp_path, n=4, steps=6, **opts)

    for name in (f"{method}.png", f"{method}_deletion.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    record = json.loads((tmp_path / f"{method}.json").read_text())
    assert record["method"] == method
    assert len(record["samples"]) == 4
    for sample in record["samples"]:
        scores = np.array(sample["scores"])
        assert scores.shape == SCORE_SHAPE[modality]
        assert np.isfinite(scores).all() and np.abs(scores).sum() > 0
        assert len(sample["deletion_curve"]) == 7
    assert record["metrics"] == metrics
    for key in ("interpret/deletion_auc", "interpret/deletion_auc_random"):
        assert 0.0 <= metrics[key] <= 1.0
        assert metrics[key.replace("interpret/", f"interpret/{method}/")] == metrics[key]


@pytest.mark.parametrize("modality", MODALITIES)
def test_attribution_has_the_embedded_input_shape(modality):
    net, x, y, spec = trained("rnn", modality)
    for method in METHODS:
        opts = {"n_samples": 32} if method in ("lime", "kernel_shap") else {}
        attr = attribute(net, x[:3], y[:3], method, spec, **opts)
        assert attr.shape == net.embed(x[:3]).shape


@pytest.mark.parametrize("modality", MODALITIES)
def test_integrated_gradients_sum_to_the_logit_change_from_the_baseline(modality):
    net, x, y, spec = trained("cnn", modality)
    x, y = x[:8], y[:8]
    attr = attribute(net, x, y, "integrated_gradients", spec, n_steps=128)
    with torch.no_grad():
        logit = net(x).gather(1, y[:, None]).squeeze(1)
        if modality == "tokens":
            # the baseline: every real token replaced by the padding's embedding, read with
            # the text's own padding mask
            pads = net.embed(torch.full_like(x, spec.pad_id))
            empty = net.forward_embedded(pads, net.padding_mask(x))
        else:
            empty = net.forward_embedded(torch.zeros_like(x))
        empty = empty.gather(1, y[:, None]).squeeze(1)
    total = attr.flatten(1).sum(1)
    torch.testing.assert_close(total, logit - empty, atol=0.05, rtol=0.05)


def test_attribution_runs_in_eval_mode_and_gives_the_mode_back():
    x, y, spec = synthetic("image", n=8)
    net = CNN(spec, hidden=8, depth=2, dropout=0.5).train()

    first = attribute(net, x, y, "saliency", spec)
    second = attribute(net, x, y, "saliency", spec)

    torch.testing.assert_close(first, second)  # dropout off while attributing
    assert net.training and all(m.training for m in net.modules())


def test_lime_and_kernel_shap_are_reproducible_with_a_seed():
    net, x, y, spec = trained("cnn", "image")
    for method in ("lime", "kernel_shap"):
        a = attribute(net, x[:2], y[:2], method, spec, n_samples=40, seed=3)
        b = attribute(net, x[:2], y[:2], method, spec, n_samples=40, seed=3)
        c = attribute(net, x[:2], y[:2], method, spec, n_samples=40, seed=4)
        torch.testing.assert_close(a, b)
        assert not torch.equal(a, c)


def test_lime_groups_image_pixels_into_patches():
    net, x, y, spec = trained("cnn", "image")
    attr = attribute(net, x[:2], y[:2], "lime", spec, n_samples=40, seed=0)[:, 0]  # (B, 8, 8)
    # on 8x8 images a group is a 2x2 patch: every pixel of a patch gets the same score
    patches = attr.reshape(2, 4, 2, 4, 2)
    assert torch.equal(patches, patches[:, :, :1, :, :1].expand_as(patches))
    assert patches[:, :, 0, :, 0].unique().numel() > 1


def test_unknown_method_names_the_key_and_the_choices(tmp_path):
    net, x, y, spec = trained("cnn", "image")
    with pytest.raises(GauntletError, match="method") as err:
        explain(net, x, y, spec, "gradcam", tmp_path)
    for name in METHODS:
        assert name in str(err.value)
    assert not list(tmp_path.iterdir())


def test_unknown_option_names_the_option_and_the_valid_ones():
    net, x, y, spec = trained("cnn", "image")
    with pytest.raises(GauntletError, match=r"n_samples.*saliency"):
        attribute(net, x[:2], y[:2], "saliency", spec, n_samples=10)
    with pytest.raises(GauntletError, match=r"n_steps.*n_samples"):
        attribute(net, x[:2], y[:2], "lime", spec, n_steps=10)


def test_a_fresh_network_still_explains_without_nan():
    x, y, spec = synthetic("tokens", n=4)
    net = make_net("transformer", spec)
    for method in METHODS:
        opts = {"n_samples": 24} if method in ("lime", "kernel_shap") else {}
        assert torch.isfinite(attribute(net, x, y, method, spec, **opts)).all()
