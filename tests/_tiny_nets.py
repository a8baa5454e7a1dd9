"""Small configurations of the real networks, data with signal and a short fit loop, for the
interpretability and robustness tests."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor

from gauntlet.data.spec import InputSpec
from gauntlet.models.adversarial import AdversarialTraining
from gauntlet.models.base import Network
from gauntlet.models.cnn import CNN
from gauntlet.models.rnn import RNN
from gauntlet.models.transformer import Transformer

ARCHS = ("cnn", "rnn", "transformer")
MODALITIES = ("image", "sequence", "tokens")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Tiny networks gain nothing from intra-op threads, which only contend on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_net(arch: str, spec: InputSpec, seed: int = 0) -> Network:
    """A small configuration of the real ``arch`` network, initialised from ``seed``."""
    torch.manual_seed(seed)
    if arch == "cnn":
        return CNN(spec, hidden=16, depth=2, dropout=0.0)
    if arch == "rnn":
        return RNN(spec, cell="gru", hidden=32, dropout=0.0)
    return Transformer(spec, hidden=32, depth=1, dropout=0.0)


def synthetic(modality: str, n: int = 512, seed: int = 0) -> tuple[Tensor, Tensor, InputSpec]:
    """Three classes, each decided by one region of the input: a bright quadrant of an 8x8
    image, a bump in one third of a signal, or one of three marker tokens in a random text."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=gen)
    if modality == "image":
        x = 0.3 * torch.rand(n, 1, 8, 8, generator=gen)
        for k, (r, c) in enumerate([(0, 0), (0, 4), (4, 0)]):
            x[y == k, :, r : r + 4, c : c + 4] += 0.6
        spec = InputSpec("image", (1, 8, 8), 3, value_range=(0.0, 1.0))
        return x.clamp(0, 1), y, spec
    if modality == "sequence":
        x = 0.3 * torch.randn(n, 24, 1, generator=gen)
        for k in range(3):
            x[y == k, 8 * k : 8 * k + 8, 0] += 1.5
        spec = InputSpec("sequence", (24, 1), 3, value_range=(-3.0, 3.0))
        return x.clamp(-3, 3), y, spec
    vocab = ("<pad>", "red", "green", "blue", *(f"w{i}" for i in range(4, 16)))
    x = torch.randint(4, 16, (n, 12), generator=gen)
    where = torch.randint(0, 8, (n,), generator=gen)
    x[torch.arange(n), where] = y + 1
    lengths = torch.randint(8, 13, (n,), generator=gen)
    x[torch.arange(12)[None, :] >= lengths[:, None]] = 0
    spec = InputSpec("tokens", (12,), 3, vocab_size=16, pad_id=0, vocab=vocab)
    return x, y, spec


@functools.cache
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor, InputSpec]:
    """scikit-learn's 8x8 digits scaled to [0, 1]: (train_x, train_y, test_x, test_y, spec)."""
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    spec = InputSpec(
        "image", (1, 8, 8), 10, value_range=(0.0, 1.0), class_names=tuple("0123456789")
    )
    return x[:1400], y[:1400], x[1400:], y[1400:], spec


def fit(
    net: Network,
    x: Tensor,
    y: Tensor,
    steps: int = 60,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    adversarial: AdversarialTraining | None = None,
) -> Network:
    """Adam on random batches; ``adversarial`` (an AdversarialTraining) perturbs each batch."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        mask = net.padding_mask(x[idx])  # as the LightningModule's step does
        e = net.embed(x[idx])
        if adversarial is not None:
            e = adversarial.perturb(net, e, y[idx], mask)
        loss = F.cross_entropy(net.forward_embedded(e, mask), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: Network, x: Tensor, y: Tensor) -> float:
    net.eval()
    return int((net(x).argmax(dim=-1) == y).sum()) / len(y)


@functools.cache
def trained(arch: str, modality: str) -> tuple[Network, Tensor, Tensor, InputSpec]:
    """A tiny ``arch`` fitted briefly on synthetic ``modality`` data, with held-out samples."""
    x, y, spec = synthetic(modality, n=576)
    net = fit(make_net(arch, spec), x[:512], y[:512], steps=60)
    return net, x[512:], y[512:], spec


@functools.cache
def digits_cnn(adversarial: AdversarialTraining | None = None, steps: int = 150) -> Network:
    """A small CNN fitted on digits to about 98% test accuracy (seeded, so reruns agree)."""
    train_x, train_y, _, _, spec = digits()
    net = make_net("cnn", spec)
    return fit(net, train_x, train_y, steps=steps, lr=5e-3, adversarial=adversarial)
