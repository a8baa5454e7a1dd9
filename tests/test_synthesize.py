"""``synthesize=gmm|vae``: generated training samples, fitted on the cut training split only."""

from __future__ import annotations

import json

import hydra
import pytest
import torch

from helpers import compose

DATA = {"image": "data=digits", "sequence": "data=mnist1d"}


pytestmark = pytest.mark.usefixtures("single_thread")


def datamodule(tmp_path, *overrides):
    """The datamodule ``gauntlet train OVERRIDES`` would build, set up."""
    cfg = compose([f"paths.log_dir={tmp_path}", *overrides], run_dir=tmp_path / "run")
    dm = hydra.utils.instantiate(cfg.data)
    if "_target_" in (cfg.get("synthesize") or {}):
        dm.synthesizer = hydra.utils.instantiate(cfg.synthesize)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize(
    ("modality", "method"),
    [
        ("image", "gmm"),
        pytest.param("sequence", "gmm", marks=pytest.mark.slow),
        pytest.param("image", "vae", marks=pytest.mark.slow),
        ("sequence", "vae"),
    ],
)
def test_synthesis_adds_ratio_samples_per_class_and_leaves_val_and_test_alone(
    tmp_path, modality, method
):
    cut = [DATA[modality], "data.fraction=0.1", "seed=3"]
    plain = datamodule(tmp_path, *cut)
    small = "synthesize.steps=30" if method == "vae" else "synthesize.components=2"
    made = datamodule(tmp_path, *cut, f"synthesize={method}", "synthesize.ratio=1.5", small)

    real_y = plain.splits["train"].y
    n_real = len(real_y)
    train = made.splits["train"]
    # the real samples come first, unchanged; then round(1.5 n_c) generated ones per class
    assert torch.equal(train.x[:n_real], plain.splits["train"].x)
    synthetic_y = train.y[n_real:]
    for cls in range(10):
        assert int((synthetic_y == cls).sum()) == round(1.5 * int((real_y == cls).sum()))
    assert made.sizes()["train"] == n_real
    assert made.sizes()["synthetic"] == len(synthetic_y)
    assert train.x.shape[1:] == plain.splits["train"].x.shape[1:]
    low, high = made.spec.value_range
    assert train.x[n_real:].min() >= low and train.x[n_real:].max() <= high
    for name in ("val", "test"):
        assert torch.equal(made.splits[name].x, plain.splits[name].x)
        assert torch.equal(made.splits[name].y, plain.splits[name].y)
    # the picture of generated samples per class, in the run directory
    assert (tmp_path / "run" / "synthetic_samples.png").stat().st_size > 1000


@pytest.mark.parametrize("method", ["vae", pytest.param("gmm", marks=pytest.mark.slow)])
def test_the_same_seed_generates_the_same_samples(tmp_path, method):
    args = ["data=digits", "data.fraction=0.1", f"synthesize={method}"]
    if method == "vae":
        args.append("synthesize.steps=30")
    first = datamodule(tmp_path, *args, "seed=5").splits["train"]
    again = datamodule(tmp_path, *args, "seed=5").splits["train"]
    other = datamodule(tmp_path, *args, "seed=6").splits["train"]
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    assert not torch.equal(first.x, other.x)


def test_a_run_records_real_and_synthetic_sizes(train):
    manifest, run_dir = train(
        "data=digits",
        "model=cnn",
        "model.net.hidden=8",
        "data.samples_per_class=5",
        "synthesize=gmm",
        "synthesize.ratio=2",
    )
    assert manifest["status"] == "completed"
    assert manifest["data_sizes"]["train"] == 50
    assert manifest["data_sizes"]["synthetic"] == 100
    assert (run_dir / "synthetic_samples.png").is_file()
    assert (run_dir / "curves.png").is_file()
    recorded = json.loads((run_dir / "manifest.json").read_text())
    assert recorded["config"]["synthesize"]["_target_"].endswith("GMMSynthesizer")


def test_token_data_is_refused_with_a_message(tmp_path, text_file, capsys):
    from gauntlet.cli import main as gauntlet

    with pytest.raises(SystemExit) as stop:
        gauntlet(
            [
                "train",
                "data=text_file",
                f"data.path={text_file}",
                "synthesize=gmm",
                f"paths.log_dir={tmp_path}",
                f"hydra.run.dir={tmp_path / 'tok'}",
                "trainer.max_epochs=1",
                "logger=csv",
            ]
        )
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "synthesize=gmm" in err and "token" in err


def test_a_ratio_of_zero_is_refused(tmp_path):
    from hydra.errors import InstantiationException

    from gauntlet.errors import GauntletError

    # the train entry point shows the GauntletError inside Hydra's wrapper and exits 2
    with pytest.raises(InstantiationException) as err:
        datamodule(tmp_path, "data=digits", "synthesize=gmm", "synthesize.ratio=0")
    assert isinstance(err.value.__cause__, GauntletError)
    assert "synthesize.ratio=0: expected a number > 0" in str(err.value.__cause__)
