"""The input spec: what a datamodule tells the network about its inputs."""

from __future__ import annotations

from dataclasses import dataclass

MODALITIES = ("image", "sequence", "tokens")


@dataclass(frozen=True)
class InputSpec:
    """Shape and kind of one sample, so any network can be built for any dataset.

    ``shape`` excludes the batch: (C, H, W) for images, (T, F) for sequences, (T,) for tokens.
    ``value_range`` is the data's own scale (images and sequences), used to clamp attacks.
    """

    modality: str
    shape: tuple[int, ...]
    num_classes: int
    vocab_size: int | None = None
    pad_id: int = 0
    value_range: tuple[float, float] | None = None
    class_names: tuple[str, ...] | None = None
    vocab: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        expected = {"image": 3, "sequence": 2, "tokens": 1}[self.modality]
        if len(self.shape) != expected:
            raise ValueError(f"{self.modality} inputs need a {expected}-d shape, got {self.shape}")
        if self.modality == "tokens" and not self.vocab_size:
            raise ValueError("token inputs need a vocab_size")

    def compatible_with(self, other: InputSpec) -> bool:
        return (
            self.modality == other.modality
            and self.shape == other.shape
            and self.num_classes == other.num_classes
            and self.vocab_size == other.vocab_size
        )

    def describe(self) -> str:
        extra = f", vocab {self.vocab_size}" if self.vocab_size else ""
        return f"{self.modality} {tuple(self.shape)}, {self.num_classes} classes{extra}"
