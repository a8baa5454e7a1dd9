"""``data=image_folder``: the user's own PNG/JPEG class folders, read with Pillow, held in memory
or streamed by DataLoader workers, with every bad input named."""

from __future__ import annotations

import json
import logging
import shutil
import sys

import numpy as np
import pytest
import torch

from _image_files import corrupt, write_folder
from gauntlet.data.image_folder import ImageFolderDataModule
from gauntlet.errors import GauntletError

# a small CNN, five epochs of batches of 8: enough to learn where each class's block is
LEARN = [
    "logger=csv",
    "model=cnn",
    "model.net.hidden=8",
    "model.net.depth=2",
    "data.batch_size=8",
    "trainer.max_epochs=5",
    "model.optimizer.lr=0.01",
    "trainer.limit_train_batches=null",
    "trainer.limit_val_batches=null",
    "trainer.limit_test_batches=null",
]


def folder_module(root, **kwargs) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(root=str(root), batch_size=8, val_fraction=0.1, **kwargs)
    dm.setup()
    return dm


@pytest.fixture
def pictures(tmp_path):
    return write_folder(tmp_path / "pictures", per_class=20)


def cli(*argv: str) -> int:
    from gauntlet.cli import main

    return main(list(argv))


def test_a_class_folder_trains_and_its_checkpoint_evaluates_explains_and_attacks(
    train, pictures, capsys, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    manifest, run_dir = train("data=image_folder", f"data.root={pictures}", *LEARN)
    assert "path memory: the decoded set (0 MB) fits under data.cache_limit_mb" in caplog.text
    assert manifest["data_sizes"] == {"train": 42, "val": 6, "test": 12}
    assert manifest["class_map"] == {"cat": 0, "dog": 1, "owl": 2}
    assert manifest["metrics"]["test/acc"] > 0.6  # chance is 1/3
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert saved["ImageFolderDataModule"] == {"classes": ["cat", "dog", "owl"]}

    from gauntlet.eval import evaluate

    assert evaluate(ckpt)["test/acc"] == pytest.approx(manifest["metrics"]["test/acc"], abs=0.2)
    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    assert cli("explain", f"ckpt_path={ckpt}", "method=saliency", "n=4") == 0
    assert cli("attack", f"ckpt_path={ckpt}", "eps=[0.0,0.1]") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "saliency on 4 test samples" in out and "FGSM on 12 test samples" in out
    assert (
        "interpret/deletion_auc" in json.loads((run_dir / "manifest.json").read_text())["metrics"]
    )


def test_the_stream_path_decodes_in_workers_and_learns_as_the_memory_path(train, pictures, caplog):
    caplog.set_level(logging.INFO)
    manifest, _ = train(
        "data=image_folder",
        f"data.root={pictures}",
        "data.cache=stream",
        "data.num_workers=2",
        *LEARN,
    )
    assert "path stream: data.cache=stream" in caplog.text
    assert manifest["data_sizes"] == {"train": 42, "val": 6, "test": 12}
    assert manifest["metrics"]["test/acc"] > 0.6


def test_auto_streams_when_the_decoded_set_exceeds_the_limit(pictures, caplog):
    caplog.set_level(logging.INFO)
    dm = folder_module(pictures, cache_limit_mb=0)
    assert dm.path_taken == "stream" and dm.splits == {}
    assert "path stream: the decoded set (0 MB) exceeds data.cache_limit_mb=0" in caplog.text
    # same files, same splits, same class map as the memory path
    memory = folder_module(pictures)
    assert memory.path_taken == "memory" and memory.sizes() == dm.sizes()
    assert dm.spec == memory.spec
    # the explain/attack sample is the whole (small) test split, decoded
    assert sorted(dm.test_y.tolist()) == sorted(memory.test_y.tolist())


def test_the_stream_order_is_seeded_and_resumes_after_the_batches_trained(pictures):
    dm = folder_module(pictures, cache="stream", num_workers=2, seed=3)
    loader = dm.train_dataloader()
    first = [y.tolist() for _, y in loader]
    assert [y.tolist() for _, y in loader] == first  # the same epoch, the same batches
    again = folder_module(pictures, cache="stream", num_workers=0, seed=3).train_dataloader()
    assert [y.tolist() for _, y in again] == first  # workers change nothing
    resumed = folder_module(pictures, cache="stream", seed=3).train_dataloader()
    resumed.load_state_dict({**loader.state_dict(), "batches": 2})
    assert [y.tolist() for _, y in resumed] == first[2:]


def test_images_are_resized_and_converted_to_the_asked_shape(tmp_path):
    root = write_folder(tmp_path / "rgb", per_class=10, size=20, mode="RGB")
    dm = folder_module(root, size=8, channels=1)
    assert dm.spec.shape == (1, 8, 8)
    assert folder_module(root).spec.shape == (3, 20, 20)
    x = dm.splits["train"].x
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_train_val_test_subfolders_are_kept_and_only_missing_ones_carved(tmp_path):
    write_folder(tmp_path / "d" / "train", per_class=20)
    write_folder(tmp_path / "d" / "test", per_class=4, seed=1)
    dm = folder_module(tmp_path / "d")
    assert dm.sizes() == {"train": 54, "val": 6, "test": 12}


def test_a_corrupt_image_is_refused_by_name_or_skipped_with_a_warning(pictures, caplog):
    bad = corrupt(pictures / "dog" / "004.png")
    with pytest.raises(GauntletError, match=f"{bad}: not a readable image.*on_bad_file=skip"):
        folder_module(pictures)
    with caplog.at_level(logging.WARNING):
        dm = folder_module(pictures, on_bad_file="skip")
    assert f"skipping {bad}" in caplog.text
    assert sum(dm.sizes().values()) == 59
    # streamed: left out of its batch when the workers reach it
    streamed = folder_module(pictures, on_bad_file="skip", cache="stream", num_workers=1)
    seen = sum(
        len(y) for split in ("train", "val", "test") for _, y in streamed._loader(split, False)
    )
    assert seen == 59


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty_class", r"class folder .*/bird holds no image"),
        ("no_classes", r"has no class subfolders \(it holds 2 images directly\)"),
        (
            "mixed_channels",
            r"dog/.* has 3 channel\(s\) \(RGB\), the first image 1; set data.channels",
        ),
        ("mixed_sizes", r"is 16x16 pixels, the first image 12x12; set data.size"),
        ("unknown_test_class", r"test has class folder\(s\) \['bird'\] that are not among"),
        ("missing_root", r"data.root=.*nowhere: no such directory"),
    ],
)
def test_bad_folders_are_refused_naming_the_file_and_the_fix(tmp_path, case, message):
    root = write_folder(tmp_path / "d", classes=("cat", "dog"), per_class=8)
    kwargs = {}
    if case == "empty_class":
        (root / "bird").mkdir()
    elif case == "no_classes":
        flat = tmp_path / "flat"
        flat.mkdir()
        for p in sorted((root / "cat").iterdir())[:2]:
            shutil.copy(p, flat / p.name)
        root = flat
    elif case == "mixed_channels":
        write_folder(root / "_rgb", classes=("dog",), per_class=2, mode="RGB", seed=1)
        for p in (root / "_rgb" / "dog").iterdir():
            p.rename(root / "dog" / f"rgb_{p.name}")
        shutil.rmtree(root / "_rgb")
    elif case == "mixed_sizes":
        write_folder(root / "_big", classes=("dog",), per_class=2, size=16, seed=1)
        for p in (root / "_big" / "dog").iterdir():
            p.rename(root / "dog" / f"big_{p.name}")
        shutil.rmtree(root / "_big")
    elif case == "unknown_test_class":
        shutil.copytree(root, tmp_path / "s" / "train")
        write_folder(tmp_path / "s" / "test", classes=("bird",), per_class=2)
        root = tmp_path / "s"
    elif case == "missing_root":
        root = tmp_path / "nowhere"
    with pytest.raises(GauntletError, match=message):
        folder_module(root, **kwargs)


