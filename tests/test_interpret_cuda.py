"""Attributions on a GPU: the same answers as on the CPU, RNNs in eval mode included."""

from __future__ import annotations

import json

import pytest
import torch

from _tiny_nets import ARCHS, MODALITIES, trained
from gauntlet.interpret import METHODS, attribute, explain

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_every_method_explains_on_the_gpu(arch, modality, on_gpu, tmp_path):
    net, x, y, spec = on_gpu(arch, modality)
    x, y = x.cpu(), y.cpu()  # explain takes the samples where the user has them
    for method in METHODS:
        opts = {"n_samples": 48} if method in ("lime", "kernel_shap") else {}
        metrics = explain(net, x, y, spec, method, tmp_path, n=8, steps=6, **opts)
        assert 0.0 <= metrics["interpret/deletion_auc"] <= 1.0
        scores = json.loads((tmp_path / f"{method}.json").read_text())["samples"][0]["scores"]
        assert torch.isfinite(torch.tensor(scores)).all()
    assert not net.training


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_gradient_methods_agree_with_the_cpu(arch, modality, on_gpu):
    net, x, y, spec = trained(arch, modality)
    x, y = x[:8], y[:8]
    cpu = {m: attribute(net, x, y, m, spec) for m in ("integrated_gradients", "saliency")}
    net, _, _, _ = on_gpu(arch, modality)
    for method, expected in cpu.items():
        got = attribute(net, x.cuda(), y.cuda(), method, spec)
        assert got.is_cuda
        # TF32 and kernel choice differ between devices: agreement to a few percent of the scale
        torch.testing.assert_close(got.cpu(), expected, atol=0.03 * expected.abs().max(), rtol=0.05)


def test_an_rnn_in_eval_mode_gives_input_gradients_on_the_gpu(on_gpu):
    net, x, y, spec = on_gpu("rnn", "sequence")
    x, y = x[:8].cuda(), y[:8].cuda()
    e = x.clone().requires_grad_()
    if torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled:
        # what attribution has to step around: cuDNN's RNN backward refuses eval mode
        with pytest.raises(RuntimeError, match="training mode"):
            torch.autograd.grad(net.eval()(e).sum(), e)

    attr = attribute(net, x, y, "saliency", spec)

    assert attr.abs().sum() > 0
    assert torch.backends.cudnn.enabled  # switched off only inside the call
