"""MNIST-1D (Greydanus & Kobak): length-40 sequences generated locally, no download."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from gauntlet.data.base import InMemoryDataModule, Split, cached_arrays
from gauntlet.data.spec import InputSpec
from gauntlet.settings import NonNegative, PositiveInt, Seed

log = logging.getLogger(__name__)


class MNIST1DDataModule(InMemoryDataModule):
    """The generator's defaults reproduce the paper's dataset (4,000 train / 1,000 test).

    ``generator_seed``, ``num_samples`` and the noise scales make variants of it, e.g. two
    modules to concatenate. Generated arrays are cached in ``cache_dir`` by their arguments.
    """

    def __init__(
        self,
        generator_seed: Seed = 42,
        num_samples: PositiveInt = 5000,
        iid_noise_scale: NonNegative = 2e-2,
        corr_noise_scale: NonNegative = 0.25,
        cache_dir: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.generator_args = {
            "seed": generator_seed,
            "num_samples": num_samples,
            "iid_noise_scale": iid_noise_scale,
            "corr_noise_scale": corr_noise_scale,
        }
        self.cache_dir = Path(cache_dir) if cache_dir else None

    def _generate(self) -> dict[str, np.ndarray]:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        for key, value in self.generator_args.items():
            setattr(args, key, value)
        data = make_dataset(args)
        return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        cache = None
        if self.cache_dir is not None:
            key = hashlib.sha256(
                json.dumps(self.generator_args, sort_keys=True).encode()
            ).hexdigest()
            cache = self.cache_dir / f"mnist1d-{key[:12]}.npz"
        arrays = cached_arrays(cache, ["x", "y", "x_test", "y_test"], self._generate)
        x = arrays["x"].astype(np.float32)[:, :, None]  # (N, T, 1)
        x_test = arrays["x_test"].astype(np.float32)[:, :, None]
        return {
            "train": (x, arrays["y"].astype(np.int64)),
            "test": (x_test, arrays["y_test"].astype(np.int64)),
        }

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        x = splits["train"].x
        return InputSpec(
            modality="sequence",
            shape=tuple(x.shape[1:]),
            num_classes=10,
            value_range=(float(x.min()), float(x.max())),
            class_names=tuple(str(i) for i in range(10)),
        )
