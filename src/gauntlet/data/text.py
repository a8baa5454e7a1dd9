"""Text classification: texts and labels become fixed-length token ids.

``TextDataModule`` is the shared part: a subclass reads texts and labels per split; the
tokenizer is fitted on the training split only (after any validation and test rows have been
carved from it) and encodes every split. ``data.tokenizer`` chooses it:

- ``word`` (the default): a word vocabulary of the training split, ids 0 = PAD, 1 = UNK;
- a path (or a name in the Hugging Face cache): a ``tokenizers`` ``tokenizer.json``, or a
  ``transformers`` tokenizer where that package is installed.

``TextFileDataModule`` reads a local CSV (with a header) or JSONL file of ``text,label`` rows.

Sequences are cut to ``max_length`` tokens and padded with the tokenizer's padding id, on the
right by default (``padding_side``); the networks read a padding mask, so the side changes
nothing they compute. Cutting is never silent: the share of samples cut is the run's metric
``data/truncated_frac``, and a warning names ``data.max_length`` when it passes
``TRUNCATION_WARNING``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from annotated_types import Ge

from gauntlet.data.base import InMemoryDataModule, Split
from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError
from gauntlet.settings import PositiveInt

log = logging.getLogger(__name__)

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[\w']+|[^\w\s]")
# above this share of cut samples the run warns: a few long outliers are expected, more means
# the texts' ends are lost to the model
TRUNCATION_WARNING = 0.05
TRUNCATED_METRIC = "data/truncated_frac"


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


# -- tokenizers ------------------------------------------------------------------------------


class WordVocabulary:
    """The ``max_vocab`` most frequent words of the texts it is fitted on."""

    pad_id = 0

    def __init__(self, max_vocab: int = 20000, min_freq: int = 1) -> None:
        self.max_vocab, self.min_freq = max_vocab, min_freq
        self.vocab: list[str] = [PAD, UNK]
        self._ids: dict[str, int] = {}

    def fit(self, texts: list[str]) -> None:
        counts = Counter(tok for text in texts for tok in tokenize(text))
        common = [t for t, c in counts.most_common(self.max_vocab - 2) if c >= self.min_freq]
        self.vocab = [PAD, UNK, *common]
        self._ids = {t: i for i, t in enumerate(self.vocab)}

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Every text's ids, whole: cutting to length is the datamodule's, so it is counted."""
        return [[self._ids.get(t, 1) for t in tokenize(text)] for text in texts]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)


