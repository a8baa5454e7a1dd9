"""Your own pictures: ``data=image_folder data.root=DIR``, one subfolder per class.

``DIR/<class>/*.{png,jpg,jpeg,bmp,webp}``, or ``DIR/train/<class>/...`` with optional ``val/``
and ``test/`` beside it; missing splits are carved from train, seeded and stratified, as for
every dataset. Classes are the sorted subfolder names (or ``data.classes``, in that order); the
class -> index map goes into the manifest and every checkpoint, and a folder read against a
checkpoint must hold no class outside it, so labels are never permuted silently.

Images are decoded with Pillow by DataLoader worker processes (``data.num_workers``), resized
and centre-cropped to ``data.size`` and converted to ``data.channels``. Then one of two paths:

- ``memory``: the decoded set is held as tensors and batched on the device like every other
  dataset (fraction, synthesis, concatenation, the bench all apply). The default when the
  decoded set fits under ``data.cache_limit_mb``;
- ``stream``: only the file list is held; each batch is decoded by the workers as it is
  needed (pinned memory on a GPU), in a seeded order that resumes mid-epoch.

The log says which path was taken and why. A bad file is named: an empty class folder, a
folder without class subfolders, images of mixed channel counts or sizes (set ``data.channels``
or ``data.size``), and a corrupt or truncated image, skipped or refused by ``data.on_bad_file``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gauntlet.data import epoch_plan
from gauntlet.data.base import (
    InMemoryDataModule,
    Split,
    choose_cache,
    stratified_split,
    stratified_subset,
)
from gauntlet.data.images import (
    EXTENSIONS,
    BadImage,
    OnBadFile,
    channels_of,
    open_image,
    to_array,
)
from gauntlet.data.resumable import ResumableBatches, SizedBatches, trainer_hooks
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import NonNegativeInt, PositiveInt

log = logging.getLogger(__name__)

SPLIT_DIRS = ("train", "val", "test")
# auto: memory when the decoded set fits under data.cache_limit_mb, else streamed from the files
Cache = Literal["auto", "memory", "stream"]


@dataclass
class Files:
    paths: list[Path]
    labels: np.ndarray

    def take(self, idx: np.ndarray) -> Files:
        return Files([self.paths[i] for i in idx], self.labels[idx])

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Problem:
    """What a worker found wrong with one file, raised or logged in the main process (a
    worker's exception would reach the user wrapped in a traceback)."""

    message: str
    skippable: bool


class ImageFiles(Dataset):
    """Decodes file ``i`` into ((C, H, W) float32, label), or a :class:`Problem`."""

    def __init__(
        self, files: Files, size: int | None, channels: int | None, shape: tuple[int, ...]
    ) -> None:
        self.files, self.size, self.channels, self.shape = files, size, channels, shape

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int] | Problem:
        path = self.files.paths[i]
        try:
            image = open_image(path, str(path))
        except BadImage as err:
            return Problem(str(err), skippable=True)
        if self.channels is None and channels_of(image.mode) != self.shape[0]:
            return Problem(
                f"data.root: {path} has {channels_of(image.mode)} channel(s) ({image.mode}), "
                f"the first image {self.shape[0]}; set data.channels=1 (greyscale) or 3 (RGB) "
                "to convert every image",
                skippable=False,
            )
        x = to_array(image, self.size, self.channels or self.shape[0], str(path))
        if x.shape != self.shape:
            return Problem(
                f"data.root: {path} is {x.shape[2]}x{x.shape[1]} pixels, the first image "
                f"{self.shape[2]}x{self.shape[1]}; set data.size=N to resize and centre-crop "
                "every image to N x N",
                skippable=False,
            )
        return x, int(self.files.labels[i])


class Collate:
    """Stacks decoded samples; a bad file is logged and left out, or refused."""

    def __init__(self, on_bad_file: str) -> None:
        self.on_bad_file = on_bad_file

    def __call__(self, items: list) -> tuple[torch.Tensor, torch.Tensor] | list[Problem]:
        problems = [p for p in items if isinstance(p, Problem)]
        good = [p for p in items if not isinstance(p, Problem)]
        if problems:  # judged in the main process (see Problem)
            return [*problems, _Good(good)]
        return _stack(good)


class _Good(list):
    """The readable samples of a batch that also held problems."""


def _stack(good: list) -> tuple[torch.Tensor, torch.Tensor]:
    if not good:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    x = torch.from_numpy(np.stack([g[0] for g in good]))
    y = torch.tensor([g[1] for g in good], dtype=torch.long)
    return x, y


