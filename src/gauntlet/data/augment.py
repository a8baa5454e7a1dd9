"""Batch augmentations that run on the training device: whole batches at once, no sample loops.

Each class is built from the datamodule's input spec and called as ``augment(x) -> x`` on raw
training batches (images (B, C, H, W), sequences (B, T, F), token ids (B, T)). Randomness comes
from torch's global generators on the batch's device, which ``seed_everything`` seeds, so a
seeded run draws the same augmentations. A strength of 0 switches a transform off; with all of
them off the batch comes back unchanged (the same tensor).

``for_modality`` is what the ``light`` and ``strong`` presets build: it picks the settings for
the data's modality, so one preset works on every dataset.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F

from gauntlet.data.spec import MODALITIES, InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import NonNegative, NonNegativeInt, Probability, check_settings
from gauntlet.settings import settings as declared

log = logging.getLogger(__name__)


def _uniform(low: float, high: float, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, device=like.device) * (high - low) + low


def _window_mask(starts: torch.Tensor, lengths: torch.Tensor, size: int) -> torch.Tensor:
    """(B, size) boolean mask, True on [start, start + length) of each row."""
    pos = torch.arange(size, device=starts.device)[None, :]
    return (pos >= starts[:, None]) & (pos < (starts + lengths)[:, None])


def as_input_spec(spec: Any) -> InputSpec:
    """The InputSpec back from the config node Hydra makes of it when passed to instantiate."""
    if isinstance(spec, InputSpec):
        return spec
    from omegaconf import DictConfig, OmegaConf

    fields = OmegaConf.to_container(spec) if isinstance(spec, DictConfig) else dict(spec)
    for key in ("shape", "value_range", "class_names", "vocab"):
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return InputSpec(**fields)


class BatchAugment:
    """Shared checks: the modality this transform is for, and a readable repr for the logs."""

    modality = ""
    preset = ""

    def __init__(self, spec: InputSpec) -> None:
        spec = as_input_spec(spec)
        if spec.modality != self.modality:
            others = ", ".join(m for m in MODALITIES if m != self.modality)
            raise GauntletError(
                f"augment={self.preset} works on {self.modality} inputs, but the data's inputs "
                f"are {spec.describe()}. Valid choices: augment=light or augment=strong (any "
                f"modality), augment=none, or the preset for the data's modality "
                f"(augment=image, sequence or tokens; not {self.preset} on {others} data)"
            )
        self.spec = spec

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items() if k != "spec")
        return f"{type(self).__name__}({args})"


class ImageAugment(BatchAugment):
    """Random shift and small rotation (one affine resample), gaussian noise, cutout.

    ``shift`` is the largest translation in pixels, ``rotate`` the largest angle in degrees,
    ``noise`` the noise std as a share of the data's value range, ``cutout`` the side of the
    square zeroed (filled with the range's low end) as a share of the image side, applied to
    each image with probability ``cutout_p``.
    """

    modality = "image"
    preset = "image"

    def __init__(
        self,
        spec: InputSpec,
        shift: NonNegative = 0.0,
        rotate: NonNegative = 0.0,
        noise: NonNegative = 0.0,
        cutout: Probability = 0.0,
        cutout_p: Probability = 0.5,
    ) -> None:
        super().__init__(spec)
        self.shift, self.rotate, self.noise = shift, rotate, noise
        self.cutout, self.cutout_p = float(cutout), float(cutout_p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.spec.value_range or (0.0, 1.0)
        if self.shift or self.rotate:
            x = self._affine(x, fill=low)
        if self.noise:
            x = (x + torch.randn_like(x) * self.noise * (high - low)).clamp(low, high)
        if self.cutout:
            x = self._cutout(x, fill=low)
        return x

    def _affine(self, x: torch.Tensor, fill: float) -> torch.Tensor:
        b, _, h, w = x.shape
        angle = _uniform(-self.rotate, self.rotate, (b,), x) * (math.pi / 180)
        # affine_grid works in [-1, 1] coordinates: one pixel is 2 / side
        tx = _uniform(-self.shift, self.shift, (b,), x) * 2 / w
        ty = _uniform(-self.shift, self.shift, (b,), x) * 2 / h
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
        )  # (B, 2, 3)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        # resample the offset from the fill value, so what moves in from outside is "background"
        moved = F.grid_sample(x - fill, grid, padding_mode="zeros", align_corners=False)
        return moved + fill

    def _cutout(self, x: torch.Tensor, fill: float) -> torch.Tensor:
        b, _, h, w = x.shape
        side_h, side_w = max(1, round(self.cutout * h)), max(1, round(self.cutout * w))
        # box centres anywhere in the image: boxes may hang over the edge, as in the paper
        cy = torch.randint(0, h, (b,), device=x.device) - side_h // 2
        cx = torch.randint(0, w, (b,), device=x.device) - side_w // 2
        rows = _window_mask(cy, torch.full_like(cy, side_h), h)  # (B, H)
        cols = _window_mask(cx, torch.full_like(cx, side_w), w)  # (B, W)
        chosen = torch.rand(b, device=x.device) < self.cutout_p
        box = rows[:, :, None] & cols[:, None, :] & chosen[:, None, None]  # (B, H, W)
        return x.masked_fill(box[:, None], fill)


class SequenceAugment(BatchAugment):
    """Jitter (gaussian noise), per-sample scaling, a random time shift, and time masking.

    ``jitter`` is the noise std as a share of the data's value range, ``scale`` the std of the
    multiplicative factor around 1, ``shift`` the largest shift in time steps (the edges are
    repeated), ``mask`` the longest masked window as a share of the length (set to zero).
    """

    modality = "sequence"
    preset = "sequence"

    def __init__(
        self,
        spec: InputSpec,
        jitter: NonNegative = 0.0,
        scale: NonNegative = 0.0,
        shift: NonNegativeInt = 0,
        mask: Probability = 0.0,
    ) -> None:
        super().__init__(spec)
        self.jitter, self.scale, self.shift, self.mask = jitter, scale, shift, float(mask)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        if self.shift:
            offset = torch.randint(-self.shift, self.shift + 1, (b, 1), device=x.device)
            src = (torch.arange(t, device=x.device)[None, :] - offset).clamp(0, t - 1)  # (B, T)
            x = torch.gather(x, 1, src[:, :, None].expand_as(x))
        if self.scale:
            x = x * (1 + torch.randn(b, 1, 1, device=x.device, dtype=x.dtype) * self.scale)
        if self.jitter:
            low, high = self.spec.value_range or (0.0, 1.0)
            x = x + torch.randn_like(x) * self.jitter * (high - low)
        if self.mask:
            longest = max(1, round(self.mask * t))
            lengths = torch.randint(0, longest + 1, (b,), device=x.device)
            starts = (torch.rand(b, device=x.device) * (t - lengths + 1)).long()
            x = x.masked_fill(_window_mask(starts, lengths, t)[:, :, None], 0.0)
        return x


class TokenAugment(BatchAugment):
    """Token dropout (a token becomes UNK or PAD) and random swaps of two tokens.

    ``drop`` is each real token's chance to be replaced by ``drop_to`` ('unk' or 'pad');
    ``swap`` is each sequence's chance, in each of ``swaps`` rounds, to exchange two of its
    tokens. Padding stays where it is.
    """

    modality = "tokens"
    preset = "tokens"

    def __init__(
        self,
        spec: InputSpec,
        drop: Probability = 0.0,
        swap: Probability = 0.0,
        swaps: NonNegativeInt = 1,
        drop_to: Literal["unk", "pad"] = "unk",
        unk_id: NonNegativeInt | None = None,
    ) -> None:
        super().__init__(spec)
        self.drop, self.swap, self.swaps = float(drop), float(swap), swaps
        self.drop_to = drop_to
        if unk_id is None:
            vocab = self.spec.vocab or ()
            unk_id = vocab.index("<unk>") if "<unk>" in vocab else self.spec.pad_id + 1
        self.unk_id = unk_id

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        real = x != self.spec.pad_id
        if self.swap and self.swaps:
            x = self._swap(x, real)
        if self.drop:
            dropped = (torch.rand(x.shape, device=x.device) < self.drop) & real
            fill = self.unk_id if self.drop_to == "unk" else self.spec.pad_id
            x = x.masked_fill(dropped, fill)
        return x

    def _swap(self, x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        b = x.shape[0]
        rows = torch.arange(b, device=x.device)
        # positions of real tokens, packed to the front of each row, so a swap never moves PAD
        order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)
        length = real.sum(dim=1)
        for _ in range(self.swaps):
            i = (torch.rand(b, device=x.device) * length).long()
            j = (torch.rand(b, device=x.device) * length).long()
            pi, pj = order[rows, i], order[rows, j]
            go = (torch.rand(b, device=x.device) < self.swap) & (length > 1)
            pi, pj = pi[go], pj[go]
            r = rows[go]
            a, c = x[r, pi], x[r, pj]
            x[r, pi], x[r, pj] = c, a
        return x


AUGMENTS: dict[str, type[BatchAugment]] = {
    "image": ImageAugment,
    "sequence": SequenceAugment,
    "tokens": TokenAugment,
}


def for_modality(
    spec: InputSpec,
    image: Mapping[str, Any] | None = None,
    sequence: Mapping[str, Any] | None = None,
    tokens: Mapping[str, Any] | None = None,
    name: str = "light",
) -> BatchAugment:
    """The augmentation for the data's modality, from that modality's settings in the preset."""
    spec = as_input_spec(spec)
    settings = {"image": image, "sequence": sequence, "tokens": tokens}[spec.modality]
    if settings is None:
        raise GauntletError(
            f"augment={name} has no settings for {spec.modality} inputs ({spec.describe()}); "
            f"add augment.{spec.modality}, or choose augment=none"
        )
    cls = AUGMENTS[spec.modality]
    valid = list(declared(cls))
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise GauntletError(
            f"augment.{spec.modality}: unknown setting(s) {unknown}; valid: {', '.join(valid)}"
        )
    check_settings(cls, settings, f"augment.{spec.modality}")
    augment = cls(spec, **dict(settings))
    log.info("augment=%s: %r", name, augment)
    return augment
