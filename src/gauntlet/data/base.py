"""In-memory datamodules: whole splits as tensors, batched by index on the training device."""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytorch_lightning as pl
import torch
from annotated_types import Interval

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import PositiveInt, Seed, Share

log = logging.getLogger(__name__)

TrainingShare = Annotated[float, Interval(gt=0.0, le=1.0)]  # the share of training data kept


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def take(self, idx: np.ndarray | torch.Tensor) -> Split:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return Split(self.x[idx], self.y[idx])

    def to(self, device: torch.device) -> Split:
        return Split(self.x.to(device), self.y.to(device))


class TensorBatches:
    """Iterates (x, y) batches of an in-memory split: no per-sample ``__getitem__``, no collate.

    The shuffle order depends only on ``seed`` and the epoch number that ``epoch_fn`` returns,
    so a resumed run sees exactly the batches an uninterrupted one would. Under DDP every rank
    draws the same permutation and keeps its own equal-sized share.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        epoch_fn: Callable[[], int] | None = None,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch_fn = epoch_fn or (lambda: 0)
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last

    def _indices(self) -> torch.Tensor:
        n = len(self.split)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch_fn())
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            per_rank = n // self.world_size if self.shuffle else math.ceil(n / self.world_size)
            order = order[self.rank :: self.world_size][:per_rank]
        return order.to(self.split.x.device)

    def __len__(self) -> int:
        n = len(self.split)
        if self.world_size > 1:
            n = n // self.world_size if self.shuffle else math.ceil(n / self.world_size)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self._indices()
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, len(order)), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.split.x[idx], self.split.y[idx]


def cached_arrays(
    path: Path | None, names: list[str], make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays ``names`` from the ``.npz`` cache at ``path``, or ``make()``'s, then cached.

    An unreadable cache is regenerated. The file is written beside its final name and moved
    into place, so parallel jobs never read a half-written one. ``path`` None: no cache.
    """
    if path is not None and path.exists():
        try:
            with np.load(path) as f:
                return {k: f[k] for k in names}
        except (OSError, ValueError, KeyError) as err:
            log.warning("ignoring unreadable cache %s (%s); regenerating", path, err)
    arrays = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    return arrays


def check_holdout(val_fraction: float, test_fraction: float) -> None:
    """The held-out splits must leave training data (each fraction's own range is annotated)."""
    if val_fraction + test_fraction >= 1.0:
        raise GauntletError(
            f"data.val_fraction={val_fraction} + data.test_fraction={test_fraction} leaves no "
            "training data; their sum must be below 1"
        )


def choose_cache(
    cache: str, set_mb: float, limit_mb: int, what: str, other: str
) -> tuple[str, str]:
    """The path a datamodule takes and why: ``memory`` when ``data.cache=auto`` and the
    ``what`` set (decoded or encoded) fits under ``data.cache_limit_mb``, else ``other``
    (stream, arrow); a ``cache`` other than auto is taken as given."""
    if cache != "auto":
        return cache, f"data.cache={cache}"
    fits = set_mb <= limit_mb
    verdict = "fits under" if fits else "exceeds"
    why = f"the {what} set ({set_mb:,.0f} MB) {verdict} data.cache_limit_mb={limit_mb}"
    return ("memory" if fits else other), why


