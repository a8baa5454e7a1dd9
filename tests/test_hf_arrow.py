"""``data=hf`` without materialising the corpus: batches gathered from the memory-mapped Arrow
tables, texts tokenized by ``Dataset.map`` (cached, in parallel), image columns decoded as
``data=image_folder`` decodes files."""

from __future__ import annotations

import io
import json
import logging
import sys

import numpy as np
import pytest

from _image_files import picture
from gauntlet.errors import GauntletError

datasets = pytest.importorskip("datasets", reason="the hf extra: pip install 'gauntlet[hf]'")

from test_hf_data import reviews, save_dict  # noqa: E402

LEARN = [
    "logger=csv",
    "model=cnn",
    "model.net.hidden=8",
    "model.net.depth=2",
    "model.optimizer.lr=0.01",
    "data.batch_size=16",
    "trainer.max_epochs=5",
    "trainer.limit_train_batches=null",
    "trainer.limit_val_batches=null",
    "trainer.limit_test_batches=null",
]


def hf_module(**kwargs):
    from gauntlet.data.hf import HFDataModule

    dm = HFDataModule(val_fraction=0.15, batch_size=16, **kwargs)
    dm.setup()
    return dm


def png(label: int, seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture(label, 12, np.random.default_rng(seed))).save(buffer, format="PNG")
    return buffer.getvalue()


def save_images(folder, n: int = 60, broken: int | None = None):
    from datasets import ClassLabel, Dataset, Features, Image

    cells = [{"bytes": png(i % 3, i), "path": None} for i in range(n)]
    if broken is not None:
        cells[broken] = {"bytes": cells[broken]["bytes"][:40], "path": None}
    features = Features({"image": Image(), "label": ClassLabel(names=["cat", "dog", "owl"])})
    Dataset.from_dict(
        {"image": cells, "label": [i % 3 for i in range(n)]}, features=features
    ).save_to_disk(str(folder))
    return folder


def test_text_batches_come_from_the_arrow_table_tokenized_by_map(train, tmp_path, caplog):
    path = save_dict(tmp_path / "reviews", {"train": reviews(300, 0), "test": reviews(100, 1)})
    caplog.set_level(logging.INFO)
    dm = hf_module(path=str(path), max_length=16, cache="arrow", num_proc=2)
    assert "path arrow: data.cache=arrow" in caplog.text
    assert dm.splits == {}  # no tensor of the corpus
    assert set(dm.tables) == {"train", "val", "test"}
    table = dm.tables["train"]
    assert table.column_names == ["input_ids"] and table.cache_files  # written by map, on disk
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 16) and y.shape == (16,)
    # the second setup reads map's cache: the same files
    again = hf_module(path=str(path), max_length=16, cache="arrow", num_proc=2)
    assert again.tables["train"].cache_files == table.cache_files
    assert again.fingerprint() == dm.fingerprint()
    # the tokens are those of the in-memory path
    memory = hf_module(path=str(path), max_length=16, cache="memory")
    assert memory.splits["test"].x.tolist() == dm.test_x.tolist()

    manifest, run_dir = train(
        "data=hf", f"data.path={path}", "data.max_length=16", "data.cache=arrow", *LEARN
    )
    assert manifest["data_sizes"] == {"train": 256, "val": 44, "test": 100}
    assert manifest["metrics"]["test/acc"] > 0.75  # chance is 0.5
    from gauntlet.eval import evaluate

    assert evaluate(run_dir / "checkpoints" / "last.ckpt")["test/acc"] > 0.75


def test_auto_reads_from_arrow_when_the_encoded_set_exceeds_the_limit(tmp_path, caplog):
    path = save_dict(tmp_path / "reviews", {"train": reviews(100, 0)})
    caplog.set_level(logging.INFO)
    dm = hf_module(path=str(path), max_length=16, cache_limit_mb=0)
    assert dm.path_taken == "arrow" and dm.splits == {}
    assert "path arrow: the encoded set (0 MB) exceeds data.cache_limit_mb=0" in caplog.text
    assert hf_module(path=str(path), max_length=16).path_taken == "memory"


def test_an_image_dataset_trains_evaluates_explains_and_attacks(
    train, tmp_path, capsys, monkeypatch
):
    from gauntlet.data.images import decode

    path = save_images(tmp_path / "pictures")
    dm = hf_module(path=str(path), cache="arrow", num_workers=1)
    assert dm.spec.modality == "image" and dm.spec.shape == (1, 12, 12)
    assert dm.spec.class_names == ("cat", "dog", "owl")
    x, _ = next(iter(dm.val_dataloader()))
    first = dm.tables["val"][0]["image"]["bytes"]  # the validation loader reads in order
    assert np.array_equal(x[0].numpy(), decode(first, None, None, "the same bytes"))

    manifest, run_dir = train(
        "data=hf", f"data.path={path}", "data.cache=arrow", *LEARN, "data.batch_size=8"
    )
    assert manifest["metrics"]["test/acc"] > 0.6  # chance is 1/3
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    from gauntlet.cli import main

    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    assert main(["explain", f"ckpt_path={ckpt}", "method=saliency", "n=4"]) == 0
    assert main(["attack", f"ckpt_path={ckpt}", "eps=[0.0,0.1]"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "saliency on 4 test samples" in out and "FGSM on 12 test samples" in out


def test_a_broken_image_row_is_named_and_refused_or_skipped(tmp_path, caplog):
    path = save_images(tmp_path / "pictures", broken=5)
    dm = hf_module(path=str(path), cache="arrow")
    with pytest.raises(GauntletError, match=r"data=hf \w+ row \d+: not a readable image"):
        for _ in dm.train_dataloader():
            pass
        for loader in (dm.val_dataloader(), dm.test_dataloader()):
            for _ in loader:
                pass
    dm = hf_module(path=str(path), cache="arrow", on_bad_file="skip")
    with caplog.at_level(logging.WARNING):
        seen = sum(len(y) for name in ("train", "val", "test") for _, y in dm._loader(name, False))
    assert seen == 59 and "not a readable image" in caplog.text


def test_an_arrow_backed_dataset_packs_into_shards_that_train(train, tmp_path):
    from gauntlet.cli import main

    path = save_dict(tmp_path / "reviews", {"train": reviews(120, 0)})
    to = tmp_path / "shards"
    overrides = ["data=hf", f"data.path={path}", "data.max_length=16", "data.cache=arrow"]
    assert main(["data", "pack", "--to", str(to), "--shard-size", "4KB", *overrides]) == 0
    record = json.loads((to / "pack.json").read_text())
    assert record["spec"]["modality"] == "tokens" and record["spec"]["shape"] == [16]
    assert record["class_map"] == {"neg": 0, "pos": 1}
    assert record["sizes"] == {"train": 82, "val": 14, "test": 24}
    manifest, _ = train("data=shards", f"data.path={to}", "data.batch_size=16")
    assert manifest["status"] == "completed"
