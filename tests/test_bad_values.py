"""Bad values: one paragraph naming the key and what it accepts, exit code 2, never a traceback.

The cases are read from the constructors and schemas themselves: every whole-number argument of
every network gauntlet ships is tried at 0 and -1, every dropout-like fraction outside [0, 1),
every whole-number field of the trainer schema at -5, every size and fraction of the datamodule;
then the values that reach torch's optimizers and schedulers and Lightning's Trainer.
One case of each family runs in the fast suite, all of them in the slow one.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from faults import QUICK, cli

CONF = Path(__file__).resolve().parents[1] / "conf"


def network_cases() -> list[tuple[str, list[str], str]]:
    import hydra

    cases = []
    for path in sorted((CONF / "model").glob("*.yaml")):
        net = OmegaConf.load(path).get("net") or {}
        if "_target_" not in net:
            continue
        cls = hydra.utils.get_class(net._target_)
        for name in inspect.signature(cls.__init__).parameters:
            hint = typing.get_type_hints(cls.__init__).get(name)
            if name in ("self", "spec"):
                continue
            if hint is int:
                for bad in (0, -1):
                    cases.append((path.stem, [f"model.net.{name}={bad}"], f"model.net.{name}"))
            elif hint is float and "dropout" in name:
                for bad in (-0.1, 1.0):
                    cases.append((path.stem, [f"model.net.{name}={bad}"], f"model.net.{name}"))
            elif hint is float:
                cases.append((path.stem, [f"model.net.{name}=-1.0"], f"model.net.{name}"))
    return [(f"net-{model}", [f"model={model}", *o], key) for model, o, key in cases]


def datamodule_cases() -> list[tuple[str, list[str], str]]:
    from gauntlet.data.base import InMemoryDataModule

    cases = []
    hints = typing.get_type_hints(InMemoryDataModule.__init__)
    for name in inspect.signature(InMemoryDataModule.__init__).parameters:
        if hints.get(name) is int and "size" in name:
            cases += [("data", [f"data.{name}={bad}"], f"data.{name}") for bad in (0, -1)]
        elif hints.get(name) is float:
            cases += [("data", [f"data.{name}={bad}"], f"data.{name}") for bad in (-0.1, 1.5)]
    return cases


def trainer_cases() -> list[tuple[str, list[str], str]]:
    from gauntlet.config_schema import TrainerSchema

    return [
        ("trainer-int", [f"trainer.{f.name}=-5"], f"trainer.{f.name}")
        for f in dataclasses.fields(TrainerSchema)
        if f.type in ("int", int)
    ]


OTHER = [
    ("seed", ["seed=-1"], "seed"),
    ("seed", [f"seed={2**32}"], "seed"),
    ("seed", ["data.split_seed=-3"], "data.split_seed"),
    ("smoothing", ["model.label_smoothing=-0.1"], "model.label_smoothing"),
    ("smoothing", ["model.label_smoothing=1.0"], "model.label_smoothing"),
    ("optimizer", ["model.optimizer.lr=-0.001"], "model.optimizer.lr"),
    ("optimizer", ["model.optimizer.lr=nan"], "model.optimizer.lr"),
    ("optimizer", ["model.optimizer.weight_decay=-1"], "model.optimizer.weight_decay"),
    ("optimizer", ["+model.optimizer.betas=[1.5,0.9]"], "model.optimizer.betas"),
    (
        "optimizer",
        ["model/optimizer=sgd", "model.optimizer.momentum=-1"],
        "model.optimizer.momentum",
    ),
    ("missing", ["model.net.hidden=???"], "model.net.hidden"),
    ("optimizer", ["+model.optimizer.bogus=1"], "model.optimizer"),
    ("scheduler", ["+model.scheduler.bogus=1"], "model.scheduler"),
    ("scheduler", ["model.scheduler._target_=torch.optim.lr_scheduler.StepLR"], "model.scheduler"),
    ("trainer", ["trainer.max_epochs=0"], "trainer.max_epochs"),
    ("trainer", ["trainer.precision=bogus"], "trainer.precision"),
    ("trainer", ["trainer.precision=8"], "trainer.precision"),
    ("trainer", ["trainer.accelerator=gpu"], "trainer.accelerator"),
    ("trainer", ["trainer.accelerator=bogus"], "trainer.accelerator"),
    ("trainer", ["trainer=ddp"], "trainer.accelerator"),
    ("trainer", ["trainer=gpu"], "trainer.accelerator"),
    ("trainer", ["trainer.devices=0"], "trainer.devices"),
    ("trainer", ["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val"),
    ("trainer", ["trainer.gradient_clip_algorithm=bogus"], "trainer.gradient_clip_algorithm"),
    ("trainer", ["trainer.limit_train_batches=0"], "trainer.limit_train_batches"),
    ("trainer", ["trainer.limit_val_batches=-1"], "trainer.limit_val_batches"),
    ("trainer", ["trainer.limit_test_batches=1.5"], "trainer.limit_test_batches"),
    ("trainer", ["trainer.strategy=bogus"], "trainer.strategy"),
    ("split", ["data.val_fraction=0.5", "data.test_fraction=0.5"], "data.val_fraction"),
    ("split", ["data.val_fraction=0.6", "data.test_fraction=0.7"], "data.val_fraction"),
    ("split", ["data.val_fraction=0.0"], "data.val_fraction"),  # an empty val split
    ("split", ["data.test_fraction=0.0"], "data.test_fraction"),  # an empty test split
    ("net", ["+model.net.bogus=1"], "model.net"),
    ("net", ["model=transformer", "model.net.hidden=30", "model.net.heads=4"], "model.net"),
]

CASES = network_cases() + datamodule_cases() + trainer_cases() + OTHER


def _fast(cases):
    seen, marked = set(), []
    for family, overrides, key in cases:
        marks = () if family not in seen else (pytest.mark.slow,)
        seen.add(family)
        marked.append(pytest.param(overrides, key, marks=marks, id=" ".join(overrides)))
    return marked


def test_the_cases_cover_every_constructor_family():
    families = {family for family, _, _ in CASES}
    assert {"net-cnn", "net-rnn", "net-transformer", "data", "trainer-int"} <= families
    assert len(network_cases()) >= 24 and len(trainer_cases()) >= 6


@pytest.mark.parametrize(("overrides", "key"), _fast(CASES))
def test_a_bad_value_is_one_paragraph_naming_its_key(overrides, key, tmp_path, capsys):
    code, said = cli("train", *QUICK, *overrides, f"hydra.run.dir={tmp_path / 'run'}",
                     f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    errors = [line for line in said.splitlines() if line.startswith("gauntlet: error: ")]
    assert code == 2, said[-3000:]
    assert "Traceback" not in said
    assert len(errors) == 1, said[-3000:]
    assert key in errors[0]
    assert not (tmp_path / "leaderboard.db").exists()  # refused before anything was recorded


def test_training_from_another_models_checkpoint_is_refused(tmp_path, capsys):
    code, said = cli("train", *QUICK, f"hydra.run.dir={tmp_path / 'cnn'}",
                     f"paths.log_dir={tmp_path}", capsys=capsys)  # fmt: skip
    assert code == 0, said
    ckpt = tmp_path / "cnn" / "checkpoints" / "last.ckpt"
    code, said = cli("train", *QUICK, "model=rnn", f"ckpt_path={ckpt}",
                     f"hydra.run.dir={tmp_path / 'rnn'}", f"paths.log_dir={tmp_path}",
                     capsys=capsys)  # fmt: skip
    assert code == 2
    assert f"ckpt_path={ckpt}: that checkpoint is of another model (gauntlet.models.cnn.CNN" in said
    assert "Traceback" not in said
