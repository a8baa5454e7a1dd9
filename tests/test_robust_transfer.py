"""Transfer attacks: ``gauntlet attack ckpt_path=TARGET source_ckpt=SOURCE`` on checkpoints of
real (short) training runs, the pairs it refuses, and picking a source from the leaderboard."""

from __future__ import annotations

import json

import pytest

from gauntlet.cli import main as gauntlet
from gauntlet.errors import GauntletError
from gauntlet.leaderboard.store import Leaderboard, resolve_url
from gauntlet.robust.transfer import pick_source

pytestmark = pytest.mark.usefixtures("single_thread")


TRAINED = ("trainer.limit_train_batches=1.0", "trainer.limit_test_batches=1.0")


def ckpt(run_dir):
    return run_dir / "checkpoints" / "last.ckpt"


def test_a_cnn_attacked_from_a_transformer_records_transfer_metrics_and_the_source(
    train, tmp_path, capsys
):
    source_manifest, source_dir = train(
        "data=digits",
        "model=transformer",
        "model.net.hidden=16",
        "model.net.depth=1",
        "trainer.max_epochs=2",
        "seed=7",
        *TRAINED,
        name="source",
    )
    target_manifest, target_dir = train(
        "data=digits",
        "model=cnn",
        "model.net.hidden=8",
        "trainer.max_epochs=3",
        *TRAINED,
        name="target",
    )

    code = gauntlet(
        [
            "attack",
            f"ckpt_path={ckpt(target_dir)}",
            f"source_ckpt={ckpt(source_dir)}",
            "attack=pgd",
            "eps=[0,0.1,0.3]",
            "steps=3",
        ]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert "from Transformer" in out and source_manifest["run_id"] in out
    manifest = json.loads((target_dir / "manifest.json").read_text())
    metrics = manifest["metrics"]
    names = {f"robust/transfer_acc@eps={e}" for e in ("0", "0.1", "0.3")}
    assert names <= set(metrics)
    # no attack at eps=0: the target's own clean accuracy on the same test split
    assert metrics["robust/transfer_acc@eps=0"] == pytest.approx(
        target_manifest["metrics"]["test/acc"], abs=1e-6
    )
    assert metrics["robust/transfer_acc@eps=0.3"] < metrics["robust/transfer_acc@eps=0"]
    assert manifest["transfer"]["source"]["source_run_id"] == source_manifest["run_id"]
    assert manifest["transfer"]["source"]["source_model"] == "Transformer"
    assert (target_dir / "robust" / "transfer_pgd.png").is_file()
    # and in the target's leaderboard row
    with Leaderboard.open(resolve_url(None, tmp_path)) as board:
        row = board.get(target_manifest["run_id"])
    assert row["metrics"]["robust/transfer_acc@eps=0.1"] == metrics["robust/transfer_acc@eps=0.1"]
    assert row["transfer"]["source"]["source_run_id"] == source_manifest["run_id"]

    # the same target, another source under its own label, picked from the leaderboard (a run
    # of another seed than the target's)
    code = gauntlet(
        [
            "attack",
            f"ckpt_path={ckpt(target_dir)}",
            "source={model: transformer}",
            "label=tf",
            "eps=[0.1]",
        ]
    )
    assert code == 0
    manifest = json.loads((target_dir / "manifest.json").read_text())
    assert "robust/transfer_acc/tf@eps=0.1" in manifest["metrics"]
    assert manifest["transfer"]["tf"]["source_run_id"] == source_manifest["run_id"]


def test_a_source_on_another_dataset_is_refused(train, capsys):
    _, digits_dir = train("data=digits", "model=cnn", "model.net.hidden=8", name="digits")
    _, seq_dir = train("data=mnist1d", "model=cnn", "model.net.hidden=8", name="mnist1d")

    code = gauntlet(["attack", f"ckpt_path={ckpt(digits_dir)}", f"source_ckpt={ckpt(seq_dir)}"])

    assert code == 2
    err = capsys.readouterr().err
    assert "source_ckpt" in err and "same dataset" in err
    assert "transfer" not in json.loads((digits_dir / "manifest.json").read_text())


def test_token_networks_with_their_own_embeddings_are_refused(train, text_file, capsys):
    data = ["data=text_file", f"data.path={text_file}", "data.max_length=16"]
    _, a = train(*data, "model=cnn", "model.net.hidden=8", name="a")
    _, b = train(*data, "model=rnn", "model.net.hidden=8", name="b")

    code = gauntlet(["attack", f"ckpt_path={ckpt(a)}", f"source_ckpt={ckpt(b)}"])

    assert code == 2
    assert "share one embedding" in capsys.readouterr().err


def test_source_and_source_ckpt_together_are_refused(capsys):
    code = gauntlet(["attack", "ckpt_path=t.ckpt", "source_ckpt=s.ckpt", "source={model: cnn}"])
    assert code == 2
    assert "give one of them" in capsys.readouterr().err


def test_the_source_picked_for_a_seed_is_another_seed_of_the_selection():
    rows = [{"seed": s, "run_id": f"r{s}"} for s in (3, 2, 1)]  # newest first
    assert pick_source(rows, 1, {"model": "cnn"})["run_id"] == "r2"
    assert pick_source(rows, 3, {"model": "cnn"})["run_id"] == "r1"  # wraps around
    # a seed the selection names is taken as given, even the target's own
    assert pick_source(rows[1:2], 2, {"model": "cnn", "seed": 2})["run_id"] == "r2"
    with pytest.raises(GauntletError, match="target's seed 1"):
        pick_source([{"seed": 1, "run_id": "x"}], 1, {"model": "cnn"})
    with pytest.raises(GauntletError, match="no completed run"):
        pick_source([], 1, {"model": "cnn"})