def check_not_empty(arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Every split must hold samples: an empty val or test split gives NaN metrics silently."""
    for name in ("train", "val", "test"):
        n = len(arrays[name][1])
        if n == 0:
            key = {"train": "data.fraction", "val": "data.val_fraction"}.get(
                name, "data.test_fraction"
            )
            sizes = ", ".join(f"{k} {len(v[1])}" for k, v in arrays.items())
            raise GauntletError(
                f"the {name} split is empty ({sizes} samples): raise {key} or use a larger "
                "dataset, so that every split holds at least one sample per class"
            )


def stratified_subset(
    y: np.ndarray, fraction: float = 1.0, per_class: int | None = None, seed: int = 0
) -> np.ndarray:
    """Indices of a seeded, class-stratified subset: a fraction of each class or N per class."""
    rng = np.random.default_rng(seed)
    keep = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        rng.shuffle(members)
        count = per_class if per_class is not None else max(1, round(fraction * len(members)))
        keep.append(members[: min(count, len(members))])
    return np.sort(np.concatenate(keep))


def stratified_split(y: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of indices into (keep, holdout), each class split in the same proportion."""
    rng = np.random.default_rng(seed)
    keep, out = [], []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        rng.shuffle(members)
        n_out = round(holdout * len(members))
        out.append(members[:n_out])
        keep.append(members[n_out:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(out))


class InMemoryDataModule(pl.LightningDataModule):
    """Base for datasets that fit in memory.

    Subclasses implement ``load()`` returning numpy arrays per split and ``make_spec()``.
    Missing validation or test splits are carved from train with a seeded stratified split;
    ``fraction`` / ``samples_per_class`` then shrink the training split only. ``split_seed``
    fixes the splits; ``seed`` (the run's seed) fixes the shuffle order. A ``synthesizer``
    (``synthesize=gmm|vae``, set before ``setup``) then adds generated samples to the cut
    training split, fitted on it alone.
    """

    synthesizer: Callable[..., Any] | None = None

    def __init__(
        self,
        batch_size: PositiveInt = 64,
        eval_batch_size: PositiveInt = 512,
        val_fraction: Share = 0.1,
        test_fraction: Share = 0.2,
        split_seed: Seed = 0,
        fraction: TrainingShare = 1.0,
        samples_per_class: PositiveInt | None = None,
        on_device: bool = True,
        seed: Seed = 0,
    ) -> None:
        super().__init__()
        check_holdout(val_fraction, test_fraction)
        self.seed = seed
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.fraction = fraction
        self.samples_per_class = samples_per_class
        self.on_device = on_device
        self.splits: dict[str, Split] = {}
        self._spec: InputSpec | None = None

    # -- to implement ------------------------------------------------------------------------
    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Arrays per split: 'train' always; 'val' and 'test' when the dataset defines them."""
        raise NotImplementedError

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        raise NotImplementedError

    def to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32)

    # -- shared ------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        arrays = {k: (np.asarray(x), np.asarray(y)) for k, (x, y) in self.load().items()}
        x, y = arrays["train"]
        if "test" not in arrays:
            keep, out = stratified_split(y, self.test_fraction, self.split_seed)
            arrays["test"] = (x[out], y[out])
            x, y = x[keep], y[keep]
        if "val" not in arrays:
            keep, out = stratified_split(y, self.val_fraction, self.split_seed + 1)
            arrays["val"] = (x[out], y[out])
            x, y = x[keep], y[keep]
        if self.fraction < 1.0 or self.samples_per_class is not None:
            keep = stratified_subset(y, self.fraction, self.samples_per_class, self.split_seed + 2)
            x, y = x[keep], y[keep]
        arrays["train"] = (x, y)
        check_not_empty(arrays)
        self.splits = {
            name: Split(self.to_tensor(ax), torch.as_tensor(ay, dtype=torch.long))
            for name, (ax, ay) in arrays.items()
        }
        self._spec = self.make_spec(self.splits)
        self.synthetic_count = 0
        if self.synthesizer is not None:
            real = self.splits["train"]
            made = self.synthesizer(real.x, real.y, self._spec)
            self.splits["train"] = Split(torch.cat([real.x, made.x]), torch.cat([real.y, made.y]))
            self.synthetic_count = len(made.y)
        log.info("data: %s; sizes %s", self._spec.describe(), self.sizes())

    @property
    def spec(self) -> InputSpec:
        if self._spec is None:
            self.setup()
        assert self._spec is not None
        return self._spec

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def sizes(self) -> dict[str, int]:
        """Samples per split; ``train`` counts the real ones, ``synthetic`` the generated."""
        sizes = {name: len(split) for name, split in self.splits.items()}
        if getattr(self, "synthetic_count", 0):
            sizes["train"] -= self.synthetic_count
            sizes["synthetic"] = self.synthetic_count
        return sizes

    def fingerprint(self) -> str:
        """A short hash of the exact training split, recorded so two runs can be compared."""
        h = hashlib.sha256()
        for name in ("train", "val", "test"):
            split = self.splits[name]
            h.update(split.x.detach().cpu().numpy().tobytes())
            h.update(split.y.detach().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    @property
    def test_x(self) -> torch.Tensor:
        return self.splits["test"].x

    @property
    def test_y(self) -> torch.Tensor:
        return self.splits["test"].y

    def _loader(self, name: str, train: bool) -> TensorBatches:
        self.setup()
        split = self.splits[name]
        trainer = self.trainer
        rank, world, epoch_fn = 0, 1, None
        if trainer is not None:
            rank, world = trainer.global_rank, trainer.world_size
            epoch_fn = lambda: trainer.current_epoch  # noqa: E731
            if self.on_device:
                split = split.to(trainer.strategy.root_device)
        return TensorBatches(
            split,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            epoch_fn=epoch_fn,
            rank=rank,
            world_size=world,
            drop_last=False,
        )

    def train_dataloader(self) -> TensorBatches:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorBatches:
        return self._loader("val", train=False)

    def test_dataloader(self) -> TensorBatches:
        return self._loader("test", train=False)
