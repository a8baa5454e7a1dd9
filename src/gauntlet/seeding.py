"""Where a run's randomness comes from: the sources Bouthillier et al. (2021, "Accounting for
variance in machine learning benchmarks") separate, each its own seed under ``seeds.``.

- ``seeds.split``: the train/val/test split and the training subset (``data.split_seed``
  follows it; 0 unless set, as before the sources were split);
- ``seeds.order``: the order of training batches (``data.seed`` follows it; with exact resume a
  pure function of it and the epoch);
- ``seeds.init``: the network's initial weights;
- ``seeds.augment``: what is drawn during training: augmentation, mixup, dropout.

``init``, ``order`` and ``augment`` follow ``seed``, so a run that sets none of them is the run
it always was: ``seed_everything(seed)``, then the data, the network and training on that one
stream. A source set to another value changes that source only: the network is still built once
on the run's stream (so the draws after it are those of every run of that seed), then its
weights are replaced by a second build on a stream seeded with ``seeds.init``; and the stream is
reseeded with ``seeds.augment`` before training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

SOURCES = ("split", "init", "order", "augment")

Net = TypeVar("Net")


def source(cfg: Mapping[str, Any], name: str) -> int:
    """A source's seed; a config from before the sources were split (no ``seeds``) gives the
    value it meant then."""
    seeds = cfg.get("seeds") or {}
    if name in seeds and seeds[name] is not None:
        return int(seeds[name])
    return 0 if name == "split" else int(cfg.get("seed") or 0)


def build_network(cfg: Mapping[str, Any], build: Callable[[], Net]) -> Net:
    """The network ``build`` makes, its initial weights from ``seeds.init``."""
    import torch

    net = build()
    init = source(cfg, "init")
    if init != int(cfg.get("seed") or 0):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init)
            fresh = build()
        net.load_state_dict(fresh.state_dict())  # type: ignore[attr-defined]
    return net


def seed_training(cfg: Mapping[str, Any]) -> None:
    """Reseed what training draws from when ``seeds.augment`` is not the run's seed."""
    import torch

    augment = source(cfg, "augment")
    if augment != int(cfg.get("seed") or 0):
        torch.manual_seed(augment)
