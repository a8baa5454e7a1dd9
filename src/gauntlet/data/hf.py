"""Text classification from a Hugging Face dataset (the optional ``hf`` extra).

``data.path`` loads a dataset saved with ``save_to_disk``; ``data.name`` (with ``data.config``)
loads one from the Hub, which needs a network or a copy in the user's cache
(``HF_DATASETS_OFFLINE=1`` makes ``datasets`` use only the cache). The dataset's own splits
are used where it has them; the ones it lacks are carved from train, seeded and stratified.
Tokenising is ``TextDataModule``'s: a word vocabulary of the training split, or a tokenizer.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gauntlet.data.text import TextDataModule
from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)

VAL_NAMES = ("validation", "valid", "val", "dev")
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
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
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

    def read_texts(self) -> dict[str, tuple[list[str], np.ndarray]]:
        splits = self.pick_splits(self.open())
        for role, ds in splits.items():
            missing = [c for c in (self.text_column, self.label_column) if c not in ds.column_names]
            if missing:
                raise GauntletError(
                    f"data.text_column/data.label_column: the {role} split has no column "
                    f"{missing[0]!r}; its columns are {ds.column_names}"
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
            texts = ds[self.text_column]
            out[role] = ([str(texts[i]) for i in keep], y[keep])
        log.info(
            "data=hf: %s, splits %s",
            self.path or self.name,
            {role: len(t) for role, (t, _) in out.items()},
        )
        return out
