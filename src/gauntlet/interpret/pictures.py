"""Pictures of attributions (one layout per modality) and of deletion curves, as PNG files.

Figures are built with matplotlib's object API and written by its Agg canvas, so drawing never
touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from torch import Tensor

from gauntlet.interpret.features import check_modality

if TYPE_CHECKING:
    from gauntlet.data.spec import InputSpec
    from gauntlet.interpret.faithfulness import DeletionCurves

MAX_TOKENS = 40  # per row of the token picture; longer texts are cut with an ellipsis


def plot_attributions(
    x: Tensor, scores: Tensor, y: Tensor, pred: Tensor, spec: InputSpec, path: Path, title: str
) -> Path:
    """Draw each sample with its per-feature scores (image: (B,H,W); others: (B,T))."""
    draw = {"image": _images, "sequence": _sequences, "tokens": _tokens}[check_modality(spec)]
    fig = draw(x.detach().cpu(), scores.detach().cpu().float().numpy(), spec)
    for ax, true, guess in zip(fig.axes, y.tolist(), pred.tolist(), strict=False):
        ax.set_title(
            f"true {_label(spec, true)} / pred {_label(spec, guess)}",
            fontsize=8,
            color="tab:green" if true == guess else "tab:red",
            loc="left",
        )
    fig.suptitle(title)
    return _save(fig, path)


def plot_deletion(curves: DeletionCurves, method: str, path: Path) -> Path:
    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    x = curves.fractions.numpy()
    for probs, auc, name, colour in (
        (curves.probs, curves.auc, method, "tab:blue"),
        (curves.random_probs, curves.random_auc, "random", "tab:gray"),
    ):
        mean, std = probs.mean(0).numpy(), probs.std(0, correction=0).numpy()
        ax.plot(x, mean, color=colour, label=f"{name} (AUC {float(auc.mean()):.3f})")
        ax.fill_between(
            x, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1), color=colour, alpha=0.15
        )
    ax.set_xlabel("fraction of features removed")
    ax.set_ylabel("true-class probability")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(
        f"deletion curve, {curves.probs.shape[0]} samples (lower is more faithful)", fontsize=9
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def _label(spec: InputSpec, index: int) -> str:
    names = spec.class_names
    return names[index] if names is not None and index < len(names) else str(index)


def _grid(n: int, cell: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    cols = min(n, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(cell[0] * cols, cell[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def _symmetric(values: np.ndarray) -> Normalize:
    top = float(np.abs(values).max()) or 1.0
    return Normalize(-top, top)


def _images(x: Tensor, scores: np.ndarray, spec: InputSpec) -> Figure:
    fig, axes = _grid(x.shape[0], (2.2, 2.4))
    low, high = spec.value_range or (float(x.min()), float(x.max()))
    for ax, img, score in zip(axes, x.float().numpy(), scores, strict=True):
        img = np.clip((img - low) / ((high - low) or 1.0), 0, 1)
        if img.shape[0] == 3:
            ax.imshow(img.transpose(1, 2, 0), interpolation="nearest")
        else:
            ax.imshow(img.mean(0), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        # opacity follows |score|, so the input shows through where attribution is weak
        norm = _symmetric(score)
        overlay = matplotlib.colormaps["bwr"](norm(score))
        overlay[..., 3] = 0.85 * np.abs(score) / norm.vmax
        ax.imshow(overlay, interpolation="nearest")
        ax.set_axis_off()
    return fig


def _sequences(x: Tensor, scores: np.ndarray, spec: InputSpec) -> Figure:
    fig, axes = _grid(x.shape[0], (3.2, 2.0))
    for ax, signal, score in zip(axes, x.float().numpy(), scores, strict=True):
        t = np.arange(signal.shape[0])
        # one segment per timestep, coloured by that step's score and as opaque as it is strong,
        # over a thin grey trace that keeps the weak stretches of the signal visible
        seg_score = (score[:-1] + score[1:]) / 2
        norm = _symmetric(seg_score)
        colours = matplotlib.colormaps["bwr"](norm(seg_score))
        colours[:, 3] = np.abs(seg_score) / norm.vmax
        for f in range(signal.shape[1]):
            ax.plot(t, signal[:, f], color="0.6", linewidth=0.8)
            points = np.stack([t, signal[:, f]], axis=1)
            segments = np.stack([points[:-1], points[1:]], axis=1)
            ax.add_collection(LineCollection(segments, colors=colours, linewidths=2.5))
        ax.set_xlim(0, max(1, signal.shape[0] - 1))
        pad = 0.05 * (float(signal.max() - signal.min()) or 1.0)
        ax.set_ylim(float(signal.min()) - pad, float(signal.max()) + pad)
        ax.tick_params(labelsize=6)
    return fig


def _tokens(x: Tensor, scores: np.ndarray, spec: InputSpec) -> Figure:
    cmap = matplotlib.colormaps["bwr"]
    rows = []
    for ids, score in zip(x.tolist(), scores, strict=True):
        kept = [(i, tok) for i, tok in enumerate(ids) if tok != spec.pad_id]
        words = [(_token(spec, tok), float(score[i])) for i, tok in kept[:MAX_TOKENS]]
        if len(kept) > MAX_TOKENS:
            words.append(("...", 0.0))
        rows.append((words, _symmetric(score)))
    # x positions in characters of the monospace font: 8 pt text is about 0.07 inch a character
    width = max([sum(len(w) + 2 for w, _ in words) for words, _ in rows] + [20])
    fig = Figure(figsize=(0.6 + 0.07 * width, 0.7 * len(rows) + 0.4), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, (words, norm) in zip(axes[:, 0], rows, strict=True):
        ax.set_axis_off()
        ax.set_xlim(0, width)
        pos = 0
        for word, value in words:
            box = {"facecolor": cmap(norm(value)), "edgecolor": "none", "pad": 1.5}
            ax.text(pos, 0.35, word, fontsize=8, family="monospace", bbox=box)
            pos += len(word) + 2
    return fig


def _token(spec: InputSpec, index: int) -> str:
    vocab = spec.vocab
    return vocab[index] if vocab is not None and index < len(vocab) else str(index)


def _save(fig: Figure, path: Path) -> Path:
    from gauntlet.run.files import atomic_save_figure

    return atomic_save_figure(fig, path, dpi=110)
