"""MNIST, Fashion-MNIST and CIFAR-10 read from the files they are distributed as, with numpy.

- MNIST and Fashion-MNIST: the IDX files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``
  and their ``t10k-`` twins, each optionally gzipped, in ``root`` or in torchvision's layout
  ``root/MNIST/raw`` (``root/FashionMNIST/raw``).
- CIFAR-10: the python batches ``data_batch_1..5`` and ``test_batch`` in
  ``root/cifar-10-batches-py``.

Every file is checked (magic number, declared sizes against the bytes present, images against
labels) before it is used. torchvision is needed only to fetch missing files, when it imports
and ``download`` is true.
"""

from __future__ import annotations

import gzip
import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from gauntlet.compat.numpy import ARRAY_PICKLE_CLASSES
from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VisionDataset:
    format: str  # "idx" or "cifar"
    torchvision_name: str
    source: str
    class_names: tuple[str, ...]


DATASETS = {
    "mnist": VisionDataset(
        "idx", "MNIST", "https://yann.lecun.com/exdb/mnist/", tuple(str(d) for d in range(10))
    ),
    "fashion_mnist": VisionDataset(
        "idx",
        "FashionMNIST",
        "https://github.com/zalandoresearch/fashion-mnist",
        (
            *("t-shirt", "trouser", "pullover", "dress", "coat"),
            *("sandal", "shirt", "sneaker", "bag", "ankle boot"),
        ),
    ),
    "cifar10": VisionDataset(
        "cifar",
        "CIFAR10",
        "https://www.cs.toronto.edu/~kriz/cifar.html (the 'python version')",
        (
            *("airplane", "automobile", "bird", "cat", "deer"),
            *("dog", "frog", "horse", "ship", "truck"),
        ),
    ),
}

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

# IDX: two zero bytes, a type code, the number of dimensions, then one big-endian int32 each
IDX_UBYTE = 0x08
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # labels, images


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions, checked against its header."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise GauntletError(f"{path}: cannot be read as {opener.__module__} data ({err})") from err
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GauntletError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != IDX_MAGIC[ndim]:
        kind = "labels" if ndim == 1 else "images"
        raise GauntletError(
            f"{path}: magic number 0x{magic:08x} is not that of IDX {kind} "
            f"(0x{IDX_MAGIC[ndim]:08x}); is this the right file?"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise GauntletError(
            f"{path}: the header declares {' x '.join(map(str, dims))} = {expected:,} bytes of "
            f"data but the file holds {len(raw) - header:,}; it is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


class _ArrayUnpickler(pickle.Unpickler):
    """Loads plain containers and numpy arrays only: a CIFAR batch needs nothing else, and a
    pickle that asks for any other class is refused rather than run."""

    ALLOWED = {
        *ARRAY_PICKLE_CLASSES,
        ("_codecs", "encode"),  # how a protocol-2 pickle made by Python 3 stores bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,)."""
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise GauntletError(
            f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise GauntletError(f"{path}: a CIFAR-10 batch holds b'data' and b'labels'; found {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise GauntletError(
            f"{path}: b'data' should be uint8 rows of 3,072 pixels; got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),):
        raise GauntletError(
            f"{path}: {len(data)} images but {labels.size} labels; the batch is corrupt"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


class VisionDataModule(InMemoryDataModule):
    """Holds the train and test files' images as float tensors in [0, 1], (N, C, H, W).

    Validation is carved from train (``val_fraction``, seeded and stratified); the test split is
    the dataset's own.
    """

    def __init__(
        self,
        dataset: Literal["mnist", "fashion_mnist", "cifar10"],  # the keys of DATASETS
        root: str,
        download: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.info = DATASETS[dataset]
        self.root = Path(root).expanduser().resolve()
        self.download = download

    # -- finding the files -------------------------------------------------------------------
    def search_dirs(self) -> list[Path]:
        if self.info.format == "cifar":
            return [self.root / CIFAR_DIR]
        return [self.root, self.root / self.info.torchvision_name / "raw"]

    def _find(self, name: str) -> Path | None:
        for folder in self.search_dirs():
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    return candidate
        return None

    def _needed(self) -> list[str]:
        if self.info.format == "cifar":
            return [n for names in CIFAR_FILES.values() for n in names]
        return [n for names in IDX_FILES.values() for n in names]

    def _missing(self) -> list[str]:
        return [name for name in self._needed() if self._find(name) is None]

    def _fetch_with_torchvision(self) -> None:
        try:
            import torchvision.datasets as tvd
        except Exception as err:  # ImportError, or a torchvision built for another torch
            log.info("torchvision does not import (%s); not downloading", err)
            return
        cls = getattr(tvd, self.info.torchvision_name)
        for train in (True, False):
            try:
                cls(str(self.root), train=train, download=True)
            except (RuntimeError, OSError) as err:  # torchvision's download errors; URLError
                raise GauntletError(
                    f"data={self.dataset}: torchvision could not download it into "
                    f"{self.root} ({err}); fetch the files from {self.info.source}"
                ) from err

    def locate(self) -> dict[str, Path]:
        missing = self._missing()
        if missing and self.download:
            self._fetch_with_torchvision()
            missing = self._missing()
        if missing:
            searched = " and ".join(str(d) for d in self.search_dirs())
            how = (
                "data.download=true fetches it where torchvision imports"
                if not self.download
                else "torchvision is not importable here, so it could not be downloaded"
            )
            raise GauntletError(
                f"data={self.dataset}: file {missing[0]} (or {missing[0]}.gz) not found in "
                f"{searched}"
                + (f" ({len(missing) - 1} more missing)" if len(missing) > 1 else "")
                + f". Get the dataset from {self.info.source} and place its files there "
                f"(or set data.root); {how}."
            )
        return {name: self._find(name) for name in self._needed()}  # type: ignore[misc]

    # -- reading -----------------------------------------------------------------------------
    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        files = self.locate()
        out = {}
        for split in ("train", "test"):
            if self.info.format == "idx":
                img_name, lbl_name = IDX_FILES[split]
                images = read_idx(files[img_name], 3)[:, None]  # (N, 1, H, W)
                labels = read_idx(files[lbl_name], 1)
                if len(images) != len(labels):
                    raise GauntletError(
                        f"data={self.dataset}: {files[img_name]} holds {len(images):,} images "
                        f"but {files[lbl_name]} holds {len(labels):,} labels"
                    )
            else:
                parts = [read_cifar_batch(files[name]) for name in CIFAR_FILES[split]]
                images = np.concatenate([p[0] for p in parts])
                labels = np.concatenate([p[1] for p in parts])
            if labels.size and labels.max() >= len(self.info.class_names):
                raise GauntletError(
                    f"data={self.dataset}: label {int(labels.max())} in the {split} files; "
                    f"{self.dataset} has classes 0..{len(self.info.class_names) - 1}"
                )
            out[split] = ((images.astype(np.float32) / 255.0), labels.astype(np.int64))
        if out["train"][0].shape[1:] != out["test"][0].shape[1:]:
            raise GauntletError(
                f"data={self.dataset}: train images are {out['train'][0].shape[1:]} but test "
                f"images are {out['test'][0].shape[1:]}; the files come from different datasets"
            )
        return out

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="image",
            shape=tuple(splits["train"].x.shape[1:]),
            num_classes=len(self.info.class_names),
            value_range=(0.0, 1.0),
            class_names=self.info.class_names,
        )
