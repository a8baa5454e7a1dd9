"""MNIST, Fashion-MNIST and CIFAR-10 from files in their distributed formats, which the tests
write themselves (nothing downloads): they train, and corrupt or missing files are named."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gauntlet.data.vision import VisionDataModule
from gauntlet.errors import GauntletError

# -- writing the real formats ----------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: 0x0000, type 0x08 (unsigned byte), the rank, big-endian int32 sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def signal_images(n: int, size: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images whose class is where a bright square sits: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    x = rng.integers(0, 90, size=(n, channels, size, size))
    cell = size // 4
    for i, label in enumerate(y):
        r, c = divmod(int(label), 4)
        x[i, :, r * cell : (r + 1) * cell, c * cell : (c + 1) * cell] += 160
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)


def write_idx_dataset(
    folder: Path, n_train: int = 400, n_test: int = 200, gz: bool = False
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        x, y = signal_images(n, 28, 1, seed)
        for name, array in (
            (f"{prefix}-images-idx3-ubyte", x[:, 0]),
            (f"{prefix}-labels-idx1-ubyte", y),
        ):
            data = idx_bytes(array)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)


def write_cifar_dataset(root: Path, per_batch: int = 80, n_test: int = 200) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for seed, name in enumerate(names):
        x, y = signal_images(n_test if name == "test_batch" else per_batch, 32, 3, seed)
        batch = {
            b"batch_label": name.encode(),
            b"labels": y.tolist(),
            b"data": x.reshape(len(x), -1),
        }
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)  # the distributed batches are protocol-2 pickles
    return folder


def module(dataset: str, root: Path, **kwargs) -> VisionDataModule:
    dm = VisionDataModule(dataset=dataset, root=str(root), **kwargs)
    dm.setup()
    return dm


# -- reading and training --------------------------------------------------------------------

ARCH_ARGS = {
    "cnn": [],
    "rnn": ["model.net.hidden=64"],
    "transformer": ["model.net.patch_size=4"],
}


@pytest.mark.parametrize(
    "model",
    # the fast suite trains the CNN to accuracy; the other two step on CIFAR-10 below
    [
        "cnn",
        pytest.param("rnn", marks=pytest.mark.slow),
        pytest.param("transformer", marks=pytest.mark.slow),
    ],
)
def test_mnist_idx_files_train_every_architecture_to_better_than_chance(train, tmp_path, model):
    write_idx_dataset(tmp_path / "mnist")
    manifest, _ = train(
        "data=mnist",
        f"data.root={tmp_path / 'mnist'}",
        "data.batch_size=32",
        f"model={model}",
        *ARCH_ARGS[model],
        "trainer.max_epochs=4",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        fast=False,
    )
    assert manifest["status"] == "completed"
    assert manifest["data_sizes"]["test"] == 200
    assert manifest["metrics"]["test/acc"] > 0.3, manifest["metrics"]  # chance is 0.1


def test_cifar10_python_batches_train_a_cnn_to_better_than_chance(train, tmp_path):
    write_cifar_dataset(tmp_path)
    manifest, _ = train(
        "data=cifar10",
        f"data.root={tmp_path}",
        "data.batch_size=32",
        "model=cnn",
        "trainer.max_epochs=4",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        fast=False,
    )
    assert manifest["data_sizes"] == {"train": 360, "val": 40, "test": 200}
    assert manifest["metrics"]["test/acc"] > 0.3, manifest["metrics"]


@pytest.mark.parametrize("model", ["rnn", "transformer"])
def test_cifar10_trains_the_rnn_row_by_row_and_the_transformer_on_patches(train, tmp_path, model):
    write_cifar_dataset(tmp_path, per_batch=20, n_test=40)
    manifest, _ = train(
        "data=cifar10",
        f"data.root={tmp_path}",
        f"model={model}",
        "model.net.patch_size=4" if model == "transformer" else "model.net.hidden=32",
        "logger=csv",
    )
    assert manifest["status"] == "completed"
    assert 0.0 <= manifest["metrics"]["test/acc"] <= 1.0


def test_torchvision_layout_and_gzipped_files_are_found(tmp_path):
    write_idx_dataset(tmp_path / "MNIST" / "raw", n_train=50, n_test=20, gz=True)
    write_idx_dataset(tmp_path / "FashionMNIST" / "raw", n_train=60, n_test=30)
    # 5 or 6 images a class: a fifth of them is each class's one validation image
    mnist = module("mnist", tmp_path, val_fraction=0.2)
    fashion = module("fashion_mnist", tmp_path, val_fraction=0.2)
    assert mnist.spec.shape == (1, 28, 28) and mnist.sizes()["test"] == 20
    assert fashion.sizes()["test"] == 30 and fashion.spec.class_names[-1] == "ankle boot"
    x = mnist.splits["train"].x
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


# -- bad files -------------------------------------------------------------------------------


def corrupt(folder: Path, name: str, how: str) -> Path:
    path = folder / name
    raw = path.read_bytes()
    if how == "magic":
        path.write_bytes(b"\x00\x00\x08\x07" + raw[4:])
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) - 100])
    return path


@pytest.mark.parametrize(
    ("name", "how", "expected"),
    [
        ("train-images-idx3-ubyte", "magic", "magic number 0x00000807"),
        ("t10k-labels-idx1-ubyte", "magic", "is not that of IDX labels"),
        ("train-images-idx3-ubyte", "truncated", "truncated or corrupt"),
    ],
)
def test_corrupt_idx_files_are_refused_naming_the_file(tmp_path, name, how, expected):
    write_idx_dataset(tmp_path, n_train=30, n_test=20)
    path = corrupt(tmp_path, name, how)
    with pytest.raises(GauntletError, match=expected) as err:
        module("mnist", tmp_path)
    assert str(path) in str(err.value)


def test_image_and_label_counts_that_differ_are_refused(tmp_path):
    write_idx_dataset(tmp_path, n_train=30, n_test=20)
    labels = np.zeros(25, dtype=np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(GauntletError, match=r"holds 30 images but .* holds 25 labels"):
        module("mnist", tmp_path)


def test_a_gzip_file_that_is_not_gzip_is_refused(tmp_path):
    write_idx_dataset(tmp_path, n_train=30, n_test=20, gz=True)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"plain bytes, not gzip")
    with pytest.raises(GauntletError, match=r"t10k-images-idx3-ubyte\.gz: cannot be read"):
        module("mnist", tmp_path)


def test_corrupt_cifar_batches_are_refused(tmp_path):
    folder = write_cifar_dataset(tmp_path, per_batch=10, n_test=10)
    batch = {b"data": np.zeros((10, 3072), np.uint8), b"labels": [0] * 9}
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(GauntletError, match="data_batch_3: 10 images but 9 labels"):
        module("cifar10", tmp_path)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"pixels": 1}, protocol=2))
    with pytest.raises(GauntletError, match="holds b'data' and b'labels'"):
        module("cifar10", tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(GauntletError, match="data_batch_3: not a CIFAR-10 python batch"):
        module("cifar10", tmp_path)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    folder = write_cifar_dataset(tmp_path, per_batch=10, n_test=10)
    (folder / "test_batch").write_bytes(pickle.dumps(os.getcwd, protocol=2))
    with pytest.raises(GauntletError, match=r"refusing to load (posix|os)\.getcwd"):
        module("cifar10", tmp_path)


def gauntlet_cli(*args: str, log_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GAUNTLET_LOG_DIR": str(log_dir), "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, "-m", "gauntlet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_missing_files_exit_2_naming_the_file_the_folders_and_the_source(tmp_path):
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    result = gauntlet_cli("train", "data=fashion_mnist", f"data.root={empty}", log_dir=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    err = result.stderr
    assert "Traceback" not in err
    assert "train-images-idx3-ubyte" in err
    assert str(empty) in err and str(empty / "FashionMNIST" / "raw") in err
    assert "zalandoresearch/fashion-mnist" in err


def test_a_corrupt_file_through_the_cli_exits_2_without_a_traceback(tmp_path):
    folder = write_cifar_dataset(tmp_path, per_batch=10, n_test=10)
    (folder / "data_batch_1").write_bytes(b"")
    result = gauntlet_cli("train", "data=cifar10", f"data.root={tmp_path}", log_dir=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert str(folder / "data_batch_1") in result.stderr


@pytest.mark.parametrize(
    "preset",
    [
        "mnist_cnn",
        "mnist_rnn",
        "mnist_transformer",
        "cifar10_cnn",
        "cifar10_rnn",
        "cifar10_transformer",
    ],
)
@pytest.mark.slow
def test_the_gpu_presets_build_and_step_on_the_real_formats(train, tmp_path, preset):
    if preset.startswith("cifar10"):
        write_cifar_dataset(tmp_path, per_batch=20, n_test=20)
    else:
        write_idx_dataset(tmp_path, n_train=100, n_test=20)
    manifest, _ = train(
        f"experiment={preset}",
        "trainer=cpu",  # the presets ask for a GPU; the configuration is what is checked here
        f"data.root={tmp_path}",
        "data.batch_size=8",
        "trainer.limit_train_batches=2",
        "logger=csv",
    )
    assert manifest["status"] == "completed"
    assert manifest["experiment"] == preset
