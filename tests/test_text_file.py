"""data=text_file: a row without its label is refused, naming the file and the line."""

from __future__ import annotations

import json

import pytest

from gauntlet.data.text import TextFileDataModule
from gauntlet.errors import GauntletError


def rows(n: int) -> list[tuple[str, str]]:
    return [(f"text number {i}", "pos" if i % 2 else "neg") for i in range(n)]


def test_a_csv_row_without_a_label_names_the_file_and_line(tmp_path):
    path = tmp_path / "reviews.csv"
    lines = ["text,label", *(f"{t},{y}" for t, y in rows(12))]
    lines[6] = "a row that lost its label"  # line 7 of the file
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GauntletError, match=r"reviews\.csv, line 7: the row has no 'label'"):
        TextFileDataModule(path=str(path)).setup()


def test_a_csv_row_with_an_empty_label_is_refused_too(tmp_path):
    path = tmp_path / "reviews.csv"
    lines = ["text,label", *(f"{t},{y}" for t, y in rows(12))]
    lines[3] = "no label here,"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GauntletError, match=r"line 4: the row has no 'label'"):
        TextFileDataModule(path=str(path)).setup()


def test_a_jsonl_row_without_a_label_names_the_file_and_line(tmp_path):
    path = tmp_path / "reviews.jsonl"
    objs = [{"text": t, "label": y} for t, y in rows(12)]
    del objs[4]["label"]
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n")
    with pytest.raises(GauntletError, match=r"reviews\.jsonl, line 5: expected a JSON object"):
        TextFileDataModule(path=str(path)).setup()


def test_a_well_formed_file_still_loads(text_file):
    dm = TextFileDataModule(path=str(text_file))
    dm.setup()
    assert dm.spec.class_names == ("neg", "pos")
    assert dm.vocab[:2] == ["<pad>", "<unk>"]
    assert sum(dm.sizes().values()) == 240


def test_a_tokenizer_path_that_holds_no_tokenizer_is_named(text_file, tmp_path):
    missing = tmp_path / "no_tokenizer_here"
    dm = TextFileDataModule(path=str(text_file), tokenizer=str(missing))
    with pytest.raises(GauntletError, match=r"data\.tokenizer=.*no_tokenizer_here"):
        dm.setup()


def test_a_corrupt_tokenizer_file_is_named(text_file, tmp_path):
    pytest.importorskip("tokenizers", reason="the hf extra is not installed")
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"not": "a tokenizer"}')
    dm = TextFileDataModule(path=str(text_file), tokenizer=str(bad))
    with pytest.raises(GauntletError, match=r"tokenizer\.json is not a tokenizers file"):
        dm.setup()
