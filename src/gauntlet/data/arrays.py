"""The user's own arrays: ``data=arrays data.path=FILE.npz`` (or ``.npy`` files, or a directory).

The arrays are ``x_train``/``y_train`` and, optionally, ``x_val``/``y_val`` and
``x_test``/``y_test``; missing splits are carved from train, seeded and stratified, as for every
in-memory dataset. Where they come from:

- ``FILE.npz``: the arrays by those names;
- a directory: ``x_train.npy``, ``y_train.npy``, ... (or one ``.npz`` file in it);
- ``FILE.npy``: the training inputs, with their labels in ``data.labels=LABELS.npy``.

The modality is read from the inputs, or forced by ``data.modality``: (N, C, H, W) floats are
images, (N, T, F) floats sequences, (N, T) integers token ids. Every problem is refused before
training, with a message that names the array and what to change.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
NAMES = tuple(f"{axis}_{split}" for split in SPLITS for axis in ("x", "y"))
# the rank of one sample of each modality, and how a user makes an array of that shape
RANKS = {"image": 3, "sequence": 2, "tokens": 1}
# the largest vocabulary the embedding of token ids may have: its table grows with the top id
MAX_VOCAB = 2**24


class ArraysDataModule(InMemoryDataModule):
    def __init__(
        self,
        path: str,
        labels: str | None = None,
        modality: Literal["image", "sequence", "tokens"] | None = None,
        vocab_size: PositiveInt | None = None,
        pad_id: NonNegativeInt = 0,
        class_names: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(path).expanduser()
        self.labels = Path(labels).expanduser() if labels else None
        self.modality = modality
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.class_names = tuple(class_names) if class_names else None
        self._found_modality: str | None = None
        self._num_classes = 0

    # -- reading -----------------------------------------------------------------------------
    def read(self) -> dict[str, np.ndarray]:
        """The arrays by name (``x_train``, ``y_train``, ...), from wherever ``path`` points."""
        path = self.path
        if not path.exists():
            raise GauntletError(f"data.path={path}: no such file or directory")
        if path.is_dir():
            npz = sorted(path.glob("*.npz"))
            found = {n: path / f"{n}.npy" for n in NAMES if (path / f"{n}.npy").is_file()}
            if not found and len(npz) == 1:
                return self._read_npz(npz[0])
            if not found:
                raise GauntletError(
                    f"data.path={path}: the directory holds no x_train.npy/y_train.npy (nor a "
                    "single .npz file); write the arrays as x_train.npy, y_train.npy and "
                    "optionally x_val.npy, y_val.npy, x_test.npy, y_test.npy"
                )
            return {name: _load_npy(file) for name, file in found.items()}
        if path.suffix == ".npz":
            return self._read_npz(path)
        if path.suffix == ".npy":
            if self.labels is None:
                raise GauntletError(
                    f"data.path={path} holds the inputs only; name their labels with "
                    "data.labels=LABELS.npy (or save both in one .npz as x_train and y_train)"
                )
            return {"x_train": _load_npy(path), "y_train": _load_npy(self.labels)}
        raise GauntletError(
            f"data.path={path}: expected a .npz file, a .npy file (with data.labels) or a "
            "directory of .npy files"
        )

    def _read_npz(self, path: Path) -> dict[str, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
            raise GauntletError(
                f"data.path={path}: not a readable .npz file ({_why(err, path)}); write it "
                "with np.savez(path, x_train=..., y_train=...)"
            ) from None
        unknown = sorted(set(arrays) - set(NAMES))
        if unknown:
            raise GauntletError(
                f"data.path={path}: unknown array {unknown[0]!r}; the file may hold "
                f"{', '.join(NAMES)} (x_train and y_train required)"
            )
        return arrays

    # -- checking ----------------------------------------------------------------------------
    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        arrays = self.read()
        where = f"data.path={self.path}"
        for name in ("x_train", "y_train"):
            if name not in arrays:
                raise GauntletError(
                    f"{where}: no {name} array (found {', '.join(sorted(arrays)) or 'none'}); "
                    "x_train and y_train are required"
                )
        splits = {}
        for split in SPLITS:
            x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
            if x is None and y is None:
                continue
            if x is None or y is None:
                given, other = (f"x_{split}", f"y_{split}")
                if x is None:
                    given, other = other, given
                raise GauntletError(
                    f"{where}: {given} has no {other}; give both, or neither to carve the "
                    f"{split} split from train"
                )
            splits[split] = (x, y)
        modality = self.modality or _read_modality(splits["train"][0], where)
        self._found_modality = modality
        for split, (x, y) in list(splits.items()):
            splits[split] = (self._check_inputs(x, f"x_{split}", modality), _check_labels(y, split))
            if len(y) != len(x):
                raise GauntletError(
                    f"{where}: x_{split} has {len(x)} samples but y_{split} has {len(y)} "
                    "labels; they must be the same length"
                )
            if len(y) == 0:
                raise GauntletError(
                    f"{where}: x_{split}/y_{split} are empty; add samples, or leave the pair "
                    f"out to carve the {split} split from train"
                )
        shape = splits["train"][0].shape[1:]
        for split, (x, _) in splits.items():
            if x.shape[1:] != shape:
                raise GauntletError(
                    f"{where}: a sample of x_{split} has shape {x.shape[1:]}, x_train's "
                    f"{shape}; every split needs the same sample shape"
                )
        self._num_classes = _check_classes(splits, where)
        if modality == "tokens":
            top = max(int(x.max()) for x, _ in splits.values())
            if top >= MAX_VOCAB:
                raise GauntletError(
                    f"{where}: token id {top} would need an embedding row per id up to it "
                    f"(at most {MAX_VOCAB} ids); renumber the ids: "
                    "np.unique(x, return_inverse=True)[1].reshape(x.shape)"
                )
            if self.vocab_size is not None and top >= self.vocab_size:
                raise GauntletError(
                    f"{where}: token id {top} is outside data.vocab_size={self.vocab_size}; "
                    f"raise it to at least {top + 1} or leave it null"
                )
            self.vocab_size = self.vocab_size or top + 1
        return splits

    def _check_inputs(self, x: np.ndarray, name: str, modality: str) -> np.ndarray:
        where = f"data.path={self.path}: {name}"
        if x.ndim == RANKS[modality] and modality != "tokens":
            # one axis short: a sequence of scalars, or a one-channel image
            x = x[..., None] if modality == "sequence" else x[:, None]
        if x.ndim != RANKS[modality] + 1:
            expected = {"image": "(N, C, H, W)", "sequence": "(N, T, F)", "tokens": "(N, T)"}
            raise GauntletError(
                f"{where} has shape {x.shape}; {modality} inputs are {expected[modality]}. "
                "Reshape the array, or set data.modality to what it holds"
            )
        if modality == "tokens":
            if not np.issubdtype(x.dtype, np.integer):
                raise GauntletError(
                    f"{where} is {x.dtype}; token ids must be integers (x.astype(np.int64)), or "
                    "set data.modality=sequence for float features"
                )
            if x.size and x.min() < 0:
                raise GauntletError(f"{where} holds negative token ids; ids are 0..vocab_size-1")
            return x.astype(np.int64)
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise GauntletError(f"{where} is {x.dtype}; inputs must be numbers")
        x = x.astype(np.float32)
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))
            raise GauntletError(
                f"{where} holds {int(bad.sum())} NaN or infinite values (in {len(rows)} samples, "
                f"the first at index {rows[0]}); fill them (np.nan_to_num) or drop those samples"
            )
        return x

    def to_tensor(self, x: np.ndarray) -> torch.Tensor:
        if self._found_modality == "tokens":
            return torch.as_tensor(x, dtype=torch.long)
        return torch.as_tensor(x, dtype=torch.float32)

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        for name, split in splits.items():
            if len(split) == 0:
                raise GauntletError(
                    f"data.path={self.path}: the {name} split carved from train is empty "
                    f"({len(splits['train'])} training samples); give x_{name}/y_{name}, or "
                    f"raise data.{name}_fraction"
                )
        modality = self._found_modality
        assert modality is not None
        x = splits["train"].x
        value_range = None
        if modality != "tokens":
            value_range = (float(x.min()), float(x.max()))
        names = self.class_names
        if names is not None and len(names) != self._num_classes:
            raise GauntletError(
                f"data.class_names has {len(names)} names for {self._num_classes} classes"
            )
        return InputSpec(
            modality=modality,
            shape=tuple(x.shape[1:]),
            num_classes=self._num_classes,
            vocab_size=self.vocab_size if modality == "tokens" else None,
            pad_id=self.pad_id,
            value_range=value_range,
            class_names=names,
        )


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise GauntletError(
            f"{path}: not a readable .npy file ({_why(err, path)}); write it with np.save"
        ) from None


def _why(err: BaseException, path: Path) -> str:
    if path.is_dir():
        return "it is a directory"
    if path.is_file() and path.stat().st_size == 0:
        return "it is empty (0 bytes)"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def _read_modality(x: np.ndarray, where: str) -> str:
    integer = np.issubdtype(x.dtype, np.integer)
    if x.ndim == 2 and integer:
        return "tokens"
    if x.ndim == 4:
        return "image"
    if x.ndim == 3:
        return "sequence"
    raise GauntletError(
        f"{where}: x_train has shape {x.shape} ({x.dtype}), which names no modality: "
        "(N, C, H, W) floats are images, (N, T, F) floats sequences, (N, T) integers token ids. "
        "Reshape it, or set data.modality=image|sequence|tokens"
    )


def _check_labels(y: np.ndarray, split: str) -> np.ndarray:
    name = f"y_{split}"
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise GauntletError(
            f"{name} has shape {y.shape}; labels are one class id per sample, shape (N,) "
            "(one-hot labels: y.argmax(axis=1))"
        )
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise GauntletError(
                f"{name} holds non-integer values; labels are class ids 0..K-1 "
                "(y.astype(np.int64) if they are whole numbers)"
            )
    elif not np.issubdtype(y.dtype, np.integer):
        raise GauntletError(
            f"{name} is {y.dtype}; labels are integer class ids 0..K-1 (strings: "
            "np.unique(y, return_inverse=True)[1])"
        )
    return y.astype(np.int64)


def _check_classes(splits: dict[str, tuple[np.ndarray, np.ndarray]], where: str) -> int:
    """The number of classes K, once every label is known to be in 0..K-1, all seen in train."""
    present = np.unique(splits["train"][1])
    k = int(present.max()) + 1
    if present.min() < 0 or len(present) != k:
        # the first missing ids, found among the first len(present) + 5 numbers: the cost
        # follows the number of labels, never their values (a label of 10**12 costs nothing)
        gaps = np.setdiff1d(np.arange(min(max(k, 0), len(present) + 5)), present)[:5].tolist()
        raise GauntletError(
            f"{where}: y_train holds the labels {present.tolist()[:10]}; labels must be "
            f"0..K-1 with every class present in train"
            + (f" (missing: {gaps})" if gaps and present.min() >= 0 else "")
            + ". Renumber them with np.unique(y, return_inverse=True)[1]"
        )
    for split, (_, y) in splits.items():
        if split != "train" and (y.min() < 0 or y.max() >= k):
            raise GauntletError(
                f"{where}: y_{split} holds label {int(y.min() if y.min() < 0 else y.max())}, "
                f"which y_train does not have (its classes are 0..{k - 1})"
            )
    return k
