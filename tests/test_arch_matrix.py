"""Every architecture on every modality, built from its real config: the shape of its output, a
finite loss, a gradient for every parameter, and a checkpoint that gives back the same outputs."""

from __future__ import annotations

import functools

import hydra
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from _tiny_nets import MODALITIES, synthetic
from gauntlet.models.build import build_network
from helpers import compose, strip_hydra

pytestmark = pytest.mark.usefixtures("single_thread")

# each architecture as a user picks it, made small; dropout off so that two passes agree
ARCHS = {
    "cnn": ["model=cnn", "model.net.hidden=8", "model.net.depth=1", "model.net.embed_dim=8"],
    "lstm": ["model=rnn", "model.net.cell=lstm", "model.net.hidden=8", "model.net.embed_dim=8"],
    "gru": ["model=rnn", "model.net.cell=gru", "model.net.hidden=8", "model.net.embed_dim=8"],
    "transformer": [
        "model=transformer",
        "model.net.hidden=8",
        "model.net.depth=1",
        "model.net.heads=2",
    ],
}
BATCH = 6


@functools.cache
def model_config(arch: str) -> dict:
    """The resolved ``model`` node of ``gauntlet train ARCH-OVERRIDES``."""
    cfg = strip_hydra(compose([*ARCHS[arch], "model.net.dropout=0.0"]))
    return OmegaConf.to_container(cfg.model, resolve=True)


def build_module(arch: str, modality: str, seed: int = 0):
    """The ClassifierModule ``gauntlet train`` builds for ``arch``, on a synthetic ``modality``
    batch: (module, x, y)."""
    node = OmegaConf.create(model_config(arch))
    x, y, spec = synthetic(modality, n=BATCH)
    torch.manual_seed(seed)
    net = build_network(node.net, spec)
    module = hydra.utils.instantiate(node, net=net)
    return module, x, y


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_logits_loss_and_a_gradient_for_every_parameter(arch, modality):
    module, x, y = build_module(arch, modality)
    module.train()

    loss, logits, _ = module.model_step((x, y))
    loss.backward()

    assert logits.shape == (BATCH, module.net.spec.num_classes)
    assert torch.isfinite(loss)
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        # an embedding's padding row gets a zero gradient, but a gradient all the same
        assert param.grad is not None, f"{arch} on {modality}: no gradient reaches {name}"
        assert torch.isfinite(param.grad).all(), f"{arch} on {modality}: {name}"


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("arch", ARCHS)
def test_a_checkpoint_gives_back_the_same_outputs(arch, modality, tmp_path):
    module, x, y = build_module(arch, modality)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=BATCH))
    path = tmp_path / "step.ckpt"
    trainer.save_checkpoint(path)
    module.eval()
    with torch.no_grad():
        expected = module(x)

    # what `gauntlet eval` does: the same model built again (here from other weights), the
    # checkpoint's state loaded into it
    loaded, _, _ = build_module(arch, modality, seed=1)
    loaded.eval()
    with torch.no_grad():
        assert not torch.equal(loaded(x), expected)
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    loaded.load_state_dict(checkpoint["state_dict"])
    loaded.on_load_checkpoint(checkpoint)
    with torch.no_grad():
        got = loaded(x)

    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert loaded.history == module.history
