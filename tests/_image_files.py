"""Small real image folders for the tests, written with Pillow: each class a bright block in its
own place on noise, so a network can learn them in a few steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def picture(label: int, size: int, rng: np.random.Generator, mode: str = "L") -> np.ndarray:
    pixels = rng.integers(0, 60, size=(size, size), dtype=np.uint8)
    block = size // 3
    top, left = divmod(label % 9, 3)
    pixels[top * block : (top + 1) * block, left * block : (left + 1) * block] = 230
    if mode == "RGB":
        return np.stack([pixels, pixels[::-1], pixels], axis=-1)
    return pixels


def write_folder(
    root: Path,
    classes: tuple[str, ...] = ("cat", "dog", "owl"),
    per_class: int = 20,
    size: int = 12,
    mode: str = "L",
    seed: int = 0,
    formats: tuple[str, ...] = ("png", "jpg"),
) -> Path:
    """``root/<class>/<n>.<png|jpg>``, alternating formats."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            fmt = formats[i % len(formats)]
            Image.fromarray(picture(label, size, rng, mode)).save(folder / f"{i:03d}.{fmt}")
    return root


def corrupt(path: Path) -> Path:
    """A real PNG cut short: its header reads, its pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
