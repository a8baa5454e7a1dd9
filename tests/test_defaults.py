"""A setting is declared once, in its constructor's signature, and the rest follows from it.

For every network, datamodule and augmentation gauntlet registers: the schema Hydra validates
against holds a field per parameter with the signature's default; the composed config (what
``--cfg job`` and the manifest show) names every setting though the YAML presets write only
what they change; and every range a parameter annotates is enforced, with a value outside it
made from the annotation itself. A user's own network gets the same checks from its own
annotations.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import types
import typing
from functools import cache
from pathlib import Path

import annotated_types as at
import pytest
import yaml
from hydra.utils import get_class
from omegaconf import MISSING, OmegaConf

from gauntlet.config import compose
from gauntlet.config_schema import (
    DATA_WIRING,
    DATAMODULES,
    NETWORKS,
    check_component,
    generated_schemas,
)
from gauntlet.data.augment import AUGMENTS
from gauntlet.errors import GauntletError
from gauntlet.settings import Setting, check_settings, schema_of, settings, settings_in_source
from helpers import gauntlet

CONF = Path(__file__).resolve().parents[1] / "conf"
REGISTERED = [("schema/net", n, t) for n, t in NETWORKS.items()] + [
    ("schema/data", n, t) for n, t in DATAMODULES.items()
]


# -- the schema is the signature -------------------------------------------------------------


@pytest.mark.parametrize(("group", "name", "target"), REGISTERED, ids=lambda v: str(v))
def test_every_parameter_has_a_schema_field_holding_the_signatures_default(group, name, target):
    cls = get_class(target)
    fields = {f.name: f for f in dataclasses.fields(generated_schemas()[(group, name)])}
    assert fields.pop("_target_").default == target
    for param, setting in settings(cls).items():
        field = fields[param]
        if group == "schema/data" and param in DATA_WIRING:
            expected = DATA_WIRING[param]  # follows another key of the run's config
        elif setting.required:
            expected = MISSING
        else:
            expected = setting.default
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        assert default == expected, f"{target}.{param}"


@pytest.mark.parametrize("target", [t for _, _, t in REGISTERED])
def test_the_source_reader_finds_what_the_imported_class_declares(target):
    # the schemas are read from the source so that registering them imports no torch
    read, imported = settings_in_source(target), settings(get_class(target))
    assert [(s.name, s.default, s.constraints) for s in read.values()] == [
        (s.name, s.default, s.constraints) for s in imported.values()
    ]
    as_fields = [
        [(f.name, f.type) for f in dataclasses.fields(schema_of(t))]
        for t in (target, get_class(target))
    ]
    assert as_fields[0] == as_fields[1]  # a class named as a type is open (Any) either way


def test_registering_the_schemas_imports_no_network_or_datamodule():
    code = (
        "import sys; from gauntlet.config_schema import register_schemas; register_schemas(); "
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'gauntlet.models.cnn', "
        "'gauntlet.data.base') if m in sys.modules]; print(heavy); assert not heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def option_files() -> list[Path]:
    """Every data option, and every model option that names its network."""
    models = [
        p
        for p in sorted((CONF / "model").glob("*.yaml"))
        if "_target_" in ((yaml.safe_load(p.read_text()) or {}).get("net") or {})
    ]
    return models + sorted((CONF / "data").glob("*.yaml"))


def node_of(path: Path) -> tuple[dict, object]:
    """The option file's own values for its component, and the composed component node."""
    raw = yaml.safe_load(path.read_text()) or {}
    if path.parent.name == "model":
        return raw.get("net") or {}, compose([f"model={path.stem}"]).model.net
    return raw, compose([f"data={path.stem}"]).data


