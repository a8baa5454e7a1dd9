"""Hugging Face datasets for text (the ``hf`` extra): datasets the tests save to disk
themselves train, their own splits are used, tokenizers load from a local path, and a bad
path, column, split or a missing extra is named."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from gauntlet.data.hf import HFDataModule
from gauntlet.errors import GauntletError

HAVE_HF = importlib.util.find_spec("datasets") is not None
needs_hf = pytest.mark.skipif(
    not HAVE_HF, reason="the hf extra is not installed: pip install 'gauntlet[hf]'"
)

GOOD = ["great", "fine", "lovely", "superb", "good", "nice"]
BAD = ["awful", "poor", "bad", "dull", "broken", "sad"]
FILLER = ["the", "film", "was", "a", "plot", "and", "really", "acting", "very"]


def reviews(n: int, seed: int) -> dict[str, list]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = rng.sample(FILLER, 5) + rng.sample(GOOD if label else BAD, 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return {"text": texts, "label": labels}


def save_dict(folder: Path, splits: dict[str, dict], class_names=("neg", "pos")) -> Path:
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=list(class_names))})
    DatasetDict(
        {name: Dataset.from_dict(cols, features=features) for name, cols in splits.items()}
    ).save_to_disk(str(folder))
    return folder


def setup(**kwargs) -> HFDataModule:
    dm = HFDataModule(**kwargs)
    dm.setup()
    return dm


@needs_hf
def test_a_dataset_saved_to_disk_trains_to_better_than_chance(train, tmp_path):
    path = save_dict(tmp_path / "reviews", {"train": reviews(300, 0), "test": reviews(100, 1)})
    manifest, _ = train(
        "data=hf",
        f"data.path={path}",
        "data.max_length=16",
        "data.batch_size=32",
        "model=cnn",
        "trainer.max_epochs=6",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        fast=False,
    )
    assert manifest["status"] == "completed"
    assert manifest["data_sizes"]["test"] == 100  # the dataset's own test split
    assert manifest["metrics"]["test/acc"] > 0.75, manifest["metrics"]  # chance is 0.5


@needs_hf
@pytest.mark.parametrize("model", ["rnn", "transformer"])
def test_every_architecture_trains_on_an_hf_dataset(train, tmp_path, model):
    path = save_dict(tmp_path / "reviews", {"train": reviews(120, 0)})
    manifest, _ = train("data=hf", f"data.path={path}", "data.max_length=16", f"model={model}")
    assert manifest["status"] == "completed"


@needs_hf
def test_the_datasets_own_splits_are_used_and_missing_ones_carved_seeded(tmp_path):
    three = save_dict(
        tmp_path / "three",
        {"train": reviews(80, 0), "validation": reviews(30, 1), "test": reviews(40, 2)},
    )
    assert setup(path=str(three)).sizes() == {"train": 80, "val": 30, "test": 40}

    from datasets import Dataset

    single = tmp_path / "single"
    Dataset.from_dict(reviews(200, 3)).save_to_disk(str(single))
    a, b = setup(path=str(single), split_seed=5), setup(path=str(single), split_seed=5)
    assert a.sizes() == {"train": 144, "val": 16, "test": 40}
    assert a.fingerprint() == b.fingerprint()
    assert setup(path=str(single), split_seed=6).fingerprint() != a.fingerprint()


@needs_hf
def test_a_split_whose_labels_are_withheld_is_carved_from_train_instead(tmp_path):
    hidden = reviews(50, 1)
    hidden["label"] = [-1] * 50  # as in GLUE's test splits
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {"train": Dataset.from_dict(reviews(100, 0)), "test": Dataset.from_dict(hidden)}
    ).save_to_disk(str(tmp_path / "ds"))
    dm = setup(path=str(tmp_path / "ds"), test_fraction=0.2)
    assert dm.sizes() == {"train": 72, "val": 8, "test": 20}
    assert set(dm.splits["test"].y.tolist()) == {0, 1}


@needs_hf
def test_columns_and_split_names_come_from_config_and_string_labels_work(tmp_path):
    from datasets import Dataset, DatasetDict

    def renamed(n, seed):
        cols = reviews(n, seed)
        return {"sentence": cols["text"], "mood": ["happy" if v else "sad" for v in cols["label"]]}

    DatasetDict(
        {"fit": Dataset.from_dict(renamed(60, 0)), "holdout": Dataset.from_dict(renamed(20, 1))}
    ).save_to_disk(str(tmp_path / "ds"))
    dm = setup(
        path=str(tmp_path / "ds"),
        text_column="sentence",
        label_column="mood",
        train_split="fit",
        test_split="holdout",
    )
    assert dm.spec.class_names == ("happy", "sad")
    assert dm.sizes()["test"] == 20


@needs_hf
def test_the_word_vocabulary_is_built_on_the_training_split_only(tmp_path):
    test = reviews(20, 1)
    test["text"] = [t + " zebra" for t in test["text"]]  # a word only the test split has
    path = save_dict(tmp_path / "ds", {"train": reviews(60, 0), "test": test})
    dm = setup(path=str(path))
    assert "zebra" not in dm.vocab
    assert "superb" in dm.vocab
    assert (dm.splits["test"].x == 1).any()  # zebra reads as <unk>


@needs_hf
def test_a_tokenizers_tokenizer_from_a_local_path(train, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        reviews(100, 0)["text"], trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"])
    )
    (tmp_path / "tok").mkdir()
    tok.save(str(tmp_path / "tok" / "tokenizer.json"))
    path = save_dict(tmp_path / "ds", {"train": reviews(100, 0)})

    dm = setup(path=str(path), tokenizer=str(tmp_path / "tok"), max_length=12)
    assert dm.spec.vocab_size == tok.get_vocab_size()
    assert dm.spec.pad_id == tok.token_to_id("[PAD]")
    first = dm.splits["train"].x[0].tolist()
    assert first[-1] == dm.spec.pad_id  # 7 words, padded to 12 with the tokenizer's own PAD
    manifest, _ = train(
        "data=hf", f"data.path={path}", f"data.tokenizer={tmp_path / 'tok' / 'tokenizer.json'}"
    )
    assert manifest["status"] == "completed"


@needs_hf
def test_bad_columns_splits_and_paths_are_named(tmp_path):
    path = save_dict(tmp_path / "ds", {"train": reviews(40, 0)})
    with pytest.raises(
        GauntletError, match=r"no column 'review'; its columns are \['text', 'label'\]"
    ):
        setup(path=str(path), text_column="review")
    with pytest.raises(GauntletError, match=r"data.test_split='eval' is not a split.*\['train'\]"):
        setup(path=str(path), test_split="eval")
    with pytest.raises(GauntletError, match="is not a dataset written by save_to_disk"):
        setup(path=str(tmp_path))
    with pytest.raises(GauntletError, match=r"exactly one of data\.path"):
        HFDataModule()


@needs_hf
def test_an_unknown_hub_dataset_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    result = subprocess.run(
        [sys.executable, "-m", "gauntlet", "train", "data=hf", "data.name=no-such/dataset"],
        capture_output=True,
        text=True,
        env={**os.environ, "GAUNTLET_LOG_DIR": str(tmp_path), "WANDB_MODE": "offline"},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "data.name='no-such/dataset'" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_extra_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # what Python sees when it is absent
    with pytest.raises(GauntletError, match=r"pip install 'gauntlet\[hf\]'"):
        setup(path=str(tmp_path))