def judge(batch: Any, on_bad_file: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The batch, with its bad files logged and dropped (skip) or refused; None when empty."""
    if isinstance(batch, list):
        good = _stack(batch[-1])
        for problem in batch[:-1]:
            if not problem.skippable or on_bad_file == "refuse":
                hint = "" if not problem.skippable else "; data.on_bad_file=skip leaves it out"
                raise GauntletError(problem.message + hint)
            log.warning("skipping %s", problem.message)
        batch = good
    return batch if len(batch[1]) else None


class ImageFolderDataModule(InMemoryDataModule):
    def __init__(
        self,
        root: str,
        size: PositiveInt | None = None,
        channels: Literal[1, 3] | None = None,
        classes: list[str] | None = None,
        on_bad_file: OnBadFile = "refuse",
        cache: Cache = "auto",
        cache_limit_mb: NonNegativeInt = 2048,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()
        self.size, self.channels = size, channels
        self.classes = list(classes) if classes else None
        self.classes_from = "data.classes" if classes else "the train folder"
        self.on_bad_file = on_bad_file
        self.cache, self.cache_limit_mb = cache, cache_limit_mb
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.path_taken: str | None = None
        self.files: dict[str, Files] = {}
        self.shape: tuple[int, ...] = ()

    # -- the folder --------------------------------------------------------------------------
    def scan(self) -> dict[str, Files]:
        root = self.root
        if not root.is_dir():
            raise GauntletError(f"data.root={root}: no such directory")
        split_dirs = {s: root / s for s in SPLIT_DIRS if (root / s).is_dir()}
        if split_dirs and "train" not in split_dirs:
            raise GauntletError(
                f"data.root={root} has {', '.join(sorted(split_dirs))}/ but no train/; add "
                "train/<class>/ images, or put the class folders directly in data.root"
            )
        if not split_dirs:
            split_dirs = {"train": root}
        found = {split: self._class_dirs(folder) for split, folder in split_dirs.items()}
        names = self.classes or sorted(found["train"])
        index = {name: i for i, name in enumerate(names)}
        out = {}
        for split, dirs in found.items():
            unknown = sorted(set(dirs) - set(index))
            if unknown:
                raise GauntletError(
                    f"data.root: {split_dirs[split]} has class folder(s) {unknown[:5]} that "
                    f"are not among the classes {names[:10]} of {self.classes_from}; labels "
                    "would not mean the same. Remove them, or list every class in data.classes"
                )
            paths, labels = [], []
            for name in sorted(dirs):
                images = sorted(p for p in dirs[name].iterdir() if p.suffix.lower() in EXTENSIONS)
                if not images:
                    raise GauntletError(
                        f"data.root: the class folder {dirs[name]} holds no image "
                        f"({', '.join(EXTENSIONS)}); add images or remove the folder"
                    )
                paths += images
                labels += [index[name]] * len(images)
            out[split] = Files(paths, np.asarray(labels, dtype=np.int64))
        self.classes = names
        return out

    def _class_dirs(self, folder: Path) -> dict[str, Path]:
        dirs = {p.name: p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
        if not dirs:
            loose = [p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS]
            raise GauntletError(
                f"data.root: {folder} has no class subfolders"
                + (f" (it holds {len(loose)} images directly)" if loose else "")
                + "; put each class's images in a folder named for the class: "
                f"{folder}/<class>/*.png"
            )
        return dirs

    def carve(self, files: dict[str, Files]) -> dict[str, Files]:
        """Val and test from train where the folder has none (seeds as every datamodule)."""
        train = files["train"]
        if "test" not in files:
            keep, out = stratified_split(train.labels, self.test_fraction, self.split_seed)
            files["test"], train = train.take(out), train.take(keep)
        if "val" not in files:
            keep, out = stratified_split(train.labels, self.val_fraction, self.split_seed + 1)
            files["val"], train = train.take(out), train.take(keep)
        files["train"] = train
        return files

    def probe(self, train: Files) -> tuple[int, ...]:
        """The shape every image decodes to, read from the first readable training image."""
        for path in train.paths:
            try:
                image = open_image(path, str(path))
            except BadImage:
                continue  # named when the decoding reaches it
            return to_array(image, self.size, self.channels, str(path)).shape
        raise GauntletError(f"data.root={self.root}: no training image could be read")

    # -- the two paths -----------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits or self.files:
            return
        self.files = self.carve(self.scan())
        self.shape = self.probe(self.files["train"])
        total = sum(len(f) for f in self.files.values())
        decoded_mb = total * int(np.prod(self.shape)) * 4 / 2**20
        self.path_taken, why = choose_cache(
            self.cache, decoded_mb, self.cache_limit_mb, "decoded", "stream"
        )
        if self.path_taken == "stream" and self.synthesizer is not None:
            raise GauntletError(
                "synthesize= fits a generator on the whole training split in memory, which "
                "data.cache=stream does not hold; use data.cache=memory, or drop synthesize"
            )
        log.info(
            "data=image_folder: %d images of %s in %s; path %s: %s",
            total,
            self.shape,
            self.root,
            self.path_taken,
            why,
        )
        if self.path_taken == "memory":
            super().setup(stage)
            return
        if self.fraction < 1.0 or self.samples_per_class is not None:
            train = self.files["train"]
            keep = stratified_subset(
                train.labels, self.fraction, self.samples_per_class, self.split_seed + 2
            )
            self.files["train"] = train.take(keep)
        self._spec = self.make_spec({})
        log.info("data: %s; sizes %s", self._spec.describe(), self.sizes())

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The memory path: every split decoded by the workers into arrays."""
        out = {}
        for split in self.files:
            parts = list(self.stream_split(split, 256))
            if not parts:
                raise GauntletError(
                    f"data.root={self.root}: no readable image in the {split} split"
                )
            out[split] = (
                np.concatenate([x for x, _ in parts]),
                np.concatenate([y for _, y in parts]),
            )
        return out

    def stream_split(self, name: str, chunk: int):
        """A split decoded in file order, ``chunk`` images at a time (as numpy arrays)."""
        files = self.files[name]
        batches = [np.arange(i, min(i + chunk, len(files))) for i in range(0, len(files), chunk)]
        for x, y in self._decoded(files, batches):
            yield x.numpy(), y.numpy()

    def _decoded(self, files: Files, batches: list[np.ndarray]):
        loader = DataLoader(
            ImageFiles(files, self.size, self.channels, self.shape),
            batch_sampler=[b.tolist() for b in batches],
            num_workers=self.num_workers,
            collate_fn=Collate(self.on_bad_file),
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=False,
        )
        for batch in loader:
            judged = judge(batch, self.on_bad_file)
            if judged is not None:
                yield judged

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="image",
            shape=tuple(self.shape),
            num_classes=len(self.classes or []),
            value_range=(0.0, 1.0),
            class_names=tuple(self.classes or []),
        )

    def sizes(self) -> dict[str, int]:
        if self.path_taken == "memory":
            return super().sizes()
        return {name: len(files) for name, files in self.files.items()}

    def fingerprint(self) -> str:
        if self.path_taken == "memory":
            return super().fingerprint()
        h = hashlib.sha256()
        for name in SPLIT_DIRS:
            for path, label in zip(self.files[name].paths, self.files[name].labels, strict=True):
                stat = path.stat()
                h.update(f"{name}|{path.relative_to(self.root)}|{label}|{stat.st_size}".encode())
        return h.hexdigest()[:16]

    # -- the class map in the checkpoint -----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes or [])}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = list(state.get("classes") or [])
        if not saved:
            return
        if self.classes is None and not (self.files or self.splits):
            self.classes = saved  # read the folder against the checkpoint's map
            self.classes_from = "the checkpoint"
        elif list(self.classes or []) != saved:
            raise GauntletError(
                f"data.root={self.root}: its classes {self.classes} are not the checkpoint's "
                f"{saved}; the labels would be permuted. Give data.classes={saved}"
            )

    # -- the stream path's loaders -----------------------------------------------------------
    @property
    def test_x(self) -> torch.Tensor:
        return self._test_sample()[0]

    @property
    def test_y(self) -> torch.Tensor:
        return self._test_sample()[1]

    def _test_sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.path_taken == "memory":
            return self.splits["test"].x, self.splits["test"].y
        if not hasattr(self, "_sample"):
            test = self.files["test"]
            pick = np.sort(np.random.default_rng(self.split_seed).permutation(len(test))[:1024])
            x, y = zip(*self._decoded(test.take(pick), [np.arange(len(pick))]), strict=True)
            self._sample = (torch.cat(x), torch.cat(y))
        return self._sample

    def _loader(self, name: str, train: bool):
        if self.path_taken == "memory":
            return super()._loader(name, train)
        self.setup()
        files = self.files[name]
        epoch, progress, rank, world = trainer_hooks(self.trainer)
        size = self.batch_size if train else self.eval_batch_size

        def batches(e: int) -> list[np.ndarray]:
            return epoch_plan.sample_batches(len(files), size, self.seed, e, rank, world, train)

        def make(e: int, skip: int):
            return self._decoded(files, batches(e)[skip:])

        if not train:
            return SizedBatches(lambda: make(0, 0), len(batches(0)))
        layout = f"{self.fingerprint()}:{len(files)}"
        return ResumableBatches(
            make, lambda e: len(batches(e)), epoch, progress, self.seed, layout, "data=image_folder"
        )
