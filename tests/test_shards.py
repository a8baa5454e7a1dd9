"""``gauntlet data pack`` and ``data=shards``: shards written from image folders and arrays,
trained on, evaluated, explained and attacked; a seeded order split across ranks and workers
without duplicates; exact mid-epoch resume, and a resume on re-packed shards refused."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from _image_files import write_folder
from gauntlet.data import epoch_plan
from gauntlet.data.shards import ShardsDataModule
from gauntlet.errors import GauntletError

LEARN = [
    "logger=csv",
    "model=cnn",
    "model.net.hidden=8",
    "model.net.depth=2",
    "model.optimizer.lr=0.01",
    "data.batch_size=8",
    "trainer.max_epochs=5",
    "trainer.limit_train_batches=null",
    "trainer.limit_val_batches=null",
    "trainer.limit_test_batches=null",
]


def gauntlet_main(*argv: str) -> int:
    from gauntlet.cli import main

    return main(list(argv))


def pack(to: Path, *overrides: str, shard_size: str = "2KB") -> dict:
    assert (
        gauntlet_main("data", "pack", "--to", str(to), "--shard-size", shard_size, *overrides) == 0
    )
    return json.loads((to / "pack.json").read_text())


def id_arrays(path: Path, n: int = 60) -> Path:
    """Sequences whose first value is the sample's own number, so a test can see which samples
    a loader gave; val and test given, so the train split is every number 0..n-1."""

    def part(start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.arange(start, start + count)
        x = np.zeros((count, 4, 1), dtype=np.float32)
        x[:, 0, 0] = ids
        x[:, 1:, 0] = (ids % 2)[:, None]  # the label is readable: a network can learn it
        return x, ids % 2

    (xt, yt), (xv, yv), (xs, ys) = part(0, n), part(1000, 10), part(2000, 10)
    np.savez(path, x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)
    return path


def shards(path: Path, **kwargs) -> ShardsDataModule:
    dm = ShardsDataModule(path=str(path), **kwargs)
    dm.setup()
    return dm


def ids(batches) -> list[list[int]]:
    return [x[:, 0, 0].long().tolist() for x, _ in batches]


@pytest.fixture
def id_pack(tmp_path) -> Path:
    # 24 bytes a sample, 168-byte shards: 7 samples each, 9 training shards (the last of 4)
    return (
        pack(
            tmp_path / "ids",
            "data=arrays",
            f"data.path={id_arrays(tmp_path / 'ids.npz')}",
            shard_size="168",
        )
        and tmp_path / "ids"
    )


# -- pack ------------------------------------------------------------------------------------


def test_pack_records_the_spec_class_map_sizes_and_fingerprint(tmp_path):
    from gauntlet.data.image_folder import ImageFolderDataModule

    root = write_folder(tmp_path / "pictures", per_class=20)
    record = pack(tmp_path / "shards", "data=image_folder", f"data.root={root}")
    assert record["class_map"] == {"cat": 0, "dog": 1, "owl": 2}
    assert record["sizes"] == {"train": 42, "val": 6, "test": 12}
    assert record["spec"]["shape"] == [1, 12, 12] and record["spec"]["dtype"] == "<f4"
    assert record["source"]["overrides"] == ["data=image_folder", f"data.root={root}"]
    # 12x12 floats + a label = 584 bytes: 3 samples per 2KB shard
    assert [s["rows"] for s in record["splits"]["train"]["shards"]] == [3] * 14
    # the same hash `train` records for the in-memory data
    memory = ImageFolderDataModule(root=str(root), val_fraction=0.1)
    memory.setup()
    assert record["fingerprint"] == memory.fingerprint()
    # each shard is a plain Arrow stream file
    import pyarrow as pa

    with pa.OSFile(str(tmp_path / "shards" / "train" / "00000.arrow")) as f:
        table = pa.ipc.open_stream(f).read_all()
    assert table.column_names == ["x", "y"] and table.num_rows == 3


def test_pack_refuses_a_folder_that_holds_something_else(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code = gauntlet_main("data", "pack", "--to", str(tmp_path / "busy"), "data=digits")
    assert code == 2
    assert "not empty and holds no pack.json" in capsys.readouterr().err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert gauntlet_main("data", "pack", "--to", "x", "--shard-size", "lots", "data=digits") == 2
    assert "--shard-size='lots': expected a size such as 256MB" in capsys.readouterr().err


def test_pack_names_the_data_key_of_a_bad_value(tmp_path, capsys):
    # the datamodule's own check, reported the way `gauntlet train` reports it
    to = tmp_path / "pack"
    assert gauntlet_main("data", "pack", "--to", str(to), "data=digits", "data.batch_size=0") == 2
    err = capsys.readouterr().err
    assert "data.batch_size must be >= 1, got 0" in err
    assert "Traceback" not in err and not (to / "pack.json").exists()


# -- train, eval, explain, attack ------------------------------------------------------------


def test_shards_of_a_folder_train_evaluate_explain_and_attack(
    train, tmp_path, capsys, monkeypatch, caplog
):
    root = write_folder(tmp_path / "pictures", per_class=20)
    pack(tmp_path / "shards", "data=image_folder", f"data.root={root}")
    manifest, run_dir = train(
        "data=shards", f"data.path={tmp_path / 'shards'}", "data.num_workers=2", *LEARN
    )
    assert manifest["data_sizes"] == {"train": 42, "val": 6, "test": 12, "test_sample": 12}
    assert manifest["class_map"] == {"cat": 0, "dog": 1, "owl": 2}
    assert manifest["metrics"]["test/acc"] > 0.6  # chance is 1/3
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    from gauntlet.eval import evaluate

    assert 0.0 <= evaluate(ckpt)["test/acc"] <= 1.0
    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    assert gauntlet_main("explain", f"ckpt_path={ckpt}", "method=saliency", "n=4") == 0
    assert gauntlet_main("attack", f"ckpt_path={ckpt}", "eps=[0.0,0.1]") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "saliency on 4 test samples" in out and "FGSM on 12 test samples" in out


def test_shards_of_arrays_train_and_sample_their_test_split(train, id_pack):
    manifest, _ = train(
        "data=shards", f"data.path={id_pack}", "data.eval_sample=6", "data.batch_size=8"
    )
    assert manifest["data_sizes"] == {"train": 60, "val": 10, "test": 10, "test_sample": 6}
    dm = shards(id_pack, eval_sample=6, split_seed=1)
    sample = dm.test_x[:, 0, 0].long().tolist()
    assert len(sample) == 6 and len(set(sample)) == 6 and set(sample) <= set(range(2000, 2010))
    assert shards(id_pack, eval_sample=6, split_seed=1).test_x[:, 0, 0].long().tolist() == sample


# -- order, ranks, workers -------------------------------------------------------------------


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_each_sample_is_read_once_per_epoch_across_ranks_and_workers(world, workers):
    rows = [7] * 8 + [4]
    seen, lengths = [], []
    for rank in range(world):
        shards_of = epoch_plan.worker_shards(rows, 5, 2, rank, world, workers, True)
        per_worker = [epoch_plan.worker_batches(rows, s, 8, 5, 2, True) for s in shards_of]
        # workers read disjoint shards
        flat = [int(s) for s in np.concatenate(shards_of)]
        assert len(flat) == len(set(flat))
        plan = epoch_plan.rank_batches(rows, 8, 5, 2, rank, world, workers, True)
        lengths.append(len(plan))
        seen += [tuple(r) for w, n in plan for r in per_worker[w][n]]
    assert len(set(lengths)) == 1  # every rank runs the same number of steps
    assert len(seen) == len(set(seen))  # no sample twice
    if world == 1:
        assert len(seen) == sum(rows)


def test_the_loader_follows_the_plan_and_the_order_is_a_function_of_seed_and_epoch(id_pack):
    dm = shards(id_pack, batch_size=8, num_workers=2, seed=7)
    loader = dm.train_dataloader()
    first = ids(loader)
    assert sorted(i for b in first for i in b) == list(range(60))
    assert ids(loader) == first  # the same (seed, epoch): the same batches
    assert ids(shards(id_pack, batch_size=8, num_workers=2, seed=7).train_dataloader()) == first
    assert ids(shards(id_pack, batch_size=8, num_workers=2, seed=8).train_dataloader()) != first
    # the plan's order is what the DataLoader's workers deliver
    rows = dm.files["train"].rows
    starts = np.cumsum([0, *rows])
    per_worker = [
        epoch_plan.worker_batches(rows, s, 8, 7, 0, True)
        for s in epoch_plan.worker_shards(rows, 7, 0, 0, 1, 2, True)
    ]
    planned = [
        [int(starts[s] + r) for s, r in per_worker[w][n]]
        for w, n in epoch_plan.rank_batches(rows, 8, 7, 0, 0, 1, 2, True)
    ]
    assert first == planned


def test_a_resumed_loader_yields_exactly_the_rest_of_its_epoch(id_pack):
    loader = shards(id_pack, batch_size=8, num_workers=2, seed=7).train_dataloader()
    whole = ids(loader)
    resumed = shards(id_pack, batch_size=8, num_workers=2, seed=7).train_dataloader()
    for skip in range(len(whole) + 1):  # wherever the epoch was cut, with either worker next
        resumed.load_state_dict({**loader.state_dict(), "batches": skip})
        assert ids(resumed) == whole[skip:]
    assert ids(resumed) == whole  # the next pass is a whole epoch again


def test_a_checkpoint_from_shards_packed_again_with_another_size_is_refused(
    train, tmp_path, id_pack, monkeypatch, capsys
):
    """The order depends on the shard layout: a mid-epoch resume on another layout could not
    skip the batches it trained on, so it is refused (not silently inexact)."""
    _, run_dir = train(
        "data=shards",
        f"data.path={id_pack}",
        "data.batch_size=4",
        "trainer.max_steps=5",
        "trainer.limit_train_batches=null",
        "+callbacks.model_checkpoint.every_n_train_steps=5",
    )
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["loops"]
    assert state["fit_loop"]["state_dict"]["combined_loader"][0]["batches"] == 5
    pack(
        id_pack,
        "data=arrays",
        f"data.path={tmp_path / 'ids.npz'}",
        shard_size="240",
    )
    monkeypatch.setattr(sys, "argv", ["gauntlet"])
    with pytest.raises(SystemExit) as exit_:
        gauntlet_main(
            "train",
            "data=shards",
            f"data.path={id_pack}",
            "data.batch_size=4",
            "trainer.max_steps=8",
            "ckpt_path=last",
            f"hydra.run.dir={run_dir}",
            f"paths.log_dir={tmp_path}",
            "logger=csv",
            "trainer.enable_progress_bar=false",
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "written while training on another layout of the data" in err
    assert "packed again (another --shard-size" in err


# -- levers that need the whole set in memory ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.fraction=0.5"], r"data.fraction on data=shards.*data pack --to DIR data.fraction"),
        (["data.samples_per_class=3"], r"data.samples_per_class on data=shards"),
        (["synthesize=gmm"], r"synthesize= on data=shards.*writes the synthetic samples"),
    ],
)
def test_levers_that_need_the_whole_set_are_refused_with_the_alternative(
    train, id_pack, overrides, message
):
    with pytest.raises(GauntletError, match=message):
        train("data=shards", f"data.path={id_pack}", *overrides)


def test_concat_of_shards_is_refused_with_the_alternative(id_pack):
    from gauntlet.data.concat import ConcatDataModule

    with pytest.raises(GauntletError, match=r"datasets\[0\]: ShardsDataModule streams its data"):
        ConcatDataModule(datasets=[ShardsDataModule(path=str(id_pack))])


def test_a_path_without_a_pack_names_the_command_that_writes_one(tmp_path):
    with pytest.raises(
        GauntletError, match=r"no pack\.json there; write shards with gauntlet data"
    ):
        shards(tmp_path)


# -- DDP and kill -9 (real processes) --------------------------------------------------------

SEEN_IDS = '''
import os
import pytorch_lightning as pl


class SeenIds(pl.Callback):
    """Appends the sample numbers of every training batch to seen-<rank>.txt."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        ids = batch[0][:, 0, 0].long().tolist()
        with open(f"seen-{trainer.global_rank}-{trainer.current_epoch}.txt", "a") as f:
            f.write(" ".join(map(str, ids)) + "\\n")
