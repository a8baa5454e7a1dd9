"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision (the optional ``vision`` extra)."""

from __future__ import annotations

import numpy as np

from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError

DATASETS = {
    "mnist": ("MNIST", 10),
    "fashion_mnist": ("FashionMNIST", 10),
    "cifar10": ("CIFAR10", 10),
}


class VisionDataModule(InMemoryDataModule):
    """Downloads once into ``root`` (needs a network the first time), then holds tensors."""

    def __init__(self, dataset: str, root: str, download: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if dataset not in DATASETS:
            raise GauntletError(
                f"data.dataset={dataset!r} is not a torchvision dataset gauntlet knows; "
                f"choose one of {sorted(DATASETS)}"
            )
        self.dataset = dataset
        self.root = root
        self.download = download

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        try:
            import torchvision.datasets as tvd
        except Exception as err:  # ImportError, or a torchvision built for another torch
            raise GauntletError(
                f"data={self.dataset} needs torchvision, which could not be imported ({err}). "
                "Install the extra: pip install 'gauntlet[vision]' (with a matching torch build)."
            ) from err
        cls = getattr(tvd, DATASETS[self.dataset][0])
        out = {}
        for name, train in (("train", True), ("test", False)):
            try:
                ds = cls(self.root, train=train, download=self.download)
            except RuntimeError as err:
                raise GauntletError(
                    f"data={self.dataset}: not found under {self.root} and could not be "
                    f"downloaded ({err})"
                ) from err
            x = np.asarray(ds.data, dtype=np.float32) / 255.0
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # (N, C, H, W)
            out[name] = (x, np.asarray(ds.targets, dtype=np.int64))
        return out

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="image",
            shape=tuple(splits["train"].x.shape[1:]),
            num_classes=DATASETS[self.dataset][1],
            value_range=(0.0, 1.0),
        )
