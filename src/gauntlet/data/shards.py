"""Training on shards: ``data=shards data.path=DIR`` (written by ``gauntlet data pack``).

Nothing of the data is held but the shards being read: each DataLoader worker reads one Arrow
shard at a time (through fsspec, so ``DIR`` may be ``s3://...`` with ``data.storage_options``),
gathers its batches from it, and lets it go. Which shards a rank and a worker read, and in
which order their rows come, is a pure function of (seed, epoch) and the shard layout
(:mod:`gauntlet.data.epoch_plan`); under DDP every rank reads its own shards. The training
loader's state goes into each checkpoint, so a run killed mid-epoch resumes at the next batch
(:mod:`gauntlet.data.resumable`); a checkpoint from another layout (packed again with another
size) is refused.

Validation and test read their whole split in file order on every rank. ``explain``,
``attack`` and ``eval``'s ``test_x``/``test_y`` are a seeded sample of ``data.eval_sample``
test samples, recorded in the sizes as ``test_sample``.

Levers that need the whole training split in memory are refused with the way to get the same:
``data.fraction``/``samples_per_class`` and ``synthesize=`` are applied when packing (the
in-memory datamodule cuts and synthesises, then the shards hold the result); ``data=concat``
joins in-memory parts (pack the concat instead); the paired bench reads in-memory splits.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from gauntlet.data import epoch_plan
from gauntlet.data.base import TrainingShare, check_holdout
from gauntlet.data.pack import SPLITS, filesystem, read_record, spec_from_record
from gauntlet.data.resumable import ResumableBatches, SizedBatches, trainer_hooks
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import NonNegativeInt, PositiveInt, Seed, Share

log = logging.getLogger(__name__)


class ShardFiles:
    """One split's shard files, read whole one at a time as (x, y) numpy arrays."""

    def __init__(self, path: str, storage_options: dict | None, record: dict, split: str) -> None:
        self.path, self.storage_options = path, storage_options
        info = record["splits"][split]
        self.files = [s["file"] for s in info["shards"]]
        self.rows = [int(s["rows"]) for s in info["shards"]]
        spec = record["spec"]
        self.dtype = np.dtype(spec["dtype"])
        self.shape = tuple(spec["shape"])
        self.width = int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return sum(self.rows)

    def read(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        import pyarrow as pa

        fs, root = filesystem(self.path, self.storage_options)
        name = f"{root.rstrip('/')}/{self.files[shard]}"
        try:
            if "file" in fs.protocol:
                # memory-mapped: the arrays below are views of the file's pages, which the
                # kernel may drop at any time; nothing is copied into the process
                table = pa.ipc.open_stream(pa.memory_map(name)).read_all()
            else:
                with fs.open(name, "rb") as f:
                    table = pa.ipc.open_stream(f).read_all()
        except (OSError, pa.ArrowInvalid) as err:
            raise GauntletError(f"data.path: shard {name} is not readable ({err})") from err
        chunks = table.column("x")
        column = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
        if len(column) != self.rows[shard]:
            raise GauntletError(
                f"data.path: shard {name} holds {len(column)} samples, pack.json says "
                f"{self.rows[shard]}; the pack was changed after it was written, pack again"
            )
        raw = np.frombuffer(
            column.buffers()[1],
            dtype=np.uint8,
            count=len(column) * self.width,
            offset=column.offset * self.width,
        )
        x = raw.view(self.dtype).reshape(len(column), *self.shape)
        y = table.column("y").to_numpy().astype(np.int64)
        return x, y


class ShardStream(IterableDataset):
    """The batches one rank reads in one epoch, split among the DataLoader's workers by shard.

    Each worker works out the epoch's plan itself (it is a pure function), keeps the batches
    that are its own and not skipped, and reads only the shards those batches need, one at a
    time.
    """

    def __init__(
        self,
        files: ShardFiles,
        batch_size: int,
        seed: int,
        epoch: int,
        rank: int,
        world: int,
        workers: int,
        shuffle: bool,
        skip: int,
    ) -> None:
        self.files, self.batch_size = files, batch_size
        self.seed, self.epoch, self.rank, self.world = seed, epoch, rank, world
        self.workers, self.shuffle, self.skip = workers, shuffle, skip

    def plan(self) -> list[tuple[int, int]]:
        return epoch_plan.rank_batches(
            self.files.rows,
            self.batch_size,
            self.seed,
            self.epoch,
            self.rank,
            self.world,
            self.workers,
            self.shuffle,
        )[self.skip :]

    def __iter__(self):
        info = get_worker_info()
        plan = self.plan()
        # the DataLoader asks its worker 0 first; after a skip the plan's next batch may be
        # another worker's, so the workers' roles turn by that much (the round robin goes on
        # from there in the same order)
        turn = plan[0][0] if plan else 0
        worker = ((info.id if info is not None else 0) + turn) % max(self.workers, 1)
        wanted = {n for w, n in plan if w == worker}
        if not wanted:
            return
        rows = self.files.rows
        shards = epoch_plan.worker_shards(
            rows, self.seed, self.epoch, self.rank, self.world, self.workers, self.shuffle
        )[worker]
        batches = epoch_plan.worker_batches(
            rows, shards, self.batch_size, self.seed, self.epoch, self.shuffle
        )
        held: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for number, batch in enumerate(batches):
            if number not in wanted:
                continue
            needed = list(dict.fromkeys(batch[:, 0].tolist()))
            for shard in [s for s in held if s not in needed]:
                del held[shard]  # let the last shard go before the next is read
            for shard in needed:
                if shard not in held:
                    held[shard] = self.files.read(shard)
            xs, ys = [], []
            for shard in needed:
                rows_here = batch[batch[:, 0] == shard, 1]
                xs.append(held[shard][0][rows_here])
                ys.append(held[shard][1][rows_here])
            x = np.concatenate(xs) if len(xs) > 1 else xs[0]
            y = np.concatenate(ys) if len(ys) > 1 else ys[0]
            yield torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))


