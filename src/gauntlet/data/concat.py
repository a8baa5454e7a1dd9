"""Several in-memory datamodules as one: each split is the concatenation of the parts' splits.

``data=concat`` lists the parts under ``data.datasets`` (each a datamodule node with its own
``_target_``); Hydra builds them, this module sets each one up and checks that their input
specs agree (modality, shape, number and names of classes) before joining them. Token data is
joined on a merged vocabulary: each part's ids are mapped onto it, so two text files with
different vocabularies can be combined. ``fraction`` / ``samples_per_class`` on the concat
itself shrink the joined training split (the parts may also shrink their own).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from gauntlet.data.base import InMemoryDataModule, Split, stratified_subset
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


def check_compatible(specs: Sequence[InputSpec]) -> None:
    """Raise naming both specs when any part's inputs differ from the first part's."""
    first = specs[0]
    for i, spec in enumerate(specs[1:], start=1):
        problems = []
        if spec.modality != first.modality:
            problems.append("modality")
        if tuple(spec.shape) != tuple(first.shape):
            problems.append("shape")
        if spec.num_classes != first.num_classes:
            problems.append("number of classes")
        elif first.class_names and spec.class_names and spec.class_names != first.class_names:
            problems.append("class names")
        mergeable = first.vocab is not None and spec.vocab is not None
        if first.modality == "tokens" and not mergeable and spec.vocab_size != first.vocab_size:
            problems.append("vocabulary size (and no vocabulary to merge)")
        if problems:
            raise GauntletError(
                f"data.datasets: part 0 and part {i} cannot be concatenated, their "
                f"{' and '.join(problems)} differ: part 0 gives {_describe(first)}, "
                f"part {i} gives {_describe(spec)}. Every part needs the same input spec."
            )


def _describe(spec: InputSpec) -> str:
    names = f" {list(spec.class_names)}" if spec.class_names else ""
    return f"{spec.describe()}{names}"


_STREAMED = (
    "data.datasets[{i}]: {name} streams its data, and data=concat joins splits held in "
    "memory. Pack the parts into one set of shards instead: gauntlet data pack --to DIR "
    "data=concat ... (with data.cache=memory on image folders that fit)"
)


class ConcatDataModule(InMemoryDataModule):
    """The parts' train, val and test splits joined; batching, seeds and subsets as any other."""

    def __init__(self, datasets: Sequence[InMemoryDataModule], **kwargs) -> None:
        super().__init__(**kwargs)
        parts = list(datasets or [])
        if len(parts) < 1:
            raise GauntletError("data.datasets: expected a list of at least one datamodule")
        for i, part in enumerate(parts):
            if hasattr(type(part), "stream_split") and not isinstance(part, InMemoryDataModule):
                raise GauntletError(_STREAMED.format(i=i, name=type(part).__name__))
            if not isinstance(part, InMemoryDataModule):
                raise GauntletError(
                    f"data.datasets[{i}]: expected a datamodule node with a _target_ "
                    f"(such as gauntlet.data.mnist1d.MNIST1DDataModule), got {type(part).__name__}"
                )
        self.parts = parts
        self.part_sizes: list[dict[str, int]] = []

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for i, part in enumerate(self.parts):
            part.setup(stage)
            if not part.splits:  # an image folder too large for memory streams its files
                raise GauntletError(_STREAMED.format(i=i, name=type(part).__name__))
        specs = [part.spec for part in self.parts]
        check_compatible(specs)
        vocab, remaps = self._merged_vocab(specs)
        splits: dict[str, Split] = {}
        for name in ("train", "val", "test"):
            xs, ys = [], []
            for part, remap in zip(self.parts, remaps, strict=True):
                split = part.splits[name]
                xs.append(remap[split.x] if remap is not None else split.x)
                ys.append(split.y)
            splits[name] = Split(torch.cat(xs), torch.cat(ys))
        if self.fraction < 1.0 or self.samples_per_class is not None:
            y = splits["train"].y.numpy()
            keep = stratified_subset(y, self.fraction, self.samples_per_class, self.split_seed + 2)
            splits["train"] = splits["train"].take(keep)
        self.splits = splits
        self.part_sizes = [part.sizes() for part in self.parts]
        self._spec = self._joined_spec(specs, vocab)
        log.info(
            "data: %d parts joined, %s; sizes %s (parts %s)",
            len(self.parts),
            self._spec.describe(),
            self.sizes(),
            self.part_sizes,
        )

    @staticmethod
    def _merged_vocab(
        specs: Sequence[InputSpec],
    ) -> tuple[tuple[str, ...] | None, list[torch.Tensor | None]]:
        """One vocabulary for token parts that carry theirs, and each part's id map onto it."""
        if specs[0].modality != "tokens" or any(s.vocab is None for s in specs):
            return None, [None] * len(specs)
        merged: dict[str, int] = {}
        for spec in specs:
            for token in spec.vocab or ():
                merged.setdefault(token, len(merged))
        remaps = [
            torch.tensor([merged[t] for t in spec.vocab or ()], dtype=torch.long) for spec in specs
        ]
        return tuple(merged), remaps

    @staticmethod
    def _joined_spec(specs: Sequence[InputSpec], vocab: tuple[str, ...] | None) -> InputSpec:
        first = specs[0]
        ranges = [s.value_range for s in specs if s.value_range is not None]
        value_range = None
        if ranges:
            value_range = (min(r[0] for r in ranges), max(r[1] for r in ranges))
        if vocab is not None:
            return replace(first, vocab=vocab, vocab_size=len(vocab), value_range=value_range)
        return replace(first, value_range=value_range)

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError("ConcatDataModule joins its parts' splits in setup()")

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        assert self._spec is not None
        return self._spec
