"""scikit-learn's handwritten digits: 1,797 8x8 images shipped inside scikit-learn."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec


class DigitsDataModule(InMemoryDataModule):
    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        images, target = load_digits()
        # pixel intensities are 0..16; scale to [0, 1] so epsilons read as fractions of the range
        x = (images / 16.0).astype(np.float32)[:, None, :, :]
        return {"train": (x, target.astype(np.int64))}

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="image",
            shape=(1, 8, 8),
            num_classes=10,
            value_range=(0.0, 1.0),
            class_names=tuple(str(i) for i in range(10)),
        )


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 8, 8) and labels, read from scikit-learn's data file.

    Reading the file (64 pixels and a label per row) directly spares the run the import of
    ``sklearn.datasets``, half a second of start-up; ``sklearn.datasets.load_digits`` reads the
    same file, and is the fallback where the file is not where scikit-learn keeps it.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    data_file = None
    if spec is not None and spec.submodule_search_locations:
        data_file = Path(spec.submodule_search_locations[0]) / "datasets/data/digits.csv.gz"
    if data_file is None or not data_file.is_file():
        from sklearn.datasets import load_digits as from_sklearn

        digits = from_sklearn()
        return digits.images, digits.target
    with gzip.open(data_file, "rt") as f:
        rows = np.loadtxt(f, delimiter=",")
    return rows[:, :-1].reshape(-1, 8, 8), rows[:, -1].astype(np.int64)