class ShardsDataModule(pl.LightningDataModule):
    synthesizer: Any = None

    def __init__(
        self,
        path: str,
        batch_size: PositiveInt = 64,
        eval_batch_size: PositiveInt = 512,
        val_fraction: Share = 0.1,
        test_fraction: Share = 0.2,
        split_seed: Seed = 0,
        fraction: TrainingShare = 1.0,
        samples_per_class: PositiveInt | None = None,
        on_device: bool = True,
        seed: Seed = 0,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = True,
        eval_sample: PositiveInt = 1024,
        storage_options: dict | None = None,
    ) -> None:
        super().__init__()
        check_holdout(val_fraction, test_fraction)
        for key, value, alternative in (
            ("data.fraction", fraction != 1.0, f"data.fraction={fraction}"),
            (
                "data.samples_per_class",
                samples_per_class is not None,
                f"data.samples_per_class={samples_per_class}",
            ),
        ):
            if value:
                raise GauntletError(
                    f"{key} on data=shards: the shards hold the training split as it was "
                    "packed, and cutting it needs the whole split in memory. Pack the cut "
                    f"instead: gauntlet data pack --to DIR {alternative} OVERRIDES... (the "
                    "in-memory datamodule cuts it, seeded and stratified), then train on DIR"
                )
        self.path, self.storage_options = str(path), storage_options
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.split_seed, self.seed = split_seed, seed
        self.num_workers, self.pin_memory, self.eval_sample = num_workers, pin_memory, eval_sample
        self.record: dict[str, Any] = {}
        self.files: dict[str, ShardFiles] = {}
        self._spec: InputSpec | None = None
        self._sample: tuple[torch.Tensor, torch.Tensor] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.record:
            return
        if self.synthesizer is not None:
            raise GauntletError(
                "synthesize= on data=shards: the generator is fitted on the whole training "
                "split in memory. Pack with it instead: gauntlet data pack --to DIR "
                "synthesize=gmm OVERRIDES... writes the synthetic samples into the shards"
            )
        self.record = read_record(self.path, self.storage_options)
        self.files = {
            s: ShardFiles(self.path, self.storage_options, self.record, s) for s in SPLITS
        }
        self._spec = spec_from_record(self.record["spec"])
        shards = {s: len(f.files) for s, f in self.files.items()}
        log.info(
            "data=shards: %s, %s; samples %s in %s shards",
            self.path,
            self._spec.describe(),
            self.record["sizes"],
            shards,
        )

    @property
    def spec(self) -> InputSpec:
        if self._spec is None:
            self.setup()
        assert self._spec is not None
        return self._spec

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def splits(self) -> dict:
        raise GauntletError(
            "data=shards holds no split in memory, and this needs one (the paired bench, "
            "data=concat). Use the in-memory dataset the shards were packed from: its "
            f"overrides are in {self.path}/pack.json under source"
        )

    def sizes(self) -> dict[str, int]:
        self.setup()
        sizes = dict(self.record["sizes"])
        # what explain, attack and robust evaluation read: a seeded sample of the test split
        sizes["test_sample"] = min(self.eval_sample, sizes["test"])
        return sizes

    def fingerprint(self) -> str:
        self.setup()
        return str(self.record["fingerprint"])

    def layout(self) -> str:
        """The data and its shard layout: what a resume must find unchanged."""
        rows = self.files["train"].rows
        return f"{self.record['fingerprint']}:{len(rows)}x{rows[0] if rows else 0}"

    # -- the class map in the checkpoint -----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        self.setup()
        return {"class_map": dict(self.record.get("class_map") or {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.setup()
        saved, now = state.get("class_map") or {}, self.record.get("class_map") or {}
        if saved and saved != now:
            raise GauntletError(
                f"data.path={self.path}: its class map {now} is not the checkpoint's {saved}; "
                "the labels would be permuted. Pack the data with the checkpoint's classes"
            )

    # -- loaders -----------------------------------------------------------------------------
    def _workers(self) -> int:
        return self.num_workers

    def _dataloader(self, stream: ShardStream) -> DataLoader:
        return DataLoader(
            stream,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
        )

    def train_dataloader(self) -> ResumableBatches:
        self.setup()
        files = self.files["train"]
        epoch, progress, rank, world = trainer_hooks(self.trainer)
        if world > 1 and len(files.files) < world:
            raise GauntletError(
                f"data.path={self.path}: {len(files.files)} training shard(s) for {world} "
                "processes; every rank reads its own shards. Pack with a smaller --shard-size"
            )
        workers, size = self.num_workers, self.batch_size

        def make(e: int, skip: int) -> DataLoader:
            return self._dataloader(
                ShardStream(files, size, self.seed, e, rank, world, workers, True, skip)
            )

        def length(e: int) -> int:
            return epoch_plan.rank_length(
                files.rows, size, self.seed, e, world, workers, True, rank
            )

        return ResumableBatches(
            make, length, epoch, progress, self.seed, self.layout(), "data=shards"
        )

    def _eval_loader(self, split: str) -> SizedBatches:
        self.setup()
        files, size, workers = self.files[split], self.eval_batch_size, self.num_workers
        stream = ShardStream(files, size, 0, 0, 0, 1, workers, False, 0)
        return SizedBatches(lambda: self._dataloader(stream), len(stream.plan()))

    def val_dataloader(self) -> SizedBatches:
        return self._eval_loader("val")

    def test_dataloader(self) -> SizedBatches:
        return self._eval_loader("test")

    # -- samples held in memory: explain, attack, robust evaluation --------------------------
    def _test_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._sample is None:
            self.setup()
            files = self.files["test"]
            n = len(files)
            pick = np.sort(
                np.random.default_rng(self.split_seed).permutation(n)[: self.eval_sample]
            )
            starts = np.cumsum([0, *files.rows])
            xs, ys = [], []
            for shard in range(len(files.rows)):
                here = pick[(pick >= starts[shard]) & (pick < starts[shard + 1])] - starts[shard]
                if len(here):
                    x, y = files.read(shard)
                    xs.append(x[here].copy())
                    ys.append(y[here].astype(np.int64))
            self._sample = (
                torch.from_numpy(np.concatenate(xs)),
                torch.from_numpy(np.concatenate(ys)),
            )
            log.info("data=shards: a seeded sample of %d of %d test samples", len(pick), n)
        return self._sample

    @property
    def test_x(self) -> torch.Tensor:
        return self._test_sample()[0]

    @property
    def test_y(self) -> torch.Tensor:
        return self._test_sample()[1]

    def stream_split(self, name: str, chunk: int):
        """A split's samples in file order, a shard at a time (``data pack`` of shards)."""
        self.setup()
        files = self.files[name]
        for shard in range(len(files.files)):
            x, y = files.read(shard)
            for start in range(0, len(y), chunk):
                yield x[start : start + chunk], y[start : start + chunk].astype(np.int64)
