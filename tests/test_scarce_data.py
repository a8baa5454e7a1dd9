"""Scarce data: subsets of the training split, augmentation, mixup/cutmix, concatenated data."""

from __future__ import annotations

import math
from collections import Counter

import hydra
import numpy as np
import pytest
import torch

from gauntlet.data.augment import ImageAugment, SequenceAugment, TokenAugment
from gauntlet.data.concat import ConcatDataModule
from gauntlet.data.digits import DigitsDataModule
from gauntlet.data.mnist1d import MNIST1DDataModule
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.models.mixing import Mixing
from helpers import compose, same_weights, strip_hydra

IMAGE = InputSpec("image", (1, 8, 8), 10, value_range=(0.0, 1.0))
SEQUENCE = InputSpec("sequence", (40, 1), 10, value_range=(-3.0, 3.0))
TOKENS = InputSpec("tokens", (12,), 2, vocab_size=50, vocab=("<pad>", "<unk>", *"abc"))


def datamodule(tmp_path, *overrides: str):
    cfg = strip_hydra(compose([f"paths.log_dir={tmp_path}", *overrides]))
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("fit")
    return dm


def class_counts(dm) -> Counter:
    return Counter(dm.splits["train"].y.tolist())


# -- fraction and samples_per_class -----------------------------------------------------------


def test_fraction_keeps_that_share_of_every_class_and_leaves_val_test_alone(tmp_path):
    full = datamodule(tmp_path, "data=digits")
    tenth = datamodule(tmp_path, "data=digits", "data.fraction=0.1")
    full_counts, counts = class_counts(full), class_counts(tenth)
    assert counts == {c: max(1, round(0.1 * n)) for c, n in full_counts.items()}
    assert sum(counts.values()) == len(tenth.splits["train"]) < len(full.splits["train"]) / 9
    for name in ("val", "test"):
        assert torch.equal(tenth.splits[name].x, full.splits[name].x)
        assert torch.equal(tenth.splits[name].y, full.splits[name].y)


def test_samples_per_class_is_exact_and_the_subset_is_seeded(tmp_path):
    a = datamodule(tmp_path, "data=digits", "data.samples_per_class=20")
    b = datamodule(tmp_path, "data=digits", "data.samples_per_class=20")
    other = datamodule(tmp_path, "data=digits", "data.samples_per_class=20", "data.split_seed=5")
    assert class_counts(a) == {c: 20 for c in range(10)}
    assert torch.equal(a.splits["train"].x, b.splits["train"].x)
    assert not torch.equal(a.splits["train"].x, other.splits["train"].x)


def test_a_bad_fraction_names_the_key(tmp_path):
    from gauntlet.config_schema import validate

    cfg = strip_hydra(compose([f"paths.log_dir={tmp_path}", "data=digits", "data.fraction=0"]))
    with pytest.raises(GauntletError, match=r"data.fraction must be > 0.0 and <= 1.0, got 0"):
        validate(cfg)


# -- augmentation -----------------------------------------------------------------------------


def image_batch() -> torch.Tensor:
    return torch.rand(32, 1, 8, 8)


def sequence_batch() -> torch.Tensor:
    return torch.randn(32, 40, 1)


def token_batch() -> torch.Tensor:
    x = torch.randint(2, 5, (32, 12))
    x[:, 9:] = 0  # padding at the end, as the text datamodule writes it
    return x


CASES = [
    (ImageAugment, IMAGE, image_batch, {"shift": 1.5}),
    (ImageAugment, IMAGE, image_batch, {"rotate": 15.0}),
    (ImageAugment, IMAGE, image_batch, {"noise": 0.05}),
    (ImageAugment, IMAGE, image_batch, {"cutout": 0.25, "cutout_p": 1.0}),
    (SequenceAugment, SEQUENCE, sequence_batch, {"jitter": 0.02}),
    (SequenceAugment, SEQUENCE, sequence_batch, {"scale": 0.1}),
    (SequenceAugment, SEQUENCE, sequence_batch, {"shift": 3}),
    (SequenceAugment, SEQUENCE, sequence_batch, {"mask": 0.2}),
    (TokenAugment, TOKENS, token_batch, {"drop": 0.2}),
    (TokenAugment, TOKENS, token_batch, {"drop": 0.2, "drop_to": "pad"}),
    (TokenAugment, TOKENS, token_batch, {"swap": 1.0}),
]


@pytest.mark.parametrize(("cls", "spec", "make", "setting"), CASES)
def test_each_augmentation_keeps_shape_and_dtype_and_changes_the_batch(cls, spec, make, setting):
    x = make()
    torch.manual_seed(0)
    out = cls(spec, **setting)(x.clone())
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)
    torch.manual_seed(0)
    assert torch.equal(cls(spec, **setting)(x.clone()), out)  # seeded: the same draw again


