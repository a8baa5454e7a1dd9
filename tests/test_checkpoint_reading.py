"""A checkpoint is read in one place (gauntlet.run.checkpoints): for a run that continues from it
and for the commands that load a finished run. Each file that cannot be used gets one line
naming ckpt_path and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from gauntlet.compat.torch import uncompiled_keys
from gauntlet.errors import GauntletError
from gauntlet.run.checkpoints import load, network_weights, read_checkpoint


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _save(path: Path, contents: object) -> Path:
    torch.save(contents, path)
    return path


def test_a_gauntlet_checkpoint_reads_back_whole(tmp_path):
    state = {f"net.{k}": v for k, v in _net().state_dict().items()}
    path = _save(tmp_path / "last.ckpt", {"state_dict": state, "gauntlet_config": {"seed": 3}})
    checkpoint = read_checkpoint(path)
    assert checkpoint["gauntlet_config"] == {"seed": 3}
    assert set(checkpoint["state_dict"]) == set(state)
    # read afresh: a caller's change does not reach the next reader
    checkpoint["state_dict"].clear()
    assert set(read_checkpoint(path)["state_dict"]) == set(state)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir() or p, "is a directory; give a checkpoint file"),
        (lambda p: p, "no such checkpoint file"),
        (lambda p: (p.write_bytes(b"not a zip"), p)[1], "not a readable PyTorch checkpoint"),
        (lambda p: _save(p, {"epoch": 1}), "not a Lightning checkpoint (no state_dict)"),
        (lambda p: _save(p, [1, 2]), "not a Lightning checkpoint (no state_dict)"),
        (lambda p: _save(p, {"state_dict": {}}), "not written by gauntlet (no run config"),
    ],
)
def test_a_checkpoint_that_cannot_be_used_is_one_line_naming_ckpt_path(tmp_path, make, message):
    path = make(tmp_path / "bad.ckpt")
    with pytest.raises(GauntletError) as caught:
        read_checkpoint(path)
    text = str(caught.value)
    assert text.startswith(f"ckpt_path={path}") and message in text and "\n" not in text


def test_a_truncated_checkpoint_names_why_for_a_run_that_continues(tmp_path):
    whole = _save(tmp_path / "whole.ckpt", {"state_dict": _net().state_dict()})
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[:200])
    assert set(load(whole)["state_dict"]) == set(_net().state_dict())
    with pytest.raises(ValueError, match=r"^\w+Error: "):
        load(cut)
    with pytest.raises(GauntletError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(cut)


def test_weights_saved_by_a_compiled_module_load_into_the_plain_network():
    net = _net()
    compiled = torch.compile(net)  # an OptimizedModule: its keys carry _orig_mod.
    saved = {f"net.{k}": v for k, v in compiled.state_dict().items()}
    assert any("_orig_mod." in key for key in saved)
    weights = network_weights({"state_dict": saved})
    plain = nn.Module()
    plain.net = _net()
    plain.load_state_dict(weights)  # strict: every key matches
    assert torch.equal(plain.net[0].weight, net[0].weight)
    assert uncompiled_keys({"a.b": 1}) == {"a.b": 1}
