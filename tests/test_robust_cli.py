"""``gauntlet attack``: on a checkpoint of a real (short) training run, and its argument errors."""

from __future__ import annotations

import json

import pytest

from gauntlet.cli import main as gauntlet
from gauntlet.errors import GauntletError
from gauntlet.robust.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def test_attack_prints_the_table_and_records_the_metrics(checkpoint, capsys):
    run_dir = checkpoint.parent.parent
    recorded = json.loads((run_dir / "manifest.json").read_text())["metrics"]

    code = gauntlet(
        ["attack", f"ckpt_path={checkpoint}", "attack=pgd", "eps=[0,0.05,0.2]", "steps=3"]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert "PGD" in out and "0.05" in out and "0.2" in out
    assert (run_dir / "robust" / "pgd.png").is_file()
    metrics = json.loads((run_dir / "manifest.json").read_text())["metrics"]
    assert set(metrics) >= {"robust/acc@eps=0", "robust/acc@eps=0.05", "robust/acc@eps=0.2"}
    # no attack at eps=0: the clean accuracy the run recorded on the same test set
    assert metrics["robust/acc@eps=0"] == pytest.approx(recorded["test/acc"], abs=1e-6)
    assert metrics["robust/acc@eps=0"] > 0.5
    assert metrics["robust/acc@eps=0.2"] < metrics["robust/acc@eps=0"]


def test_unknown_attack_names_the_key_and_the_choices(capsys):
    with pytest.raises(GauntletError, match=r"attack.*fgsm, pgd"):
        main(["ckpt_path=missing.ckpt", "attack=cw"])
    assert gauntlet(["attack", "ckpt_path=missing.ckpt", "attack=cw"]) == 2
    assert "fgsm, pgd" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["attack=fgsm"], ["ckpt_path", "required"]),
        (["ckpt_path=a.ckpt", "eps=[0,-0.1]"], ["eps", ">= 0"]),
        (["ckpt_path=a.ckpt", "eps=[0,big]"], ["eps"]),
        (["ckpt_path=a.ckpt", "epsilon=0.1"], ["epsilon", "valid keys", "eps"]),
        (["ckpt_path=a.ckpt", "steps=0"], ["steps"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(argv, names):
    with pytest.raises(GauntletError) as err:
        main(argv)
    for name in names:
        assert name in str(err.value)
