"""``gauntlet data pack --to DIR [--shard-size 256MB] OVERRIDES...``: any dataset as shards.

The overrides choose the data as for ``gauntlet train`` (``data=image_folder data.root=...``,
``data=arrays data.path=...``, ``data=hf ...``, ``data=cifar10 ...``, even ``data=shards`` to
pack again with another size). Its train, val and test splits, as the datamodule gives them
(split, cut by ``data.fraction``, with synthetic samples under ``synthesize=``), are written as
Arrow IPC stream files of about ``--shard-size`` bytes each: one fixed-size binary column ``x``
(the sample's array, row-major) and an int64 column ``y``. Any shard opens with pyarrow
(``pa.ipc.open_stream``) or Hugging Face ``datasets`` (``Dataset.from_file``).

``DIR/pack.json`` records the input spec, the class map, the split sizes and shard layout,
the fingerprint (the same hash ``train`` records for the in-memory data) and the source. It is
written last, so a folder without it is not a pack. ``DIR`` may be any fsspec URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import numpy as np

from gauntlet.data.spec import InputSpec
from gauntlet.errors import GauntletError, from_constructor

log = logging.getLogger(__name__)

PACK_FILE = "pack.json"
FORMAT = "gauntlet-shards"
VERSION = 1
SPLITS = ("train", "val", "test")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """``256MB``, ``64mb``, ``1.5GiB``, ``1000000`` -> bytes (binary units)."""
    match = _SIZE.match(str(text))
    if not match:
        raise GauntletError(f"--shard-size={text!r}: expected a size such as 256MB, 64MB, 1GB")
    unit = (match.group(2) or "").lower().rstrip("b").rstrip("i")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise GauntletError(f"--shard-size={text!r}: must be at least one byte")
    return size


def filesystem(url: str, storage_options: dict | None = None):
    """(fsspec filesystem, path within it) for a local folder or a URL."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except (ImportError, ValueError) as err:
        raise GauntletError(f"{url}: no filesystem for this URL ({err})") from err


def spec_record(spec: InputSpec, dtype: np.dtype) -> dict[str, Any]:
    record = asdict(spec)
    record["shape"] = list(spec.shape)
    record["dtype"] = np.dtype(dtype).str
    return record


def spec_from_record(record: dict[str, Any]) -> InputSpec:
    fields = {k: v for k, v in record.items() if k != "dtype"}
    fields["shape"] = tuple(fields["shape"])
    for key in ("value_range", "class_names", "vocab"):
        if fields.get(key) is not None:
            fields[key] = tuple(fields[key])
    return InputSpec(**fields)