@pytest.mark.parametrize("path", option_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_composed_config_names_every_setting_and_the_yaml_only_what_it_changes(path):
    written, node = node_of(path)
    cls = get_class(node._target_)
    shown = set(node.keys())  # a ??? value is shown too, as --cfg job prints it
    for param, setting in settings(cls).items():
        assert param in shown, f"{path.name}: {param} missing from the composed config"
        # a preset that repeats the signature's default writes the setting a second time
        if param in written and not setting.required:
            assert written[param] != setting.default, f"{path.name} repeats {param}'s default"


def test_the_default_runs_resolved_config_still_shows_every_network_and_data_setting():
    cfg = compose([])
    for node in (cfg.model.net, cfg.data):
        shown = OmegaConf.to_container(node, resolve=False)
        assert set(settings(get_class(node._target_))) <= set(shown)


# -- every annotated range is enforced -------------------------------------------------------


def base_kind(kind: object) -> object:
    """``int`` for ``int | None``: the type a value other than None must have."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return inner
    return kind


def bounds_broken(setting: Setting) -> list[object]:
    """Values of the setting's type just outside each bound it annotates, and one outside a
    Literal's choices; a predicate's failures are searched among small values."""
    kind = base_kind(setting.kind)
    if typing.get_origin(kind) is typing.Literal:
        return ["not-a-choice"]
    step = 1 if kind is int else 0.5
    values: list[object] = []
    for c in setting.constraints:
        if isinstance(c, at.Ge):
            values.append(c.ge - step)
        elif isinstance(c, at.Gt):
            values.append(c.gt)
        elif isinstance(c, at.Le):
            values.append(c.le + step)
        elif isinstance(c, at.Lt):
            values.append(c.lt)
        elif isinstance(c, at.Predicate):
            lows = [v for v in range(1, 20) if not c.func(v)]
            values.append(lows[0])
    return [kind(v) if kind in (int, float) else v for v in values]


def constrained(target: type) -> list[tuple[str, Setting]]:
    return [
        (name, s)
        for name, s in settings(target).items()
        if s.constraints or typing.get_origin(base_kind(s.kind)) is typing.Literal
    ]


def options_by_schema() -> dict[str, str]:
    """One option per registered class: the first config file that names its schema."""
    found: dict[str, str] = {}
    for path in option_files():
        for entry in (yaml.safe_load(path.read_text()) or {}).get("defaults") or []:
            if isinstance(entry, dict) and str(next(iter(entry))).startswith("/schema/"):
                group = "model" if path.parent.name == "model" else "data"
                found.setdefault(next(iter(entry.values())), f"{group}={path.stem}")
    return found


TARGETS = {**NETWORKS, **DATAMODULES}
CLASSES = {option: TARGETS[schema] for schema, option in options_by_schema().items()}
CASES = [
    pytest.param(option, name, bad, id=f"{option}:{name}={bad}")
    for option, target in CLASSES.items()
    for name, setting in constrained(get_class(target))
    for bad in bounds_broken(setting)
]


@cache
def composed(option: str):
    cfg = compose([option])
    return cfg.model.net if option.startswith("model=") else cfg.data


def test_the_cases_reach_every_class_and_every_kind_of_annotation():
    assert set(CLASSES.values()) == set(TARGETS.values())
    assert {p.values[0] for p in CASES} == set(CLASSES)
    assert len(CASES) >= 60
    assert {type(v) for p in CASES for v in [p.values[2]]} >= {int, float, str}


@pytest.mark.parametrize(("option", "name", "bad"), CASES)
def test_a_value_outside_an_annotated_range_is_refused_naming_the_full_key(option, name, bad):
    node = composed(option).copy()
    key = "model.net" if option.startswith("model=") else "data"
    node[name] = bad
    with pytest.raises(GauntletError) as err:
        check_component(node, key)
    assert str(err.value).startswith(f"{key}.{name} must be ")
    assert str(err.value).endswith(f"got {bad!r}")


@pytest.mark.parametrize("cls", list(AUGMENTS.values()), ids=lambda c: c.__name__)
def test_an_augmentation_setting_outside_its_range_names_the_preset_key(cls):
    cases = [(n, bad) for n, s in constrained(cls) for bad in bounds_broken(s)]
    assert cases
    for name, bad in cases:
        with pytest.raises(GauntletError, match=rf"^augment\.x\.{name} must be .*, got"):
            check_settings(cls, {name: bad}, "augment.x")


def test_a_value_inside_every_range_passes():
    for option in CLASSES:
        check_component(composed(option), "data")


def test_a_nested_component_is_checked_under_its_own_key():
    node = composed("data=concat").copy()
    node.datasets[1].num_samples = 0
    with pytest.raises(GauntletError, match=r"^data\.datasets\.1\.num_samples must be >= 1"):
        check_component(node, "data")


# -- the generator on any class --------------------------------------------------------------


class Declared:
    def __init__(
        self,
        spec,
        width: typing.Annotated[int, at.Ge(2)] = 8,
        rate: typing.Annotated[float, at.Interval(ge=0.0, lt=1.0)] | None = None,
        mode: typing.Literal["a", "b"] = "a",
        sizes: list[int] | None = None,
        name: str = "x",
        *,
        needed: int,
    ) -> None:
        pass


def test_a_classes_schema_types_each_field_as_omegaconf_reads_it():
    node = OmegaConf.structured(schema_of(Declared))
    assert OmegaConf.is_missing(node, "needed") and "spec" not in node
    assert node.width == 8 and node.rate is None and node.mode == "a" and node.sizes is None
    with pytest.raises(Exception, match="width"):
        node.width = "wide"  # typed: refused at composition
    node.rate = 0.5
    with pytest.raises(GauntletError, match=r"^net\.rate must be >= 0.0 and < 1.0, got 1.5$"):
        check_settings(Declared, {"rate": 1.5}, "net")
    check_settings(Declared, {"rate": None, "mode": "b", "width": 2}, "net")
    with pytest.raises(GauntletError, match=r"^net\.mode must be one of a, b, got 'c'$"):
        check_settings(Declared, {"mode": "c"}, "net")
    with pytest.raises(GauntletError, match=r"^net\.width must be a whole number, got True$"):
        check_settings(Declared, {"width": True}, "net")


def test_a_datamodule_reads_its_bases_settings_through_kwargs():
    from gauntlet.data.base import InMemoryDataModule
    from gauntlet.data.mnist1d import MNIST1DDataModule

    own = set(inspect.signature(MNIST1DDataModule.__init__).parameters) - {"self", "kwargs"}
    base = set(inspect.signature(InMemoryDataModule.__init__).parameters) - {"self"}
    assert set(settings(MNIST1DDataModule)) == own | base


# -- a user's own network --------------------------------------------------------------------

USER_NETS = """
from typing import Annotated

from annotated_types import Ge, Interval
from torch import nn


class Checked(nn.Module):
    def __init__(
        self,
        spec,
        width: Annotated[int, Ge(2)] = 8,
        drop: Annotated[float, Interval(ge=0.0, lt=1.0)] = 0.0,
    ):
        super().__init__()
        size = 1
        for n in spec.shape:
            size *= n
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(size, width), nn.Dropout(drop), nn.Linear(width, spec.num_classes)
        )

    def forward(self, x):
        return self.body(x)
