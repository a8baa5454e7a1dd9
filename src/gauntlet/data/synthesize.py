"""Synthetic training data for scarce-data runs: class-conditional generators fitted on the
training split only.

``synthesize=gmm`` fits, per class, a Gaussian mixture (scikit-learn) in a PCA space of the
flattened samples; ``synthesize=vae`` trains a small class-conditional VAE (torch) for a fixed
number of steps. Either one is fitted after ``data.fraction`` / ``samples_per_class`` have cut
the training split, never sees validation or test, and adds ``round(ratio * n_c)`` samples to
each class ``c`` of ``n_c`` real ones. Everything it draws comes from generators seeded with
``seed``, so a run with the same seed trains on the same synthetic samples.

Images and sequences only: token ids are not points of a space a Gaussian or a decoder can
sample, so token data is refused with a message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError

log = logging.getLogger(__name__)


@dataclass
class Synthetic:
    """What a synthesizer made: samples, labels and how long fitting and sampling took."""

    x: torch.Tensor
    y: torch.Tensor
    fit_s: float


class Synthesizer:
    """Base: checks the ratio and modality, counts per class, clamps and draws the picture.

    Subclasses implement ``fit_sample(x, y, counts)``: ``x`` the real samples flattened to
    (N, D) float64, ``y`` their labels, ``counts`` how many to draw per class; they return the
    drawn (M, D) samples and their labels.
    """

    name = "base"

    def __init__(self, ratio: float = 1.0, seed: int = 0, picture: str | None = None) -> None:
        if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or ratio <= 0:
            raise GauntletError(
                f"synthesize.ratio={ratio!r}: expected a number > 0 (generated samples per real one)"
            )
        self.ratio = float(ratio)
        self.seed = int(seed)
        self.picture = picture

    def counts(self, y: np.ndarray) -> dict[int, int]:
        classes, sizes = np.unique(y, return_counts=True)
        return {int(c): round(self.ratio * int(n)) for c, n in zip(classes, sizes, strict=True)}

    def fit_sample(
        self, x: np.ndarray, y: np.ndarray, counts: dict[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, y: torch.Tensor, spec: InputSpec) -> Synthetic:
        """Synthetic samples shaped and typed like ``x``, labelled like ``y``."""
        if spec.modality == "tokens":
            raise GauntletError(
                f"synthesize={self.name}: the data is token sequences ({spec.describe()}); "
                "gmm and vae generate images and sequences only. Use synthesize=none, or "
                "augment=tokens for token data"
            )
        started = time.perf_counter()
        flat = x.detach().cpu().reshape(len(x), -1).double().numpy()
        labels = y.detach().cpu().numpy()
        counts = self.counts(labels)
        if sum(counts.values()):
            drawn, drawn_y = self.fit_sample(flat, labels, counts)
        else:  # a ratio so small that no class gets a sample
            drawn, drawn_y = np.empty((0, flat.shape[1])), np.empty(0, dtype=labels.dtype)
        if spec.value_range is not None:
            drawn = np.clip(drawn, *spec.value_range)
        fit_s = time.perf_counter() - started
        out = Synthetic(
            torch.as_tensor(drawn, dtype=x.dtype).reshape(len(drawn), *x.shape[1:]),
            torch.as_tensor(drawn_y, dtype=y.dtype),
            fit_s,
        )
        log.info(
            "synthesize=%s: %d samples from %d real ones (ratio %g), fitted and drawn in %.2f s",
            self.name,
            len(out.y),
            len(y),
            self.ratio,
            fit_s,
        )
        if self.picture and len(out.y):
            draw_samples(out.x, out.y, spec, Path(self.picture), f"synthesize={self.name}")
        return out


def draw_samples(
    x: torch.Tensor, y: torch.Tensor, spec: InputSpec, path: Path, title: str, per_class: int = 6
) -> Path:
    """A grid of generated samples: one row per class, images shown as pictures and
    sequences as curves."""
    from matplotlib.figure import Figure

    classes = sorted(int(c) for c in torch.unique(y))
    names = spec.class_names or tuple(str(c) for c in range(spec.num_classes))
    fig = Figure(figsize=(1.3 * per_class, 1.1 * len(classes)), layout="constrained")
    grid = fig.subplots(len(classes), per_class, squeeze=False)
    for row, cls in enumerate(classes):
        members = x[y == cls][:per_class]
        for col in range(per_class):
            ax = grid[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(members):
                ax.axis("off")
                continue
            sample = members[col].detach().cpu().float()
            if spec.modality == "image":
                image = sample.permute(1, 2, 0).squeeze(-1).numpy()  # (H, W[, C])
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            else:
                ax.plot(sample.numpy(), linewidth=0.8)
            if col == 0:
                ax.set_ylabel(names[cls] if cls < len(names) else str(cls), fontsize=8)
    fig.suptitle(f"{title}: generated samples per class", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


class GMMSynthesizer(Synthesizer):
    """A Gaussian mixture per class in a PCA space shared by all classes.

    PCA (fitted on every real training sample) keeps ``pca_dim`` directions, whitened so
    ``reg_covar`` is relative to each direction's spread; each class gets a mixture of up to
    ``components`` Gaussians (never more than it has samples).
    """

    name = "gmm"

    def __init__(
        self,
        ratio: float = 1.0,
        components: int = 3,
        pca_dim: int = 16,
        covariance: str = "full",
        reg_covar: float = 0.05,
        seed: int = 0,
        picture: str | None = None,
    ) -> None:
        super().__init__(ratio, seed, picture)
        if components < 1 or pca_dim < 1:
            raise GauntletError(
                f"synthesize.components={components}, synthesize.pca_dim={pca_dim}: "
                "both must be at least 1"
            )
        if covariance not in ("full", "diag", "spherical", "tied"):
            raise GauntletError(
                f"synthesize.covariance={covariance!r}: choose full, diag, spherical or tied"
            )
        self.components, self.pca_dim = components, pca_dim
        self.covariance, self.reg_covar = covariance, reg_covar

    def fit_sample(
        self, x: np.ndarray, y: np.ndarray, counts: dict[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        dim = max(1, min(self.pca_dim, x.shape[1], len(x) - 1))
        pca = PCA(n_components=dim, whiten=True, random_state=self.seed).fit(x)
        z = pca.transform(x)
        drawn, labels = [], []
        for index, (cls, count) in enumerate(sorted(counts.items())):
            members = z[y == cls]
            if count == 0:
                continue
            if len(members) == 1:  # one sample: a small cloud around it
                sample = members + self.reg_covar**0.5 * _rng(self.seed + index).standard_normal(
                    (count, dim)
                )
            else:
                gmm = GaussianMixture(
                    n_components=min(self.components, len(members)),
                    covariance_type=self.covariance,
                    reg_covar=self.reg_covar,
                    random_state=self.seed + index,
                ).fit(members)
                gmm.random_state = self.seed + 1000 + index  # the draw has its own seed
                sample, _ = gmm.sample(count)
                # GaussianMixture.sample returns the draws grouped by component: shuffle them
                sample = sample[_rng(self.seed + index).permutation(count)]
            drawn.append(pca.inverse_transform(sample))
            labels.append(np.full(count, cls))
        return np.concatenate(drawn), np.concatenate(labels)


class _ConditionalVAE(nn.Module):
    def __init__(self, features: int, classes: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.classes = classes
        self.encoder = nn.Sequential(nn.Linear(features + classes, hidden), nn.GELU())
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent + classes, hidden), nn.GELU(), nn.Linear(hidden, features)
        )

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(y, self.classes).to(z.dtype)
        return self.decoder(torch.cat([z, onehot], dim=1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        onehot = nn.functional.one_hot(y, self.classes).to(x.dtype)
        h = self.encoder(torch.cat([x, onehot], dim=1))
        mu, logvar = self.mu(h), self.logvar(h).clamp(-8, 8)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decode(z, y), mu, logvar


class VAESynthesizer(Synthesizer):
    """A class-conditional VAE (one hidden layer each way) on standardised, flattened samples,
    trained for ``steps`` Adam steps on random batches; new samples decode z ~ N(0, I)."""

    name = "vae"

    def __init__(
        self,
        ratio: float = 1.0,
        latent: int = 8,
        hidden: int = 128,
        steps: int = 500,
        batch_size: int = 64,
        lr: float = 2e-3,
        beta: float = 1.0,
        seed: int = 0,
        picture: str | None = None,
    ) -> None:
        super().__init__(ratio, seed, picture)
        if min(latent, hidden, steps, batch_size) < 1 or lr <= 0 or beta < 0:
            raise GauntletError(
                f"synthesize: latent={latent}, hidden={hidden}, steps={steps}, "
                f"batch_size={batch_size} must be >= 1, lr={lr} > 0 and beta={beta} >= 0"
            )
        self.latent, self.hidden, self.steps = latent, hidden, steps
        self.batch_size, self.lr, self.beta = batch_size, lr, beta

    def fit_sample(
        self, x: np.ndarray, y: np.ndarray, counts: dict[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
        data = torch.as_tensor((x - mean) / std, dtype=torch.float32)
        classes = int(y.max()) + 1
        labels = torch.as_tensor(y, dtype=torch.long)
        # the VAE's own RNG: the run's global stream (network init, shuffles) is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            vae = _ConditionalVAE(data.shape[1], classes, self.hidden, self.latent)
            optimizer = torch.optim.Adam(vae.parameters(), lr=self.lr)
            for _ in range(self.steps):
                idx = torch.randint(0, len(data), (min(self.batch_size, len(data)),))
                recon, mu, logvar = vae(data[idx], labels[idx])
                rec = (recon - data[idx]).pow(2).sum(dim=1).mean()
                kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
                loss = rec + self.beta * kl
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            wanted = torch.as_tensor(
                np.concatenate([np.full(n, c) for c, n in sorted(counts.items())]),
                dtype=torch.long,
            )
            with torch.no_grad():
                z = torch.randn(len(wanted), self.latent)
                drawn = vae.decode(z, wanted).double().numpy()
        log.info("synthesize=vae: final loss %.4f after %d steps", loss.item(), self.steps)
        return drawn * std + mean, wanted.numpy()