def split_chunks(datamodule: Any, name: str, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A split's samples as numpy chunks: streamed where the datamodule streams, else sliced
    from its tensors."""
    from gauntlet.data.base import InMemoryDataModule

    if not (isinstance(datamodule, InMemoryDataModule) and datamodule.splits):
        yield from datamodule.stream_split(name, chunk)
        return
    split = datamodule.splits[name]
    for start in range(0, len(split), chunk):
        x = split.x[start : start + chunk].detach().cpu().numpy()
        yield x, split.y[start : start + chunk].detach().cpu().numpy().astype(np.int64)


class ShardWriter:
    """Writes one split's samples into shards of ``rows`` samples each (the last may be short)."""

    def __init__(self, fs: Any, root: str, split: str, rows: int) -> None:
        self.fs, self.root, self.split, self.rows = fs, root, split, rows
        self.shards: list[dict[str, Any]] = []
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._buffered = 0
        self.dtype: np.dtype | None = None
        self.shape: tuple[int, ...] | None = None

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.dtype is None:
            self.dtype, self.shape = x.dtype, tuple(x.shape[1:])
        self._x.append(np.ascontiguousarray(x))
        self._y.append(y)
        self._buffered += len(y)
        while self._buffered >= self.rows:
            self._flush(self.rows)

    def close(self) -> list[dict[str, Any]]:
        if self._buffered:
            self._flush(self._buffered)
        return self.shards

    def _flush(self, count: int) -> None:
        import pyarrow as pa

        x, y = np.concatenate(self._x), np.concatenate(self._y)
        self._x, self._y = [x[count:]], [y[count:]]
        self._buffered = len(y) - count
        x, y = x[:count], y[:count]
        width = int(np.prod(x.shape[1:])) * x.dtype.itemsize
        column = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), count, [None, pa.py_buffer(x.tobytes())]
        )
        table = pa.table({"x": column, "y": pa.array(y, type=pa.int64())})
        name = f"{self.split}/{len(self.shards):05d}.arrow"
        with (
            self.fs.open(f"{self.root}/{name}", "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table)
        self.shards.append({"file": name, "rows": count})
        log.info("wrote %s (%d samples)", name, count)


def pack(
    datamodule: Any,
    to: str,
    shard_bytes: int,
    source: dict[str, Any],
    storage_options: dict | None = None,
) -> dict[str, Any]:
    """Write the datamodule's splits as shards under ``to``; returns the pack record."""
    fs, root = filesystem(to, storage_options)
    root = root.rstrip("/")
    if fs.exists(root) and fs.ls(root):
        if not fs.exists(f"{root}/{PACK_FILE}"):
            raise GauntletError(
                f"--to {to}: the folder is not empty and holds no {PACK_FILE}; give a new or "
                "empty folder (an earlier pack there is replaced)"
            )
        log.info("replacing the pack in %s", to)
        fs.rm(f"{root}/{PACK_FILE}")
        for split in SPLITS:
            if fs.exists(f"{root}/{split}"):
                fs.rm(f"{root}/{split}", recursive=True)
    with from_constructor("data"):
        datamodule.setup("fit")
    spec = datamodule.spec
    digest = hashlib.sha256()
    splits: dict[str, Any] = {}
    dtype = None
    for split in SPLITS:
        fs.makedirs(f"{root}/{split}", exist_ok=True)
        writer: ShardWriter | None = None
        total = 0
        for x, y in split_chunks(datamodule, split, 1024):
            if writer is None:
                sample = int(np.prod(x.shape[1:])) * x.dtype.itemsize + 8
                writer = ShardWriter(fs, root, split, max(1, shard_bytes // sample))
                dtype = x.dtype
            digest.update(np.ascontiguousarray(x).tobytes())
            digest.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
            writer.add(x, y)
            total += len(y)
        if writer is None or total == 0:
            raise GauntletError(f"data pack: the {split} split is empty; nothing to pack")
        splits[split] = {"samples": total, "shards": writer.close()}
    record = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "spec": spec_record(spec, dtype),
        "class_map": {name: i for i, name in enumerate(spec.class_names or ())},
        "sizes": {split: info["samples"] for split, info in splits.items()},
        "datamodule_sizes": datamodule.sizes(),
        "fingerprint": digest.hexdigest()[:16],
        "shard_bytes": shard_bytes,
        "splits": splits,
        "source": source,
    }
    with fs.open(f"{root}/{PACK_FILE}.tmp", "w") as f:
        f.write(json.dumps(record, indent=2))
    fs.mv(f"{root}/{PACK_FILE}.tmp", f"{root}/{PACK_FILE}")
    return record


def read_record(path: str, storage_options: dict | None = None) -> dict[str, Any]:
    fs, root = filesystem(path, storage_options)
    file = f"{root.rstrip('/')}/{PACK_FILE}"
    if not fs.exists(file):
        raise GauntletError(
            f"data.path={path}: no {PACK_FILE} there; write shards with "
            "gauntlet data pack --to DIR OVERRIDES..."
        )
    try:
        with fs.open(file, "r") as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        raise GauntletError(f"data.path={path}: {PACK_FILE} is not readable ({err})") from err
    if record.get("format") != FORMAT or record.get("version") != VERSION:
        raise GauntletError(
            f"data.path={path}: {PACK_FILE} is not a {FORMAT} v{VERSION} record; pack again"
        )
    return record
