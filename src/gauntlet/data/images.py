"""Decoding one image file (or bytes) into a (C, H, W) float array in [0, 1], with Pillow.

Shared by ``data=image_folder`` and the image columns of ``data=hf``, so a picture becomes the
same tensor whichever way it arrives. ``size`` resizes the shorter side to ``size`` and crops
the centre square; ``channels`` converts (1: greyscale, 3: RGB). A file Pillow cannot read
raises :class:`BadImage` naming it; the caller skips or refuses it (``data.on_bad_file``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np

from gauntlet.errors import GauntletError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# Pillow modes by the number of channels they decode to; anything else is converted to RGB
MODE_CHANNELS = {"1": 1, "L": 1, "I": 1, "I;16": 1, "F": 1, "LA": 1, "RGB": 3, "RGBA": 3, "P": 3}
# refuse: stop with the bad file's name; skip: log it and leave it out
OnBadFile = Literal["refuse", "skip"]


class BadImage(GauntletError):
    """A file that is not a readable image (corrupt, truncated, or another format)."""


def import_pillow():
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - Pillow comes with matplotlib
        raise GauntletError("reading images needs Pillow: pip install pillow") from err
    return Image


def channels_of(mode: str) -> int:
    return MODE_CHANNELS.get(mode, 3)


def open_image(source: str | Path | bytes, where: str):
    """The decoded Pillow image; every decoding failure becomes a BadImage naming ``where``."""
    image_module = import_pillow()
    try:
        with image_module.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            im.load()  # decodes now: a truncated file fails here, not later
            return im.copy()
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError) as err:
        raise BadImage(f"{where}: not a readable image ({type(err).__name__}: {err})") from err


def to_array(image, size: int | None, channels: int | None, where: str) -> np.ndarray:
    """(C, H, W) float32 in [0, 1]: converted to ``channels``, then resized and centre-cropped."""
    want = channels or channels_of(image.mode)
    if want not in (1, 3):
        raise GauntletError(f"data.channels={channels}: choose 1 (greyscale), 3 (RGB) or null")
    image = image.convert("L" if want == 1 else "RGB")
    if size is not None:
        width, height = image.size
        scale = size / min(width, height)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = image.resize(new, import_pillow().Resampling.BILINEAR)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


def decode(
    source: str | Path | bytes, size: int | None, channels: int | None, where: str
) -> np.ndarray:
    return to_array(open_image(source, where), size, channels, where)