class PretrainedTokenizer:
    """A ready-made tokenizer: a ``tokenizers`` JSON file, or any ``transformers`` tokenizer.

    It is not fitted: its vocabulary came with it.
    """

    PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>", "[pad]")

    def __init__(self, source: str) -> None:
        self.source = source
        self.vocab: list[str] | None = None
        path = Path(source).expanduser()
        json_file = path / "tokenizer.json" if path.is_dir() else path
        if json_file.suffix == ".json" and json_file.is_file():
            self._load_tokenizers(json_file)
        else:
            self._load_transformers(source)

    def _load_tokenizers(self, file: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as err:
            raise GauntletError(
                f"data.tokenizer={self.source} needs the tokenizers package: "
                "pip install 'gauntlet[hf]'"
            ) from err
        try:
            tok = Tokenizer.from_file(str(file))
        except Exception as err:  # tokenizers raises plain Exceptions for a bad file
            raise GauntletError(f"data.tokenizer: {file} is not a tokenizers file ({err})") from err
        tok.no_padding()
        tok.no_truncation()
        self._encode = lambda texts: [e.ids for e in tok.encode_batch(texts)]
        self.vocab_size = tok.get_vocab_size()
        by_id = {i: t for t, i in tok.get_vocab().items()}
        self.vocab = [by_id.get(i, UNK) for i in range(self.vocab_size)]
        pads = [tok.token_to_id(t) for t in self.PAD_TOKENS]
        self.pad_id = next((i for i in pads if i is not None), 0)

    def _load_transformers(self, source: str) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as err:
            raise GauntletError(
                f"data.tokenizer={source!r}: no tokenizer.json there, and the transformers "
                "package (for other tokenizers) is not installed. Give a tokenizers JSON file "
                "or its folder, or 'word' for a vocabulary of the training split."
            ) from err
        try:
            tok = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as err:
            raise GauntletError(
                f"data.tokenizer={source!r}: not a local tokenizer folder, and not in the "
                f"Hugging Face cache or reachable ({err})"
            ) from err
        self._encode = lambda texts: tok(texts, add_special_tokens=True)["input_ids"]
        self.vocab_size = len(tok)
        self.vocab = list(tok.convert_ids_to_tokens(list(range(self.vocab_size))))
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0

    def fit(self, texts: list[str]) -> None:
        """Nothing to learn: the vocabulary came with the tokenizer."""

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Every text's ids, whole: cutting to length is the datamodule's, so it is counted."""
        return [list(ids) for ids in self._encode(texts)]


def make_tokenizer(
    name: str, max_vocab: int, min_freq: int
) -> WordVocabulary | PretrainedTokenizer:
    if name == "word":
        return WordVocabulary(max_vocab, min_freq)
    return PretrainedTokenizer(name)


# -- fixed length: cut, counted, padded -------------------------------------------------------


def truncated_fraction(lengths: Sequence[int] | np.ndarray, max_length: int) -> float:
    """The share of samples whose token count ``lengths`` exceeds ``max_length`` (0 for none)."""
    lengths = np.asarray(lengths)
    return float((lengths > max_length).mean()) if lengths.size else 0.0


def report_truncation(
    lengths: Sequence[int] | np.ndarray, max_length: int, key: str = "data.max_length"
) -> dict[str, float]:
    """``{"data/truncated_frac": share}`` of samples longer than ``max_length``, logged, and a
    warning naming ``key`` when the share passes ``TRUNCATION_WARNING``."""
    lengths = np.asarray(lengths)
    share = truncated_fraction(lengths, max_length)
    if share > TRUNCATION_WARNING:
        log.warning(
            "%s=%d cuts %.1f%% of the samples (%d of %d; the longest has %d tokens): their ends "
            "are never read. Raise %s (the 95th percentile is %d tokens)",
            key,
            max_length,
            100 * share,
            int((lengths > max_length).sum()),
            lengths.size,
            int(lengths.max()),
            key,
            int(np.percentile(lengths, 95)),
        )
    elif share > 0:
        log.info("%s=%d cuts %.2f%% of the samples", key, max_length, 100 * share)
    return {TRUNCATED_METRIC: share}


def pad_rows(
    rows: list[list[int]], max_length: int, pad_id: int, side: str = "right"
) -> torch.Tensor:
    """(N, max_length) ids: each row cut to ``max_length`` and padded with ``pad_id`` on ``side``."""
    out = torch.full((len(rows), max_length), pad_id, dtype=torch.long)
    for i, ids in enumerate(rows):
        ids = ids[:max_length]
        if not ids:
            continue
        if side == "left":
            out[i, max_length - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        else:
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


# -- the shared datamodule -------------------------------------------------------------------


class TextDataModule(InMemoryDataModule):
    """Subclasses implement ``read_texts()``: per split, the texts and their label ids, and set
    ``self.classes`` to the label names."""

    def __init__(
        self,
        max_length: PositiveInt = 64,
        tokenizer: str = "word",
        max_vocab: Annotated[int, Ge(2)] = 20000,  # PAD and UNK at least
        min_freq: PositiveInt = 1,
        padding_side: Literal["right", "left"] = "right",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.padding_side = padding_side
        self.data_metrics: dict[str, float] = {}
        self.max_length, self.max_vocab, self.min_freq = max_length, max_vocab, min_freq
        self.tokenizer_name = tokenizer
        self.tokenizer: WordVocabulary | PretrainedTokenizer | None = None
        self.classes: list[str] = []
        self._texts: list[str] = []

    def read_texts(self) -> dict[str, tuple[list[str], np.ndarray]]:
        raise NotImplementedError

    def load(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        # x holds row numbers until the splits are known; ids come from the train split's fit
        out, self._texts = {}, []
        for name, (texts, labels) in self.read_texts().items():
            start = len(self._texts)
            self._texts.extend(texts)
            out[name] = (np.arange(start, len(self._texts)), np.asarray(labels, dtype=np.int64))
        return out

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        super().setup(stage)
        self.tokenizer = make_tokenizer(self.tokenizer_name, self.max_vocab, self.min_freq)
        self.tokenizer.fit([self._texts[i] for i in self.splits["train"].x.tolist()])
        pad = self.tokenizer.pad_id
        lengths: list[int] = []
        for name, split in self.splits.items():
            rows = self.tokenizer.encode([self._texts[i] for i in split.x.tolist()])
            lengths.extend(len(ids) for ids in rows)
            encoded = pad_rows(rows, self.max_length, pad, self.padding_side)
            self.splits[name] = Split(encoded, split.y)
        self.data_metrics = report_truncation(lengths, self.max_length)
        self._spec = self.make_spec(self.splits)

    @property
    def vocab(self) -> list[str]:
        """The token of each id (empty before ``setup``)."""
        return list(getattr(self.tokenizer, "vocab", None) or [])

    def to_tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.long)

    def make_spec(self, splits: dict[str, Split]) -> InputSpec:
        tok = self.tokenizer
        vocab = self.vocab
        return InputSpec(
            modality="tokens",
            shape=(self.max_length,),
            num_classes=len(self.classes),
            vocab_size=max(tok.vocab_size if tok else 2, 2),
            pad_id=tok.pad_id if tok else 0,
            class_names=tuple(self.classes),
            vocab=tuple(vocab) if vocab else None,
        )


# -- local files -----------------------------------------------------------------------------


def read_rows(
    path: Path, text_key: str = "text", label_key: str = "label"
) -> list[tuple[str, str]]:
    """Rows of (text, label) from a .csv (with a header) or .jsonl file.

    A row without a label (or a text) is an error naming the file and its line.
    """
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
                        text, label = obj[text_key], obj[label_key]
                    except (json.JSONDecodeError, KeyError, TypeError) as err:
                        raise GauntletError(
                            f"data.path: {path}, line {lineno}: expected a JSON object with "
                            f"'{text_key}' and '{label_key}' ({type(err).__name__}: {err})"
                        ) from err
                    if label is None or str(label) == "":
                        raise GauntletError(
                            f"data.path: {path}, line {lineno}: the '{label_key}' field is empty"
                        )
                    rows.append((str(text), str(label)))
        else:
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                missing = {text_key, label_key} - set(reader.fieldnames or [])
                if missing:
                    raise GauntletError(
                        f"data.path: {path} has columns {reader.fieldnames}; "
                        f"it needs '{text_key}' and '{label_key}'"
                    )
                for row in reader:
                    text, label = row[text_key], row[label_key]
                    # DictReader fills the fields a short row lacks with None
                    for key, value in ((label_key, label), (text_key, text)):
                        if value is None or (key == label_key and value.strip() == ""):
                            raise GauntletError(
                                f"data.path: {path}, line {reader.line_num}: the row has no "
                                f"'{key}' field (the header names {reader.fieldnames})"
                            )
                    rows.append((text, label))
    except UnicodeDecodeError as err:
        raise GauntletError(f"data.path: {path} is not UTF-8 text ({err})") from err
    except csv.Error as err:
        raise GauntletError(f"data.path: {path} is not a readable CSV file ({err})") from err
    if len(rows) < 10:
        raise GauntletError(f"data.path: {path} has {len(rows)} rows; at least 10 are needed")
    return rows


class TextFileDataModule(TextDataModule):
    """A local CSV/JSONL file; its labels are sorted to class ids."""

    def __init__(
        self, path: str, text_column: str = "text", label_column: str = "label", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)
        self.text_column, self.label_column = text_column, label_column

    def read_texts(self) -> dict[str, tuple[list[str], np.ndarray]]:
        rows = read_rows(self.path, self.text_column, self.label_column)
        self.classes = sorted({label for _, label in rows})
        if len(self.classes) < 2:
            raise GauntletError(f"data.path: {self.path} has only one label {self.classes}")
        index = {c: i for i, c in enumerate(self.classes)}
        labels = np.array([index[label] for _, label in rows], dtype=np.int64)
        return {"train": ([text for text, _ in rows], labels)}