@pytest.mark.parametrize(("cls", "spec", "make"), [(c[0], c[1], c[2]) for c in CASES[::4]])
def test_an_augmentation_with_every_transform_off_is_the_identity(cls, spec, make):
    x = make()
    assert torch.equal(cls(spec)(x), x)


def test_token_augmentations_never_touch_padding():
    x = token_batch()
    out = TokenAugment(TOKENS, drop=0.5, swap=1.0, swaps=3)(x)
    assert torch.equal(out[:, 9:], x[:, 9:])
    assert set(out[:, :9].unique().tolist()) <= {1, 2, 3, 4}  # real tokens or <unk>
    swapped = TokenAugment(TOKENS, swap=1.0, swaps=3)(x)
    assert torch.equal(swapped.sort(dim=1).values, x.sort(dim=1).values)  # same tokens per row


def test_cutout_blanks_a_box_to_the_low_end_of_the_range():
    x = torch.ones(16, 1, 8, 8)
    out = ImageAugment(IMAGE, cutout=0.25, cutout_p=1.0)(x)
    blanked = (out == 0).sum(dim=(1, 2, 3))
    assert ((blanked > 0) & (blanked <= 4)).all()  # a 2x2 box, possibly cut by the edge


@pytest.mark.parametrize("preset", ["light", "strong"])
@pytest.mark.parametrize(
    ("spec", "cls"), [(IMAGE, ImageAugment), (SEQUENCE, SequenceAugment), (TOKENS, TokenAugment)]
)
def test_light_and_strong_presets_pick_the_data_modality(tmp_path, preset, spec, cls):
    cfg = strip_hydra(compose([f"paths.log_dir={tmp_path}", f"augment={preset}"]))
    augment = hydra.utils.instantiate(cfg.augment, spec=spec)
    assert isinstance(augment, cls)


def test_a_modality_preset_on_other_data_is_a_clear_error(tmp_path):
    cfg = strip_hydra(compose([f"paths.log_dir={tmp_path}", "augment=image"]))
    with pytest.raises(Exception) as info:
        hydra.utils.instantiate(cfg.augment, spec=SEQUENCE)
    err = info.value if isinstance(info.value, GauntletError) else info.value.__cause__
    assert isinstance(err, GauntletError)
    assert "augment=image works on image inputs" in str(err)
    assert "sequence (40, 1)" in str(err) and "augment=light" in str(err)


def test_an_unknown_augment_setting_lists_the_valid_ones(tmp_path):
    cfg = strip_hydra(
        compose([f"paths.log_dir={tmp_path}", "augment=light", "+augment.image.blur=1"])
    )
    with pytest.raises(Exception, match=r"unknown setting\(s\) \['blur'\]; valid: shift, rotate"):
        hydra.utils.instantiate(cfg.augment, spec=IMAGE)


# -- mixup and cutmix -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(16, 1, 8, 8), (16, 40, 3)])
@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixing_gives_soft_targets_that_match_the_mix(kind, shape):
    torch.manual_seed(0)
    e = torch.arange(16.0).reshape(16, *[1] * (len(shape) - 1)).expand(shape).clone()
    y = torch.arange(16) % 4
    mixing = Mixing(mixup_alpha=1.0) if kind == "mixup" else Mixing(cutmix_alpha=1.0)
    mixed, target, _ = mixing(e, y, num_classes=4)
    assert mixed.shape == e.shape and target.shape == (16, 4)
    assert torch.allclose(target.sum(dim=1), torch.ones(16))
    assert not torch.equal(mixed, e)
    # each sample's own label keeps the share of the input that is still its own
    own = target[torch.arange(16), y]
    if kind == "cutmix":
        kept = (mixed == e).flatten(1).float().mean(dim=1)
        moved = (mixed != e).flatten(1).any(dim=1)  # a sample paired with itself stays whole
        assert torch.allclose(own[moved], kept[moved], atol=1e-6)
        if len(shape) == 3:  # sequences: a window of whole time steps is replaced
            changed_steps = (mixed != e).any(dim=2)
            assert torch.equal(changed_steps[moved][0], changed_steps[moved][-1])


def test_mixing_alphas_are_validated():
    with pytest.raises(GauntletError, match=r"model.cutmix.alpha: expected a number >= 0"):
        Mixing(cutmix_alpha=-1)


