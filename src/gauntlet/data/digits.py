"""scikit-learn's handwritten digits: 1,797 8x8 images shipped inside scikit-learn."""

from __future__ import annotations

import numpy as np

from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec


class DigitsDataModule(InMemoryDataModule):
    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        # pixel intensities are 0..16; scale to [0, 1] so epsilons read as fractions of the range
        x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
        return {"train": (x, digits.target.astype(np.int64))}

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="image",
            shape=(1, 8, 8),
            num_classes=10,
            value_range=(0.0, 1.0),
            class_names=tuple(str(i) for i in range(10)),
        )
