"""Padding that no network reads: token batches carry a mask from ``InputSpec.pad_id``; the CNN,
the RNN and the Transformer read real tokens only, whichever side the padding is on; explain
and attack leave padding alone; text cut to ``max_length`` is counted."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
import torch

from _tiny_nets import ARCHS, trained
from gauntlet.data.spec import InputSpec
from gauntlet.data.text import TextFileDataModule, report_truncation
from gauntlet.interpret import METHODS, attribute, deletion_curve, explain
from gauntlet.interpret.features import baseline
from gauntlet.models.attacks import ATTACKS
from gauntlet.models.base import Network
from gauntlet.models.cnn import CNN
from gauntlet.models.rnn import RNN
from gauntlet.models.transformer import Transformer
from helpers import run_training

pytestmark = pytest.mark.usefixtures("single_thread")

T = 24
SPEC = InputSpec("tokens", (T,), 3, vocab_size=30, pad_id=0)
# every way each architecture reads tokens; dropout 0 so that train mode is deterministic too
NETS = {
    "cnn": lambda: CNN(SPEC, hidden=8, depth=3, dropout=0.0),
    "cnn_kernel_5": lambda: CNN(SPEC, hidden=8, depth=3, kernel_size=5, dropout=0.0),
    "lstm": lambda: RNN(SPEC, cell="lstm", hidden=8, dropout=0.0),
    "lstm_bidirectional": lambda: RNN(SPEC, hidden=8, bidirectional=True, dropout=0.0),
    "gru_bidirectional_mean": lambda: RNN(
        SPEC, cell="gru", hidden=8, depth=2, bidirectional=True, pool="mean", dropout=0.0
    ),
    "transformer_cls": lambda: Transformer(SPEC, hidden=16, heads=2, dropout=0.0),
    "transformer_mean": lambda: Transformer(SPEC, hidden=16, heads=2, pool="mean", dropout=0.0),
    "transformer_conv_stem": lambda: Transformer(
        SPEC, hidden=16, heads=2, stem="conv", patch_size=2, dropout=0.0
    ),
}
LENGTHS = (1, 2, 5, 9, 17, T)  # one token, odd and even lengths, a full row


def texts(seed: int = 0) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(1, SPEC.vocab_size, (n,), generator=gen).tolist() for n in LENGTHS]


def padded(rows: list[list[int]], side: str) -> torch.Tensor:
    x = torch.zeros(len(rows), T, dtype=torch.long)
    for i, ids in enumerate(rows):
        if side == "right":
            x[i, : len(ids)] = torch.tensor(ids)
        else:
            x[i, T - len(ids) :] = torch.tensor(ids)
    return x


def build(name: str) -> Network:
    torch.manual_seed(0)
    return NETS[name]()


@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", NETS)
def test_changing_the_padding_embeddings_changes_no_output(name, train_mode):
    net = build(name).train(train_mode)
    x = padded(texts(), "right")
    mask = net.padding_mask(x)
    e = net.embed(x).detach()
    noisy = e + 3.0 * torch.randn_like(e) * (~mask).unsqueeze(-1)
    assert not torch.equal(noisy, e)
    torch.testing.assert_close(
        net.forward_embedded(noisy, mask), net.forward_embedded(e, mask), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("name", NETS)
def test_a_text_reads_the_same_padded_on_the_left_or_the_right(name):
    net = build(name).eval()
    rows = texts(1)
    with torch.no_grad():
        right, left = net(padded(rows, "right")), net(padded(rows, "left"))
    torch.testing.assert_close(left, right, rtol=0, atol=1e-5)


def test_only_token_inputs_have_a_padding_mask():
    image = InputSpec("image", (1, 8, 8), 3)
    sequence = InputSpec("sequence", (12, 2), 3)
    assert CNN(image, hidden=4, depth=1).padding_mask(torch.zeros(2, 1, 8, 8)) is None
    assert RNN(sequence, hidden=4).padding_mask(torch.zeros(2, 12, 2)) is None
    x = padded(texts(), "left")
    mask = CNN(SPEC, hidden=4, depth=1).padding_mask(x)
    assert mask.sum(dim=1).tolist() == list(LENGTHS)
    # a text with no token at all keeps one position, so no network divides by zero
    empty = CNN(SPEC, hidden=4, depth=1).padding_mask(torch.zeros(1, T, dtype=torch.long))
    assert empty.sum() == 1


# -- padding side, trained through `gauntlet train` -----------------------------------------

GOOD = ["great", "superb", "lovely", "moving"]
BAD = ["awful", "dull", "clumsy", "tedious"]
REST = ["and", "the", "cast", "acted", "sang", "danced", "well", "too", "loudly", "at", "night"]


def review_file(folder: Path, n: int = 240, seed: int = 0, long_every: int = 0) -> Path:
    """Reviews whose class is the fourth word ("the film was great and ..."), 6 to 12 words:
    far shorter than max_length. ``long_every``: every so many rows is 100 words long."""
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(n):
        label = i % 2
        words = ["the", "film", "was", rng.choice(GOOD if label else BAD)]
        words += rng.choices(REST, k=rng.randint(2, 8))
        if long_every and i % long_every == 0:
            words += rng.choices(REST, k=100)
        lines.append(f"{' '.join(words)},{'pos' if label else 'neg'}")
    path = folder / "reviews.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


MODELS = {
    "cnn": ["model=cnn", "model.net.hidden=16", "model.net.depth=2"],
    "lstm": ["model=rnn", "model.net.cell=lstm", "model.net.hidden=32"],
    "lstm_bidirectional": [
        "model=rnn",
        "model.net.cell=lstm",
        "model.net.hidden=32",
        "model.net.bidirectional=true",
    ],
    "transformer": ["model=transformer", "model.net.hidden=32", "model.net.depth=1"],
}


# the LSTM, which read 56 padding tokens after the answer before masks, in the fast tier
SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "model",
    [
        "lstm",
        pytest.param("lstm_bidirectional", marks=SLOW),
        pytest.param("cnn", marks=SLOW),
        pytest.param("transformer", marks=SLOW),
    ],
)
def test_padding_side_does_not_change_what_a_network_learns(model, tmp_path):
    path = review_file(tmp_path, n=400)
    acc = {}
    for side in ("right", "left"):
        manifest, _ = run_training(
            tmp_path,
            [
                "data=text_file",
                f"data.path={path}",
                "data.max_length=64",
                f"data.padding_side={side}",
                "data.batch_size=32",
                *MODELS[model],
                "logger=csv",
                "trainer.max_epochs=8",
                "trainer.enable_progress_bar=false",
                "model.optimizer.lr=0.01",
                "seed=1",
            ],
            name=side,
        )
        assert manifest["status"] == "completed"
        assert manifest["metrics"]["data/truncated_frac"] == 0.0
        acc[side] = manifest["metrics"]["test/acc"]
    # the word that decides is read whichever side the 50-odd padding tokens are on
    assert acc["right"] >= 0.9, acc
    assert abs(acc["right"] - acc["left"]) <= 0.05, acc


# -- explain and attack leave the padding alone ----------------------------------------------


class IgnoresMask(torch.nn.Module):
    """A user's token network that reads every position, padding included."""

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        self.table = torch.nn.Embedding(spec.vocab_size, 8)
        self.head = torch.nn.Linear(8, spec.num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.table(x)

    def forward_embedded(self, e: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(e).mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embed(x))


def token_nets() -> dict[str, tuple[Network, torch.Tensor, torch.Tensor, InputSpec]]:
    from gauntlet.models.build import as_network

    nets = {}
    for arch in ARCHS:
        net, x, y, spec = trained(arch, "tokens")
        padded_rows = (x == spec.pad_id).any(dim=1)  # texts of 8 to 11 tokens in 12
        nets[arch] = (net, x[padded_rows], y[padded_rows], spec)
    _, x, y, spec = nets["cnn"]
    torch.manual_seed(0)
    nets["ignores_mask"] = (as_network(IgnoresMask(spec), spec), x, y, spec)
    return nets


@pytest.mark.parametrize("method", sorted(METHODS))
def test_padding_gets_zero_attribution(method):
    opts = {"n_samples": 40} if method in ("lime", "kernel_shap") else {}
    for name, (net, x, y, spec) in token_nets().items():
        attr = attribute(net, x[:4], y[:4], method, spec, seed=0, **opts).sum(dim=-1)
        pads = x[:4] == spec.pad_id
        assert pads.any(dim=1).all()
        assert (attr[pads] == 0).all(), name
        assert (attr.abs() * ~pads).sum(dim=1).min() > 0, name


def test_explain_writes_zero_scores_for_padding(tmp_path):
    net, x, y, spec = token_nets()["rnn"]
    explain(net, x, y, spec, "integrated_gradients", tmp_path, n=4, steps=4)
    record = json.loads((tmp_path / "integrated_gradients.json").read_text())
    for sample in record["samples"]:
        scores = torch.tensor(sample["scores"])
        pads = x[sample["index"]] == spec.pad_id
        assert pads.any() and (scores[pads] == 0).all()
        assert scores[~pads].abs().sum() > 0


def test_the_deletion_curve_removes_real_tokens_only():
    net, x, y, spec = token_nets()["rnn"]
    x, y = x[:8], y[:8]
    pads = x == spec.pad_id
    assert pads.any(dim=1).all()
    gen = torch.Generator().manual_seed(0)
    ranks = torch.rand(x.shape, generator=gen)
    # rankings that put the padding first, last, or anywhere give the same curve
    first = deletion_curve(net, x, y, torch.where(pads, 9.0, ranks), spec, steps=4)
    last = deletion_curve(net, x, y, torch.where(pads, -9.0, ranks), spec, steps=4)
    torch.testing.assert_close(first.probs, last.probs, rtol=0, atol=0)
    torch.testing.assert_close(first.random_probs, last.random_probs, rtol=0, atol=0)
    assert first.fractions[0] == 0 and first.fractions[-1] == 1
    # step 2 of 4 removes the top half of each sample's real tokens, rounded
    with torch.no_grad():
        e, base, mask = net.embed(x), baseline(net, x, spec), net.padding_mask(x)
        for i in range(len(y)):
            real = (~pads[i]).nonzero().squeeze(1)
            top = real[torch.argsort(ranks[i, real], descending=True)]
            drop = top[: round(0.5 * len(real))]
            removed = e[i : i + 1].clone()
            removed[0, drop] = base[i, drop]
            p = torch.softmax(net.forward_embedded(removed, mask[i : i + 1]), dim=-1)[0, y[i]]
            torch.testing.assert_close(first.probs[i, 2], p, rtol=0, atol=1e-5)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_moves_real_token_embeddings_only(attack):
    for name, (net, x, y, _) in token_nets().items():
        net.eval()
        mask = net.padding_mask(x)
        with torch.no_grad():
            e = net.embed(x)
        adv = ATTACKS[attack](net, e, y, 0.5, steps=3, mask=mask)
        moved = (adv - e).abs().sum(dim=-1)  # (B, T)
        assert (moved[~mask] == 0).all(), name
        assert (moved[mask] > 0).float().mean() > 0.9, name


def test_attributions_of_a_network_reading_padding_are_still_zero_there():
    net, x, y, spec = token_nets()["ignores_mask"]
    attr = attribute(net, x[:4], y[:4], "saliency", spec)
    pads = x[:4] == spec.pad_id
    assert (attr[pads] == 0).all() and attr[~pads].abs().sum() > 0


# -- no silent truncation --------------------------------------------------------------------


def test_text_longer_than_max_len_is_counted_and_warned(tmp_path, caplog):
    path = review_file(tmp_path, n=40, long_every=4)  # 10 of the 40 rows run past 100 words
    dm = TextFileDataModule(path=str(path), max_length=32)
    with caplog.at_level(logging.WARNING, logger="gauntlet.data.text"):
        dm.setup()
    assert dm.data_metrics == {"data/truncated_frac": 0.25}
    assert "data.max_length=32 cuts 25.0% of the samples (10 of 40" in caplog.text
    # what is kept is each text's beginning, on whichever side the padding goes
    left = TextFileDataModule(path=str(path), max_length=32, padding_side="left")
    left.setup()
    right, lefts = dm.splits["train"].x, left.splits["train"].x
    assert (right != 0).sum(dim=1).tolist() == (lefts != 0).sum(dim=1).tolist()


def test_a_few_cut_texts_are_counted_without_a_warning(caplog):
    with caplog.at_level(logging.INFO, logger="gauntlet.data.text"):
        metrics = report_truncation([10] * 99 + [80], max_length=64)
    assert metrics == {"data/truncated_frac": 0.01}
    assert "WARNING" not in [r.levelname for r in caplog.records]
    assert report_truncation([], max_length=8) == {"data/truncated_frac": 0.0}


def test_the_truncated_share_is_a_metric_of_the_run(tmp_path):
    path = review_file(tmp_path, n=60, long_every=3)
    manifest, run_dir = run_training(
        tmp_path,
        [
            "data=text_file",
            f"data.path={path}",
            "data.max_length=48",
            "model=cnn",
            "logger=csv",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "model.net.hidden=8",
        ],
    )
    assert manifest["metrics"]["data/truncated_frac"] == pytest.approx(1 / 3)
    assert "data/truncated_frac" in (run_dir / "metrics.csv").read_text().splitlines()[0]


def test_a_padding_side_other_than_left_or_right_is_refused(tmp_path):
    from omegaconf import OmegaConf

    from gauntlet.config_schema import check_component
    from gauntlet.errors import GauntletError

    node = OmegaConf.create({"_target_": "gauntlet.data.text.TextFileDataModule",
                             "path": str(tmp_path / "x.csv"), "padding_side": "center"})  # fmt: skip
    with pytest.raises(
        GauntletError, match=r"data\.padding_side must be one of right, left, got 'center'"
    ):
        check_component(node, "data")


class ReadsMask(IgnoresMask):
    """A user's token network that takes the mask: a mean over real tokens."""

    def forward_embedded(self, e: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        self.mask = mask
        if mask is None:
            return super().forward_embedded(e)
        weights = mask.unsqueeze(-1).float()
        return self.head((torch.tanh(e) * weights).sum(1) / weights.sum(1))


def test_a_users_network_gets_the_mask_when_it_takes_one():
    from gauntlet.models.build import as_network

    x = padded(texts(), "right")
    reads, ignores = as_network(ReadsMask(SPEC), SPEC), as_network(IgnoresMask(SPEC), SPEC)
    reads(x)
    assert torch.equal(reads.inner.mask, x != SPEC.pad_id)
    assert ignores(x).shape == (len(LENGTHS), SPEC.num_classes)  # called without one
    e = reads.embed(x).detach()
    noisy = e + torch.randn_like(e) * (x == SPEC.pad_id).unsqueeze(-1)
    mask = reads.padding_mask(x)
    torch.testing.assert_close(reads.forward_embedded(noisy, mask), reads.forward_embedded(e, mask))


@pytest.mark.parametrize("cache", ["memory", "arrow"])
def test_a_hugging_face_dataset_counts_its_cut_texts_too(tmp_path, cache):
    pytest.importorskip("datasets", reason="the hf extra is not installed")
    from datasets import Dataset

    from gauntlet.data.hf import HFDataModule

    words = ["word"] * 40
    texts = [" ".join(words[: 5 if i % 5 else 40]) for i in range(50)]  # 10 of 50 are long
    Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(50)]}).save_to_disk(
        str(tmp_path / "ds")
    )
    dm = HFDataModule(path=str(tmp_path / "ds"), max_length=16, padding_side="left", cache=cache)
    dm.setup()
    assert dm.data_metrics == {"data/truncated_frac": 0.2}
    x = next(iter(dm.train_dataloader()))[0] if cache == "arrow" else dm.splits["train"].x
    assert (x[:, -1] != dm.spec.pad_id).all()  # padded on the left: every text ends the row