def test_a_folder_read_against_a_checkpoint_keeps_its_class_map(tmp_path):
    """Another folder with a class missing still gives each class its trained index."""
    trained = folder_module(write_folder(tmp_path / "a", classes=("cat", "dog", "owl")))
    other = write_folder(tmp_path / "b", classes=("dog", "owl"), per_class=10)
    dm = ImageFolderDataModule(root=str(other), batch_size=8)
    dm.load_state_dict(trained.state_dict())
    dm.setup()
    assert dm.spec.class_names == ("cat", "dog", "owl")
    assert set(np.unique(dm.splits["train"].y.numpy())) == {1, 2}
    clash = folder_module(other)  # read on its own: dog=0, owl=1
    with pytest.raises(GauntletError, match="the labels would be permuted"):
        clash.load_state_dict(trained.state_dict())


def test_eval_on_another_folder_reads_it_against_the_checkpoints_class_map(
    train, tmp_path, pictures, monkeypatch, capsys
):
    _, run_dir = train("data=image_folder", f"data.root={pictures}", *LEARN)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    from gauntlet.eval import evaluate

    # the other folder lacks "cat": "dog" and "owl" keep indices 1 and 2, and are recognised
    fresh = write_folder(tmp_path / "fresh", per_class=10, seed=5)  # new noise
    other = tmp_path / "other"
    for name in ("dog", "owl"):
        shutil.copytree(fresh / name, other / name)
    assert evaluate(ckpt, data={"root": str(other)})["test/acc"] > 0.6
    emu = write_folder(tmp_path / "emu", classes=("cat", "emu"), per_class=8)
    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    with pytest.raises(SystemExit) as exit_:
        cli("eval", f"ckpt_path={ckpt}", f"data.root={emu}", f"hydra.run.dir={tmp_path / 'ev'}")
    assert exit_.value.code == 2
    assert "['emu'] that are not among the classes ['cat', 'dog', 'owl'] of the checkpoint" in (
        capsys.readouterr().err
    )
