"""The study file's classes are its one description: a class's fields are the keys a file may
write, checked key by key, and the object read is the same class the rest of the code reads."""

# option() is a dataclasses.field()
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gauntlet.errors import GauntletError
from gauntlet.study import reader
from gauntlet.study.reader import option
from gauntlet.study.spec import NOT_A_KEY, ClaimSpec, PlotSpec, Study, load_study


@dataclass(frozen=True)
class Inner:
    size: int = option(1, accepts="a whole number >= 1", ok=lambda v: v >= 1)


@dataclass(frozen=True)
class Outer:
    name: str = option(accepts="a name")
    tags: tuple[str, ...] = option(factory=tuple, many=True)
    inner: Inner = option(factory=Inner, file=Inner | None)
    items: tuple[Inner, ...] = option(factory=tuple, file=list[Inner] | None)
    free: Any = None
    resolved: str | None = option(None, derived=True)  # filled in after reading


SAID = {Outer: "not an outer key; valid: {}", Inner: "valid keys: {}"}
PATH = Path("file.yaml")


def read(data: dict) -> Outer:
    return reader.read(PATH, Outer, data, SAID)


def test_a_class_reads_its_keys_into_itself_lists_as_tuples_one_value_as_a_list():
    got = read({"name": "a", "tags": "x", "items": [{"size": 2}, {}], "free": {"k": [1]}})
    assert isinstance(got, Outer) and isinstance(got.inner, Inner)
    assert got.tags == ("x",) and got.items == (Inner(2), Inner(1)) and got.free == {"k": [1]}
    assert got.inner == Inner() and got.resolved is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "name: not given; expected a name"),
        ({"name": "a", "colour": 1}, "colour: not an outer key; valid: name, tags, inner,"),
        ({"name": "a", "resolved": "x"}, "resolved: not an outer key"),  # derived: not a key
        ({"name": "a", "inner": {"size": 0}}, "inner.size: expected a whole number >= 1, got 0"),
        ({"name": "a", "items": [{}, {"size": "big"}]}, "items[1].size: expected a whole"),
        ({"name": "a", "items": [{"sise": 2}]}, "items[0].sise: valid keys: size"),
        ({"name": "a", "inner": 3}, "inner: expected a mapping with the keys size, got 3"),
        ({"name": "a", "items": {"size": 2}}, "items: expected a list of mappings with the keys"),
        ({"name": ["a"]}, "name: expected a name, got ['a']"),
    ],
)
def test_each_mistake_names_the_full_key_and_what_it_accepts(data, message):
    with pytest.raises(GauntletError) as caught:
        read(data)
    assert str(caught.value).startswith(f"{PATH}: {message}"), str(caught.value)


def test_the_file_keys_are_the_class_fields_less_the_derived_ones_and_read_back_as_it(tmp_path):
    for cls, said in NOT_A_KEY.items():
        keys = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("derived")]
        assert [f.name for f in dataclasses.fields(reader.file_keys(cls))] == keys, cls
        assert "{}" in said
    path = tmp_path / "s.yaml"
    path.write_text(
        "grid: {a: [1, 2]}\nplots: [{x: a, y: test/acc}]\nclaims: [{metric: m, op: '>', value: 0.5}]\n"
    )
    study = load_study(path)
    assert type(study) is Study and type(study.plots[0]) is PlotSpec
    assert type(study.claims[0]) is ClaimSpec and study.claims[0].than.value == 0.5
    assert study.plots[0].x.is_axis and study.axes[0].labels() == [1, 2]
