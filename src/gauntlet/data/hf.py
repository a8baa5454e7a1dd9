"""Text classification from a Hugging Face dataset (the optional ``hf`` extra).

``data.path`` loads a dataset saved with ``save_to_disk``; ``data.name`` (with ``data.config``)
loads one from the Hub, which needs a network or a copy in the user's cache
(``HF_DATASETS_OFFLINE=1`` makes ``datasets`` use only the cache). The dataset's own splits
are used where it has them; the ones it lacks are carved from train, seeded and stratified.
Tokenising is ``TextDataModule``'s: a word vocabulary of the training split, or a tokenizer.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader

from gauntlet.data import epoch_plan
from gauntlet.data.base import (
    Split,
    check_not_empty,
    choose_cache,
    stratified_split,
    stratified_subset,
)
from gauntlet.data.images import BadImage, OnBadFile, decode
from gauntlet.data.resumable import ResumableBatches, SizedBatches, trainer_hooks
from gauntlet.data.spec import InputSpec
from gauntlet.data.text import TextDataModule, make_tokenizer, pad_rows, report_truncation
from gauntlet.errors import GauntletError
from gauntlet.settings import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

VAL_NAMES = ("validation", "valid", "val", "dev")
# auto: memory when the encoded set fits under data.cache_limit_mb, else batches read from the
# memory-mapped Arrow tables
Cache = Literal["auto", "memory", "arrow"]
EXTRA = "pip install 'gauntlet[hf]'"


def import_datasets():
    try:
        import datasets
    except ImportError as err:
        raise GauntletError(
            f"data=hf needs the Hugging Face datasets package, which is not installed: {EXTRA}"
        ) from err
    return datasets


def unlabelled(value) -> bool:
    """None, or the -1 that datasets use for a withheld label (GLUE's test splits)."""
    return value is None or (isinstance(value, int) and value == -1)


class HFDataModule(TextDataModule):
    def __init__(
        self,
        path: str | None = None,
        name: str | None = None,
        config: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        train_split: str = "train",
        val_split: str | None = None,
        test_split: str | None = None,
        image_column: str = "image",
        size: PositiveInt | None = None,
        channels: Literal[1, 3] | None = None,
        on_bad_file: OnBadFile = "refuse",
        cache: Cache = "auto",
        cache_limit_mb: NonNegativeInt = 2048,
        num_proc: PositiveInt = 1,
        num_workers: NonNegativeInt = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.image_column, self.size, self.channels = image_column, size, channels
        self.on_bad_file = on_bad_file
        self.cache, self.cache_limit_mb = cache, cache_limit_mb
        self.num_proc, self.num_workers = num_proc, num_workers
        self.image_mode = False
        self.path_taken: str | None = None
        self.tables: dict[str, Any] = {}
        self.labels: dict[str, np.ndarray] = {}
        self.shape: tuple[int, ...] = ()
        if (path is None) == (name is None):
            raise GauntletError(
                "data=hf needs exactly one of data.path (a folder written by save_to_disk) "
                "and data.name (a Hub dataset, with data.config if it has several)"
            )
        self.path, self.name, self.config = path, name, config
        self.text_column, self.label_column = text_column, label_column
        self.train_split, self.val_split, self.test_split = train_split, val_split, test_split

    # -- loading -----------------------------------------------------------------------------
    def open(self):
        """The dataset as a DatasetDict or a single Dataset."""
        datasets = import_datasets()
        if self.path is not None:
            folder = Path(self.path).expanduser()
            if not folder.exists():
                raise GauntletError(f"data.path: {folder} does not exist")
            try:
                return datasets.load_from_disk(str(folder))
            except FileNotFoundError as err:
                raise GauntletError(
                    f"data.path: {folder} is not a dataset written by save_to_disk ({err})"
                ) from err
        try:
            return datasets.load_dataset(self.name, self.config)
        except (datasets.exceptions.DatasetsError, ConnectionError, OSError, ValueError) as err:
            # no network and no cached copy, an unknown name, or a config that must be chosen
            raise GauntletError(
                f"data.name={self.name!r}"
                + (f" data.config={self.config!r}" if self.config else "")
                + f": could not be loaded from the Hub or the cache ({type(err).__name__}: "
                f"{err}). Offline, only datasets already in the cache load; "
                "data.path loads one saved with save_to_disk."
            ) from err

    def pick_splits(self, loaded) -> dict:
        """train/val/test -> Dataset, from the dataset's own splits where it has them."""
        datasets = import_datasets()
        if isinstance(loaded, datasets.Dataset):
            return {"train": loaded}
        available = list(loaded.keys())
        if self.train_split not in loaded:
            raise GauntletError(
                f"data.train_split={self.train_split!r} is not a split of the dataset; "
                f"it has {available}"
            )
        out = {"train": loaded[self.train_split]}
        for role, chosen, guesses in (
            ("val", self.val_split, VAL_NAMES),
            ("test", self.test_split, ("test",)),
        ):
            if chosen is not None:
                if chosen not in loaded:
                    raise GauntletError(
                        f"data.{role}_split={chosen!r} is not a split of the dataset; "
                        f"it has {available}"
                    )
                out[role] = loaded[chosen]
            else:
                found = next((g for g in guesses if g in loaded), None)
                if found is not None:
                    out[role] = loaded[found]
        return out

    def labelled_splits(self, columns: tuple[str, ...]) -> dict[str, tuple[Any, np.ndarray]]:
        """train/val/test -> (Dataset without its unlabelled rows, label ids); sets ``classes``.

        The Datasets stay memory-mapped Arrow tables; rows are chosen with ``select``."""
        splits = self.pick_splits(self.open())
        for role, ds in splits.items():
            missing = [c for c in (*columns, self.label_column) if c not in ds.column_names]
            if missing:
                raise GauntletError(
                    f"data.{'image' if self.image_mode else 'text'}_column/data.label_column: "
                    f"the {role} split has no column {missing[0]!r}; its columns are "
                    f"{ds.column_names}"
                )
        feature = splits["train"].features[self.label_column]
        names = getattr(feature, "names", None)  # a ClassLabel knows its class names
        raw = {role: ds[self.label_column] for role, ds in splits.items()}
        if names:
            self.classes = list(names)
            labels = {role: np.asarray(v, dtype=np.int64) for role, v in raw.items()}
        else:
            self.classes = sorted({str(v) for v in raw["train"] if not unlabelled(v)})
            index = {c: i for i, c in enumerate(self.classes)}
            labels = {}
            for role, values in raw.items():
                unknown = sorted({str(v) for v in values if not unlabelled(v)} - set(index))
                if unknown:
                    raise GauntletError(
                        f"data.label_column={self.label_column!r}: the {role} split has labels "
                        f"{unknown[:5]} that the train split lacks"
                    )
                ids = [-1 if unlabelled(v) else index[str(v)] for v in values]
                labels[role] = np.array(ids, dtype=np.int64)
        if len(self.classes) < 2:
            raise GauntletError(
                f"data.label_column={self.label_column!r}: the train split has one label only"
            )
        out = {}
        for role, ds in splits.items():
            y = labels[role]
            if role != "train" and (y < 0).all():
                # e.g. GLUE's test splits: labels withheld (-1); carve this split from train
                log.warning("data=hf: the %s split has no labels; carving it from train", role)
                continue
            keep = np.flatnonzero(y >= 0)
            if len(keep) < len(y):
                log.warning("data=hf: dropping %d unlabelled rows of %s", len(y) - len(keep), role)
                ds = ds.select(keep)
            out[role] = (ds, y[keep])
        log.info(
            "data=hf: %s, splits %s",
            self.path or self.name,
            {role: len(y) for role, (_, y) in out.items()},
        )
        return out

    def read_texts(self) -> dict[str, tuple[list[str], np.ndarray]]:
        splits = self.labelled_splits((self.text_column,))
        return {
            role: ([str(t) for t in ds[self.text_column]], y) for role, (ds, y) in splits.items()
        }

    # -- the Arrow path: batches gathered from the memory-mapped tables ----------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits or self.tables:
            return
        train = self.pick_splits(self.open())["train"]
        columns = train.column_names
        self.image_mode = self.image_column in columns and self.text_column not in columns
        parts = self.carve(
            self.labelled_splits((self.image_column if self.image_mode else self.text_column,))
        )
        rows = sum(len(y) for _, y in parts.values())
        if self.image_mode:
            self.tables = {role: self._image_table(ds) for role, (ds, _) in parts.items()}
            self.labels = {role: y for role, (_, y) in parts.items()}
            self.shape = self._probe()
            sample_bytes = int(np.prod(self.shape)) * 4
        else:
            sample_bytes = self.max_length * 8
        self.path_taken, why = choose_cache(
            self.cache,
            rows * sample_bytes / 2**20,
            self.cache_limit_mb,
            "decoded" if self.image_mode else "encoded",
            "arrow",
        )
        log.info("data=hf: %d rows; path %s: %s", rows, self.path_taken, why)
        if self.path_taken == "memory" and not self.image_mode:
            self.tables = {}
            super().setup(stage)  # the texts tokenized into one tensor per split
            return
        if self.synthesizer is not None and self.path_taken == "arrow":
            raise GauntletError(
                "synthesize= fits a generator on the whole training split in memory; use "
                "data.cache=memory, or drop synthesize"
            )
        if not self.image_mode:
            self.tokenizer = make_tokenizer(self.tokenizer_name, self.max_vocab, self.min_freq)
            self.tokenizer.fit(_texts(parts["train"][0], self.text_column))
            self.tables = {
                role: tokenize_split(
                    ds,
                    self.tokenizer,
                    self.text_column,
                    self.max_length,
                    self.num_proc,
                    self.padding_side,
                )
                for role, (ds, _) in parts.items()
            }
            lengths = np.concatenate([table["length"] for table in self.tables.values()])
            self.data_metrics = report_truncation(lengths, self.max_length)
            self.labels = {role: y for role, (_, y) in parts.items()}
        self._spec = self.make_spec({})
        if self.path_taken == "memory":  # decoded images, held as tensors from here on
            self.splits = {
                role: Split(*self._gather(role, np.arange(len(self.labels[role]))))
                for role in self.tables
            }
            self.tables = {}
        log.info("data: %s; sizes %s", self._spec.describe(), self.sizes())

    def carve(self, parts: dict[str, tuple[Any, np.ndarray]]) -> dict[str, tuple[Any, np.ndarray]]:
        """Missing val/test from train, then the fraction, with the seeds of every datamodule."""
        ds, y = parts["train"]
        for role, share, seed in (
            ("test", self.test_fraction, self.split_seed),
            ("val", self.val_fraction, self.split_seed + 1),
        ):
            if role not in parts:
                keep, out = stratified_split(y, share, seed)
                parts[role] = (ds.select(out), y[out])
                ds, y = ds.select(keep), y[keep]
        if self.fraction < 1.0 or self.samples_per_class is not None:
            keep = stratified_subset(y, self.fraction, self.samples_per_class, self.split_seed + 2)
            ds, y = ds.select(keep), y[keep]
        parts["train"] = (ds, y)
        check_not_empty({role: (None, y) for role, (_, y) in parts.items()})
        return parts

    def _image_table(self, ds: Any) -> Any:
        """The image column as encoded bytes (decoded here, as image_folder decodes files)."""
        datasets = import_datasets()
        ds = ds.select_columns([self.image_column])
        return ds.cast_column(self.image_column, datasets.Image(decode=False))

    def _probe(self) -> tuple[int, ...]:
        table = self.tables["train"]
        for i in range(len(table)):
            try:
                cell = table[i][self.image_column]
                return decode_cell(cell, self.size, self.channels, f"data=hf train row {i}").shape
            except BadImage:
                continue
        raise GauntletError(f"data.path={self.path}: no training image could be read")

    def rows(self, role: str) -> ArrowRows:
        return ArrowRows(
            role,
            self.tables[role],
            self.labels[role],
            self.image_column if self.image_mode else None,
            self.size,
            self.channels,
            self.shape,
            self.on_bad_file,
        )

    def _gather(self, role: str, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rows(role).gather(rows)

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        if not self.image_mode:
            return super().make_spec(splits)
        return InputSpec(
            modality="image",
            shape=tuple(self.shape),
            num_classes=len(self.classes),
            value_range=(0.0, 1.0),
            class_names=tuple(self.classes),
        )

    def sizes(self) -> dict[str, int]:
        if not self.tables:
            return super().sizes()
        return {role: len(y) for role, y in self.labels.items()}

    def fingerprint(self) -> str:
        if not self.tables:
            return super().fingerprint()
        h = hashlib.sha256()
        for role in ("train", "val", "test"):
            # map's cache files are named for what made them: the data and the tokenizer
            files = [f["filename"] for f in self.tables[role].cache_files]
            h.update(f"{role}|{len(self.tables[role])}|{files}".encode())
            h.update(self.labels[role].tobytes())
        return h.hexdigest()[:16]

    def stream_split(self, name: str, chunk: int):
        """A split in row order, ``chunk`` rows at a time, as numpy arrays (``data pack``)."""
        n = len(self.labels[name])
        for start in range(0, n, chunk):
            x, y = self._gather(name, np.arange(start, min(n, start + chunk)))
            yield x.numpy(), y.numpy()

    def _test_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not hasattr(self, "_sample"):
            n = len(self.labels["test"])
            pick = np.sort(np.random.default_rng(self.split_seed).permutation(n)[:1024])
            self._sample = self._gather("test", pick)
        return self._sample

    @property
    def test_x(self) -> torch.Tensor:
        return self._test_sample()[0] if self.tables else super().test_x

    @property
    def test_y(self) -> torch.Tensor:
        return self._test_sample()[1] if self.tables else super().test_y

    def _loader(self, name: str, train: bool):
        self.setup()
        if not self.tables:
            return super()._loader(name, train)
        n = len(self.labels[name])
        epoch, progress, rank, world = trainer_hooks(self.trainer)
        size = self.batch_size if train else self.eval_batch_size

        def batches(e: int) -> list[np.ndarray]:
            return epoch_plan.sample_batches(n, size, self.seed, e, rank, world, train)

        def make(e: int, skip: int) -> DataLoader:
            return DataLoader(
                self.rows(name),
                batch_sampler=[b.tolist() for b in batches(e)[skip:]],
                num_workers=self.num_workers,
                collate_fn=_as_is,
                pin_memory=torch.cuda.is_available(),
            )

        if not train:
            return SizedBatches(lambda: make(0, 0), len(batches(0)))
        layout = f"{self.fingerprint()}:{n}"
        return ResumableBatches(
            make, lambda e: len(batches(e)), epoch, progress, self.seed, layout, "data=hf"
        )


def tokenize_split(
    ds: Any,
    tokenizer: Any,
    text_column: str,
    max_length: int,
    num_proc: int,
    padding_side: str = "right",
) -> Any:
    """A split's texts as fixed-length token ids (column ``input_ids``, cut and padded on
    ``padding_side`` as the in-memory path does) and each text's whole length (column
    ``length``, for the truncation count), by ``Dataset.map``: batched, ``num_proc``
    processes, cached by datasets beside the data (a second run with the same tokenizer reads
    the cache instead of tokenizing again)."""
    pad = tokenizer.pad_id

    def encode(batch: dict[str, list]) -> dict[str, list]:
        rows = tokenizer.encode([str(t) for t in batch[text_column]])
        ids = pad_rows(rows, max_length, pad, padding_side)
        return {"input_ids": ids.tolist(), "length": [len(row) for row in rows]}

    encoded = ds.map(
        encode,
        batched=True,
        batch_size=1000,
        num_proc=num_proc if num_proc > 1 else None,
        remove_columns=ds.column_names,
        desc="tokenizing",
    )
    return encoded.with_format("numpy")


def _texts(ds: Any, column: str):
    """The texts of a split, read a thousand rows at a time (for fitting a word vocabulary)."""
    for batch in ds.select_columns([column]).iter(batch_size=1000):
        yield from (str(t) for t in batch[column])


def _as_is(batch: Any) -> Any:
    return batch


def decode_cell(cell: dict, size: int | None, channels: int | None, where: str) -> np.ndarray:
    """An image cell of a Hugging Face dataset ({"bytes", "path"}), decoded as image_folder
    decodes a file."""
    return decode(cell.get("bytes") or cell.get("path"), size, channels, where)


class ArrowRows(torch.utils.data.Dataset):
    """One split's rows, gathered a batch at a time (the DataLoader calls ``__getitems__``):
    token ids from the tokenized table, or images decoded from their bytes. Holds only the
    memory-mapped table and the labels, so it travels to DataLoader workers cheaply."""

    def __init__(
        self,
        role: str,
        table: Any,
        labels: np.ndarray,
        image_column: str | None,
        size: int | None,
        channels: int | None,
        shape: tuple[int, ...],
        on_bad_file: str,
    ) -> None:
        self.role, self.table, self.labels = role, table, labels
        self.image_column, self.size, self.channels = image_column, size, channels
        self.shape, self.on_bad_file = shape, on_bad_file

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gather(np.asarray(rows, dtype=np.int64))

    def gather(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = rows.tolist()
        if self.image_column is None:
            x = torch.as_tensor(np.asarray(self.table[idx]["input_ids"], dtype=np.int64))
            return x, torch.as_tensor(self.labels[rows])
        xs, ys = [], []
        for i, cell in zip(idx, self.table[idx][self.image_column], strict=True):
            where = f"data=hf {self.role} row {i}"
            try:
                x = decode_cell(cell, self.size, self.channels, where)
            except BadImage as err:
                if self.on_bad_file == "refuse":
                    raise GauntletError(f"{err}; data.on_bad_file=skip leaves it out") from err
                log.warning("skipping %s", err)
                continue
            if x.shape != self.shape:
                raise GauntletError(
                    f"{where}: the image decodes to {x.shape}, the first one to {self.shape}; "
                    "set data.size=N and data.channels=1|3 so that every image agrees"
                )
            xs.append(x)
            ys.append(self.labels[i])
        if not xs:
            return torch.zeros((0, *self.shape)), torch.zeros(0, dtype=torch.long)
        return torch.from_numpy(np.stack(xs)), torch.as_tensor(np.asarray(ys, dtype=np.int64))
