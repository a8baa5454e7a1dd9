"""``seeds.split``, ``seeds.init``, ``seeds.order``, ``seeds.augment``: each changes its own source
of randomness only, and a run that sets none of them is the run it always was."""

from __future__ import annotations

import pytest
import torch

from gauntlet.config import compose
from helpers import strip_hydra

SMALL = ["data=digits", "model=cnn", "model.net.hidden=8", "model.net.depth=2", "logger=none"]


def built(tmp_path, *overrides: str):
    """What a run starts from: the split, the first epoch's batch order, the initial weights,
    and the first numbers training would draw."""
    from gauntlet.train import build

    cfg = compose([f"paths.log_dir={tmp_path}", *SMALL, *overrides], run_dir=tmp_path / "run")
    cfg = strip_hydra(cfg)
    datamodule, module, _ = build(cfg)
    split = datamodule.splits["train"].y.clone()
    order = next(iter(datamodule.train_dataloader()))[1].clone()
    weights = torch.cat([p.detach().flatten() for p in module.net.parameters()])
    drawn = torch.rand(4)
    return cfg, split, order, weights, drawn


def same(a, b) -> bool:
    return a.shape == b.shape and bool(torch.equal(a, b))


def test_by_default_the_sources_follow_the_seed_as_before(tmp_path):
    cfg, *_ = built(tmp_path, "seed=5")
    assert cfg.seeds == {"split": 0, "init": 5, "order": 5, "augment": 5}
    assert (cfg.data.seed, cfg.data.split_seed) == (5, 0)  # what runs always recorded


@pytest.mark.parametrize(
    ("override", "changes"),
    [
        ("seeds.init=2", {"weights"}),
        ("seeds.order=2", {"order"}),
        ("seeds.split=2", {"split", "order"}),  # another split: other samples in each batch
        ("seeds.augment=2", {"drawn"}),
    ],
)
def test_each_source_changes_only_what_it_names(tmp_path, override, changes):
    _, *base = built(tmp_path, "seed=1")
    _, *other = built(tmp_path, "seed=1", override)
    names = ("split", "order", "weights", "drawn")
    differ = {name for name, a, b in zip(names, base, other, strict=True) if not same(a, b)}
    assert differ == changes


def test_a_source_set_to_a_seed_draws_what_that_seed_draws(tmp_path):
    _, _, _, weights_of_1, _ = built(tmp_path, "seed=1")
    _, _, _, weights, _ = built(tmp_path, "seed=2", "seeds.init=1")
    assert same(weights, weights_of_1)


def test_a_bad_source_names_the_key(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gauntlet", "train", "seeds.init=-3", f"paths.log_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "seeds.init=-3: expected a whole number 0.." in result.stderr
