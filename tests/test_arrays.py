"""``data=arrays``: the user's own .npz / .npy arrays, each modality, and every bad input
refused with a message that names the array and the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gauntlet.data.arrays import ArraysDataModule
from gauntlet.errors import GauntletError


def images(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    x = rng.random((n, 1, 6, 6), dtype=np.float32)
    return x, y


def datamodule(path, **kwargs) -> ArraysDataModule:
    dm = ArraysDataModule(path=str(path), val_fraction=0.1, test_fraction=0.2, **kwargs)
    dm.setup()
    return dm


def test_an_npz_of_images_gets_seeded_stratified_val_and_test_splits(tmp_path):
    x, y = images()
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    dm = datamodule(tmp_path / "d.npz")
    assert dm.spec.modality == "image" and dm.spec.shape == (1, 6, 6)
    assert dm.spec.num_classes == 3 and dm.spec.value_range == (float(x.min()), float(x.max()))
    assert dm.sizes() == {"train": 216, "val": 24, "test": 60}
    for split in dm.splits.values():  # every class in the same share in every split
        counts = torch.bincount(split.y, minlength=3)
        assert counts.max() - counts.min() == 0
    again = datamodule(tmp_path / "d.npz")
    assert again.fingerprint() == dm.fingerprint()
    other = ArraysDataModule(path=str(tmp_path / "d.npz"), val_fraction=0.1, split_seed=5)
    other.setup()
    assert other.fingerprint() != dm.fingerprint()


def test_a_directory_of_npy_files_keeps_the_splits_it_gives(tmp_path):
    rng = np.random.default_rng(1)
    for split, n in [("train", 120), ("val", 30)]:
        np.save(tmp_path / f"x_{split}.npy", rng.normal(size=(n, 20, 2)))  # float64 is fine
        np.save(tmp_path / f"y_{split}.npy", np.arange(n) % 2)
    dm = datamodule(tmp_path)
    assert dm.spec.modality == "sequence" and dm.spec.shape == (20, 2)
    assert dm.sizes()["val"] == 30 and dm.sizes()["train"] + dm.sizes()["test"] == 120
    assert dm.splits["train"].x.dtype == torch.float32


def test_token_ids_are_read_as_tokens_with_a_vocabulary(tmp_path):
    x = np.random.default_rng(0).integers(0, 50, (100, 16))
    np.savez(tmp_path / "t.npz", x_train=x, y_train=np.arange(100) % 4)
    dm = datamodule(tmp_path / "t.npz")
    assert dm.spec.modality == "tokens" and dm.spec.shape == (16,)
    assert dm.spec.vocab_size == int(x.max()) + 1
    assert dm.splits["train"].x.dtype == torch.long


def test_data_modality_decides_for_arrays_one_axis_short(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((90, 8, 8)))
    np.save(tmp_path / "y.npy", np.arange(90) % 3)
    as_images = datamodule(tmp_path / "x.npy", labels=str(tmp_path / "y.npy"), modality="image")
    assert as_images.spec.shape == (1, 8, 8)
    as_sequence = datamodule(tmp_path / "x.npy", labels=str(tmp_path / "y.npy"))
    assert as_sequence.spec.modality == "sequence" and as_sequence.spec.shape == (8, 8)
    np.save(tmp_path / "s.npy", np.random.default_rng(0).random((90, 40)))
    signal = datamodule(tmp_path / "s.npy", labels=str(tmp_path / "y.npy"), modality="sequence")
    assert signal.spec.shape == (40, 1)


BAD = {
    "a flat array": (
        lambda x, y: {"x_train": x.reshape(len(x), -1).astype(np.float32), "y_train": y},
        ["x_train", "(300, 36)", "data.modality"],
    ),
    "a NaN": (
        lambda x, y: {
            "x_train": np.where(np.arange(x.size).reshape(x.shape) == 40, np.nan, x),
            "y_train": y,
        },
        ["x_train", "NaN", "index 1", "np.nan_to_num"],
    ),
    "labels from 1": (
        lambda x, y: {"x_train": x, "y_train": y + 1},
        ["y_train", "[1, 2, 3]", "0..K-1", "missing: [0]", "return_inverse"],
    ),
    "negative labels": (
        lambda x, y: {"x_train": x, "y_train": y - 1},
        ["y_train", "-1", "0..K-1"],
    ),
    "an empty val split": (
        lambda x, y: {"x_train": x, "y_train": y, "x_val": x[:0], "y_val": y[:0]},
        ["x_val/y_val are empty", "leave the pair out"],
    ),
    "x_val without y_val": (
        lambda x, y: {"x_train": x, "y_train": y, "x_val": x[:5]},
        ["x_val has no y_val"],
    ),
    "a misspelt array": (
        lambda x, y: {"x_train": x, "y_train": y, "x_valid": x[:5]},
        ["'x_valid'", "x_val"],
    ),
    "labels of another length": (
        lambda x, y: {"x_train": x, "y_train": y[:-1]},
        ["x_train has 300 samples", "y_train has 299"],
    ),
    "a test split of another shape": (
        lambda x, y: {"x_train": x, "y_train": y, "x_test": x[:6, :, :4], "y_test": y[:6]},
        ["x_test", "(1, 4, 6)", "x_train's (1, 6, 6)"],
    ),
    "a class only in test": (
        lambda x, y: {"x_train": x, "y_train": y, "x_test": x[:6], "y_test": y[:6] + 5},
        ["y_test", "label 5"],
    ),
    "float labels": (
        lambda x, y: {"x_train": x, "y_train": y + 0.5},
        ["y_train", "non-integer"],
    ),
    "no y_train": (lambda x, y: {"x_train": x}, ["no y_train", "found x_train"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arrays_are_refused_naming_the_array_and_the_fix(tmp_path, case):
    make, expected = BAD[case]
    x, y = images()
    np.savez(tmp_path / "bad.npz", **make(x, y))
    with pytest.raises(GauntletError) as err:
        datamodule(tmp_path / "bad.npz")
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


def test_a_split_carved_empty_is_refused(tmp_path):
    x, y = images(6)
    np.savez(tmp_path / "tiny.npz", x_train=x, y_train=y)
    with pytest.raises(
        GauntletError, match=r"the test split carved from train is empty.*data\.test_fraction"
    ):
        datamodule(tmp_path / "tiny.npz")


def test_a_bad_file_stops_gauntlet_train_with_exit_code_2(tmp_path, monkeypatch, capsys):
    from test_contract import gauntlet

    x, y = images()
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y + 1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAUNTLET_LOG_DIR", str(tmp_path / "logs"))
    assert gauntlet("train", "data=arrays", "data.path=bad.npz", "trainer.max_epochs=1") == 2
    err = capsys.readouterr().err
    assert "data.path=bad.npz: y_train holds the labels [1, 2, 3]" in err
    assert "Traceback" not in err
