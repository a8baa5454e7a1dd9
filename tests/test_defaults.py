"""A default is written once: a schema and a YAML file never disagree, and the composed config
(what ``--cfg job`` shows) holds every argument the constructor receives."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml
from gauntlet.schema import SCHEMAS
from omegaconf import MISSING

from conftest import CONF, compose


def schema_of(path: Path) -> tuple[type, str] | None:
    """The schema a config file names in its defaults list, and where it places it."""
    for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults") or []:
        if isinstance(entry, dict):
            ((key, name),) = entry.items()
            if key.startswith("/schema/"):
                group, _, at = key[1:].partition("@")
                return SCHEMAS[(group, name)], at
    return None


def contradictions(schema: type, values: dict, prefix: str) -> list[str]:
    found = []
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key, value in values.items():
        if key not in fields:
            continue
        field = fields[key]
        if isinstance(field.default_factory, type) and dataclasses.is_dataclass(
            field.default_factory
        ):  # a nested schema, such as model.adversarial
            if isinstance(value, dict):
                found += contradictions(field.default_factory, value, f"{prefix}{key}.")
            continue
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        if default is not MISSING and default is not dataclasses.MISSING and default != value:
            found.append(f"{prefix}{key}: schema {default!r}, YAML {value!r}")
    return found


SCHEMA_FILES = sorted(p for p in CONF.rglob("*.yaml") if schema_of(p))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: str(p.relative_to(CONF)))
def test_no_schema_default_contradicts_a_yaml_default(path):
    schema, at = schema_of(path)
    values = yaml.safe_load(path.read_text())
    if at and at != "_here_":
        values = values.get(at) or {}
    assert not contradictions(schema, values, ""), path


def test_the_check_fails_on_a_contradiction():
    from gauntlet.schema import DataSchema

    assert contradictions(DataSchema, {"eval_batch_size": 128}, "data.") == [
        "data.eval_batch_size: schema 512, YAML 128"
    ]
    assert contradictions(DataSchema, {"batch_size": 7}, "data.") == []  # MISSING: YAML's own


@pytest.mark.parametrize("model", ["cnn", "rnn", "transformer"])
def test_the_composed_config_names_every_argument_a_network_receives(model):
    from hydra.utils import get_class

    net = compose([f"model={model}"]).model.net
    accepted = inspect.signature(get_class(net._target_)).parameters
    assert set(accepted) - {"spec"} == set(net) - {"_target_"}


@pytest.mark.parametrize(
    "data",
    [
        "digits",
        "mnist1d",
        "text_file",
        "arrays",
        "concat",
        "cifar10",
        "mnist",
        "image_folder",
        "shards",
        "hf",
    ],
)
def test_the_composed_config_names_every_argument_a_datamodule_receives(data):
    from hydra.utils import get_class

    node = compose([f"data={data}"]).data
    cls = get_class(node._target_)
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass.__module__.startswith("gauntlet"):
            accepted |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    assert accepted <= set(node) | {"datasets"}, accepted - set(node)


def test_the_model_config_shows_the_optimizer_and_scheduler_it_builds():
    model = compose(["model=cnn"]).model
    assert dict(model.optimizer) == {
        "_target_": "torch.optim.AdamW",
        "_partial_": True,
        "lr": 0.003,
        "weight_decay": 0.01,
    }
    assert "betas" not in model.optimizer  # the schema adds nothing the class was not given
    assert model.scheduler._target_ == "torch.optim.lr_scheduler.CosineAnnealingLR"
