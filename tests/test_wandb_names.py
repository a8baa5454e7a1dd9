"""How runs appear in W&B: names, groups, job types and tags, read back from the offline run."""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

# wandb's run file: a 7-byte header, then records in 32 KiB blocks, each piece behind a 7-byte
# header (checksum, length, kind: 1 whole, 2 first, 3 middle, 4 last piece of a record)
_HEADER, _BLOCK, _PIECE = 7, 32768, 7


def run_record(path: Path) -> wandb_internal_pb2.RunRecord:
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, pending = _HEADER, b""
    while position + _PIECE <= len(data):
        left = _BLOCK - position % _BLOCK
        if left < _PIECE:  # the end of a block is padding
            position += left
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[position : position + _PIECE])
        position += _PIECE
        piece = data[position : position + length]
        position += length
        pending = piece if kind in (1, 2) else pending + piece
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            if record.WhichOneof("record_type") == "run":
                return record.run
    raise AssertionError(f"no run record in {path}")


def test_a_study_run_is_named_grouped_and_tagged_for_the_wandb_runs_table(train):
    import wandb

    manifest, run_dir = train("study=ablation", "seed=4", "tags=[mine]")
    wandb.teardown()  # what the end of the process does: wait for the run file to be written
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    run = run_record(wandb_file)
    run_id = manifest["run_id"]
    assert run.run_id == run_id
    assert run.display_name == f"{manifest['experiment']}-s4-{run_id[-6:]}"
    assert run.run_group == "ablation"  # the study, so its seeds sit together
    assert run.job_type == "train"
    assert list(run.tags) == ["mine", "seed:4", "study:ablation", "smoke"]