"""


@pytest.fixture
def user_project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "user_nets.py").write_text(USER_NETS)
    models = tmp_path / "conf" / "model"
    models.mkdir(parents=True)
    (models / "checked.yaml").write_text(
        "defaults: [base, _self_]\nnet:\n  _target_: user_nets.Checked\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAUNTLET_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delitem(sys.modules, "user_nets", raising=False)
    return tmp_path


QUICK = ["logger=csv", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
         "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
         "trainer.enable_progress_bar=false"]  # fmt: skip


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+model.net.width=1", "model.net.width must be >= 2, got 1"),
        ("+model.net.drop=1.0", "model.net.drop must be >= 0.0 and < 1.0, got 1.0"),
        ("+model.net.width=wide", "model.net.width must be a whole number, got 'wide'"),
    ],
)
def test_a_users_annotated_network_gets_the_same_checks(user_project, capsys, override, message):
    code = gauntlet("train", "--config-dir", "conf", "model=checked", override, *QUICK)
    said = capsys.readouterr()
    errors = [line for line in said.err.splitlines() if line.startswith("gauntlet: error: ")]
    assert code == 2, said.err[-2000:]
    assert errors == [f"gauntlet: error: {message}"]
    assert "Traceback" not in said.err
    assert not list((user_project / "logs").glob("**/manifest.json"))


def test_a_users_annotated_network_trains_with_values_inside_its_ranges(user_project, capsys):
    code = gauntlet("train", "--config-dir", "conf", "model=checked", "+model.net.width=2", *QUICK)
    assert code == 0, capsys.readouterr().err[-2000:]


def test_packing_shards_checks_the_data_settings_as_training_does(tmp_path, capsys):
    from gauntlet.cli import main

    code = main(["data", "pack", "--to", str(tmp_path / "shards"), "data.batch_size=0"])
    said = capsys.readouterr()
    assert code == 2, said.err[-2000:]
    assert said.err.strip() == "gauntlet data: error: data.batch_size must be >= 1, got 0"
    assert not (tmp_path / "shards").exists()