'''


KILL_AT = '''
import os
import signal
import time

import pytorch_lightning as pl


class KillAt(pl.Callback):
    """SIGKILLs the run at step 40 (in the second epoch, of about 30 steps), once the
    checkpoint written at step 38 is on disk."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == 40:
            trainer.strategy.checkpoint_io.wait()  # the background writes are done
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
'''


def gauntlet_process(*args: str, cwd: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "GAUNTLET_LEADERBOARD_URL": "",
        "GAUNTLET_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gauntlet", "train", *args, f"paths.log_dir={cwd / 'logs'}"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_ddp_ranks_read_each_sample_once_per_epoch(tmp_path, id_pack):
    (tmp_path / "seen_ids.py").write_text(SEEN_IDS)
    proc = gauntlet_process(
        "data=shards",
        f"data.path={id_pack}",
        "data.batch_size=4",
        "data.num_workers=2",
        "trainer=ddp_cpu",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "model.net.hidden=16",
        "+callbacks.seen._target_=seen_ids.SeenIds",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    rows = [7] * 8 + [4]
    for epoch in range(2):
        per_rank = [
            [
                int(i)
                for line in (tmp_path / f"seen-{r}-{epoch}.txt").read_text().split("\n")
                for i in line.split()
            ]
            for r in range(2)
        ]
        both = per_rank[0] + per_rank[1]
        assert len(both) == len(set(both))  # no sample on two ranks, none twice
        assert set(both) <= set(range(60))
        expected = sum(
            len(b)
            for r in range(2)
            for w, n in epoch_plan.rank_batches(rows, 4, 42, epoch, r, 2, 2, True)
            for b in [
                epoch_plan.worker_batches(
                    rows,
                    epoch_plan.worker_shards(rows, 42, epoch, r, 2, 2, True)[w],
                    4,
                    42,
                    epoch,
                    True,
                )[n]
            ]
        )
        assert len(both) == expected  # what the plan gives: all but the documented remainder
        assert len(both) >= 60 - 7  # at most the samples one rank holds beyond the other


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_metrics_of_an_unbroken_run(tmp_path, id_pack):
    run = [
        "data=shards",
        f"data.path={id_pack}",
        "data.batch_size=2",
        "data.num_workers=2",
        "trainer.max_epochs=2",
        "trainer.deterministic=true",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "model.net.hidden=16",
        "model.net.dropout=0.3",
        "+callbacks.model_checkpoint.every_n_train_steps=38",
    ]
    whole = gauntlet_process(*run, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    out, _ = whole.communicate(timeout=600)
    assert whole.returncode == 0, out[-3000:]

    killed_dir = tmp_path / "killed"
    (tmp_path / "kill_at.py").write_text(KILL_AT)
    proc = gauntlet_process(
        *run,
        "+callbacks.kill._target_=kill_at.KillAt",
        f"hydra.run.dir={killed_dir}",
        cwd=tmp_path,
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL, out[-3000:]
    last = killed_dir / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=False)["loops"]["fit_loop"]["state_dict"]
    (loader,) = state["combined_loader"]
    per_epoch = epoch_plan.rank_length([7] * 8 + [4], 2, 42, 1, 1, 2, True, 0)
    assert loader["epoch"] == 1 and 0 < loader["batches"] < per_epoch  # mid second epoch

    resumed = gauntlet_process(*run, "ckpt_path=last", f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out[-3000:]
    assert f"resuming epoch 1 after its first {loader['batches']} batches" in out

    def metrics(run_dir: Path) -> dict:
        found = json.loads((run_dir / "manifest.json").read_text())["metrics"]
        return {k: v for k, v in found.items() if not k.startswith("perf/")}

    assert metrics(killed_dir) == metrics(tmp_path / "whole")
    assert len(metrics(killed_dir)) >= 8


def test_logs_say_which_shards_are_read(id_pack, caplog):
    caplog.set_level(logging.INFO)
    shards(id_pack)
    assert "samples {'train': 60, 'val': 10, 'test': 10} in {'train': 9" in caplog.text
