"""``gauntlet explain``: on a checkpoint of a real (short) training run, and its argument errors."""

from __future__ import annotations

import json

import pytest

from gauntlet.cli import main as gauntlet
from gauntlet.errors import GauntletError
from gauntlet.interpret import METHODS
from gauntlet.interpret.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def test_explain_writes_into_the_run_and_its_manifest(checkpoint, capsys):
    run_dir = checkpoint.parent.parent

    code = gauntlet(["explain", f"ckpt_path={checkpoint}", "method=saliency", "n=6", "seed=1"])

    assert code == 0
    out = capsys.readouterr().out
    assert "interpret/deletion_auc" in out and "interpret/deletion_auc_random" in out
    for name in ("saliency.png", "saliency_deletion.png", "saliency.json"):
        assert (run_dir / "explain" / name).is_file()
    record = json.loads((run_dir / "explain" / "saliency.json").read_text())
    assert len(record["samples"]) == 6
    metrics = json.loads((run_dir / "manifest.json").read_text())["metrics"]
    assert metrics["interpret/deletion_auc"] == pytest.approx(
        record["metrics"]["interpret/deletion_auc"]
    )
    assert "interpret/saliency/deletion_auc_random" in metrics
    assert "test/acc" in metrics  # the run's own metrics are kept


def test_lime_takes_its_sample_count_from_the_command_line(checkpoint):
    assert main([f"ckpt_path={checkpoint}", "method=lime", "n=2", "n_samples=30"]) == 0
    assert (checkpoint.parent.parent / "explain" / "lime.png").is_file()


def test_unknown_method_names_the_key_and_the_choices():
    with pytest.raises(GauntletError, match="method") as err:
        main(["ckpt_path=missing.ckpt", "method=gradcam"])
    for name in METHODS:
        assert name in str(err.value)


def test_the_command_shows_argument_errors_without_a_traceback(capsys):
    assert gauntlet(["explain", "ckpt_path=x.ckpt", "method=gradcam"]) == 2
    err = capsys.readouterr().err
    assert "method" in err and "integrated_gradients" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["method=saliency"], ["ckpt_path", "required"]),
        (["ckpt_path=a.ckpt", "samples=3"], ["samples", "valid keys", "n_samples"]),
        (["ckpt_path=a.ckpt", "n=many"], ["n=", "int"]),
        (["ckpt_path=a.ckpt", "method=saliency", "n_samples=20"], ["n_samples", "lime"]),
        (["ckpt_path=a.ckpt", "saliency"], ["key=value", "usage"]),
        (["ckpt_path=does/not/exist.ckpt"], ["ckpt_path", "does/not/exist.ckpt"]),
    ],
)
def test_bad_arguments_name_what_is_wrong(argv, names):
    with pytest.raises(GauntletError) as err:
        main(argv)
    for name in names:
        assert name in str(err.value)