def test_mixup_and_cutmix_train_on_images_and_the_training_subset_is_recorded(train):
    subset = ["data=digits", "data.samples_per_class=5", "trainer.max_epochs=2"]
    manifest, run_dir = train(
        *subset, "augment=strong", "model.mixup.alpha=0.4", "model.cutmix.alpha=1.0"
    )
    plain, plain_dir = train(*subset, name="plain")
    assert manifest["status"] == "completed"
    assert manifest["data_sizes"]["train"] == plain["data_sizes"]["train"] == 50
    # the same seed and subset without the switches ends elsewhere: they reached training
    assert not same_weights(run_dir, plain_dir)
    # mixed (soft) targets are harder to fit than the plain labels
    assert manifest["metrics"]["train/loss"] > plain["metrics"]["train/loss"]
    assert 0.0 <= manifest["metrics"]["train/acc"] <= 1.0  # measured against the hard labels


def test_cutmix_and_token_augmentation_train_on_text(train, text_file):
    data = ["data=text_file", f"data.path={text_file}"]
    manifest, run_dir = train(*data, "augment=tokens", "model.cutmix.alpha=1.0")
    _, plain_dir = train(*data, name="plain")
    assert manifest["status"] == "completed"
    assert math.isfinite(manifest["metrics"]["train/loss"])
    assert not same_weights(run_dir, plain_dir)


# -- concatenated datasets --------------------------------------------------------------------

SMALL = ["data.datasets.0.num_samples=600", "data.datasets.1.num_samples=600"]


def test_concat_of_two_mnist1d_seeds_has_the_summed_lengths(tmp_path):
    dm = datamodule(tmp_path, "data=concat", *SMALL)
    assert isinstance(dm, ConcatDataModule) and len(dm.part_sizes) == 2
    for name in ("train", "val", "test"):
        assert len(dm.splits[name]) == sum(part[name] for part in dm.part_sizes)
    first, second = dm.parts
    assert not torch.equal(first.splits["test"].x, second.splits["test"].x)  # two datasets
    assert dm.spec.shape == (40, 1) and dm.spec.num_classes == 10


def test_concat_of_incompatible_data_names_both_specs(tmp_path):
    digits = DigitsDataModule()
    seq = MNIST1DDataModule(num_samples=300, cache_dir=str(tmp_path))
    with pytest.raises(GauntletError) as info:
        ConcatDataModule(datasets=[digits, seq]).setup()
    message = str(info.value)
    assert "part 0 and part 1 cannot be concatenated" in message
    assert "image (1, 8, 8)" in message and "sequence (40, 1)" in message


def test_concat_of_two_text_files_merges_their_vocabularies(tmp_path, text_file):
    from gauntlet.data.text import TextFileDataModule

    other = tmp_path / "more.csv"
    rows = ["text,label"] + [
        f"{'splendid' if i % 2 else 'dreadful'} show number {i},{'pos' if i % 2 else 'neg'}"
        for i in range(40)
    ]
    other.write_text("\n".join(rows) + "\n")
    a, b = TextFileDataModule(path=str(text_file)), TextFileDataModule(path=str(other))
    dm = ConcatDataModule(datasets=[a, b])
    dm.setup()
    assert len(dm.splits["train"]) == len(a.splits["train"]) + len(b.splits["train"])
    vocab = dm.spec.vocab
    assert {"great", "splendid"} <= set(vocab) and dm.spec.vocab_size == len(vocab)
    # the second part's first training text, read back through the merged vocabulary
    row = dm.splits["train"].x[len(a.splits["train"])]
    words = [vocab[i] for i in row.tolist() if i != 0]
    assert words == [b.vocab[i] for i in b.splits["train"].x[0].tolist() if i != 0]


def test_concat_with_fraction_shrinks_only_the_joined_training_split(tmp_path):
    dm = datamodule(tmp_path, "data=concat", *SMALL, "data.samples_per_class=7")
    assert Counter(dm.splits["train"].y.tolist()) == {c: 7 for c in range(10)}
    assert len(dm.splits["val"]) == sum(part["val"] for part in dm.part_sizes)


def test_training_on_concatenated_sequences_with_augmentation_and_cutmix(train):
    manifest, run_dir = train("data=concat", *SMALL, "augment=strong", "model.cutmix.alpha=1.0")
    _, plain_dir = train("data=concat", *SMALL, name="plain")
    assert manifest["status"] == "completed"
    sizes = manifest["data_sizes"]
    assert sizes["train"] + sizes["val"] + sizes["test"] == 2 * 600
    assert np.isfinite(manifest["metrics"]["train/loss"])
    assert not same_weights(run_dir, plain_dir)


@pytest.mark.integration
def test_digits_are_scikit_learns_read_without_importing_it():
    import subprocess
    import sys

    from sklearn.datasets import load_digits as from_sklearn

    from gauntlet.data.digits import load_digits

    images, target = load_digits()
    reference = from_sklearn()
    assert np.array_equal(images, reference.images)
    assert np.array_equal(target, reference.target)
    probe = (
        "import sys; from gauntlet.data.digits import load_digits; x, y = load_digits(); "
        "print(x.shape, len(y), 'sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "(1797, 8, 8) 1797 False", done.stderr[-2000:]
