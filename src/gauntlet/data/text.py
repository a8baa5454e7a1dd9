"""Text classification from a local CSV or JSONL file of ``text,label`` rows."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[\w']+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def read_rows(
    path: Path, text_key: str = "text", label_key: str = "label"
) -> list[tuple[str, str]]:
    """Rows of (text, label) from a .csv (with a header) or .jsonl file."""
    if not path.is_file():
        raise GauntletError(f"data.path: text file {path} does not exist")
    rows: list[tuple[str, str]] = []
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            with path.open(encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                        rows.append((str(obj[text_key]), str(obj[label_key])))
                    except (json.JSONDecodeError, KeyError, TypeError) as err:
                        raise GauntletError(
                            f"data.path: {path}, line {lineno}: expected a JSON object with "
                            f"'{text_key}' and '{label_key}' ({err})"
                        ) from err
        else:
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                missing = {text_key, label_key} - set(reader.fieldnames or [])
                if missing:
                    raise GauntletError(
                        f"data.path: {path} has columns {reader.fieldnames}; "
                        f"it needs '{text_key}' and '{label_key}'"
                    )
                rows = [(r[text_key], r[label_key]) for r in reader]
    except UnicodeDecodeError as err:
        raise GauntletError(f"data.path: {path} is not UTF-8 text ({err})") from err
    if len(rows) < 10:
        raise GauntletError(f"data.path: {path} has {len(rows)} rows; at least 10 are needed")
    return rows


class TextFileDataModule(InMemoryDataModule):
    """Builds a vocabulary from the training split only; ids: 0 = PAD, 1 = UNK."""

    def __init__(
        self,
        path: str,
        text_key: str = "text",
        label_key: str = "label",
        max_len: int = 64,
        max_vocab: int = 20000,
        min_freq: int = 1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)
        self.text_key, self.label_key = text_key, label_key
        self.max_len, self.max_vocab, self.min_freq = max_len, max_vocab, min_freq
        self.vocab: list[str] = []
        self.classes: list[str] = []
        self._texts: list[list[str]] = []

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rows = read_rows(self.path, self.text_key, self.label_key)
        self.classes = sorted({label for _, label in rows})
        if len(self.classes) < 2:
            raise GauntletError(f"data.path: {self.path} has only one label {self.classes}")
        index = {c: i for i, c in enumerate(self.classes)}
        self._texts = [tokenize(text) for text, _ in rows]
        # x holds row numbers until the splits are known; ids come from the train split's vocab
        x = np.arange(len(rows))
        y = np.array([index[label] for _, label in rows], dtype=np.int64)
        return {"train": (x, y)}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        super().setup(stage)
        counts = Counter(tok for i in self.splits["train"].x.tolist() for tok in self._texts[i])
        common = [t for t, c in counts.most_common(self.max_vocab - 2) if c >= self.min_freq]
        self.vocab = [PAD, UNK, *common]
        ids = {t: i for i, t in enumerate(self.vocab)}
        for name, split in self.splits.items():
            encoded = torch.zeros(len(split), self.max_len, dtype=torch.long)
            for row, i in enumerate(split.x.tolist()):
                toks = [ids.get(t, 1) for t in self._texts[i][: self.max_len]]
                encoded[row, : len(toks)] = torch.tensor(toks, dtype=torch.long)
            self.splits[name] = Split(encoded, split.y)
        self._spec = self.make_spec(self.splits)

    def to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.long)

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        return InputSpec(
            modality="tokens",
            shape=(self.max_len,),
            num_classes=len(self.classes),
            vocab_size=max(len(self.vocab), 2),
            pad_id=0,
            class_names=tuple(self.classes),
            vocab=tuple(self.vocab) or None,
        )
