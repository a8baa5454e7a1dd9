"""A setting declared once: in the constructor's signature, with its type, default and range.

A network, datamodule or augmentation writes each of its settings as a parameter:

    hidden: Annotated[int, Ge(1)] = 64

and everything else is derived from that line, as LightningCLI derives its parser:

- :func:`schema_of` makes the structured-config dataclass Hydra validates the group against
  (``_target_``, one field per parameter with the signature's default), so the YAML presets
  say only what they change and ``--cfg job`` still shows every setting;
- :func:`check_settings` reads the ``annotated_types`` constraints and refuses a value outside
  them with the full key (``model.net.hidden must be >= 1, got 0``). It runs on any class a
  ``_target_`` names, so a user's own network with annotated parameters is checked as well.

The constraints are ``annotated_types`` objects (``Ge``, ``Gt``, ``Le``, ``Lt``, ``Interval``,
``MultipleOf``, ``Predicate``): a small vocabulary with no runtime of its own that pydantic and
other checkers also read, so the networks stay plain modules that import nothing of gauntlet's
configuration machinery. The aliases below name the ranges the networks and datamodules share.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib
import importlib.util
import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import annotated_types as at

SEED_MAX = 2**32 - 1  # numpy's seed range, which seed_everything passes seeds to

# the ranges that recur; a constructor may equally write its own Annotated[...] in place
PositiveInt = Annotated[int, at.Ge(1)]
NonNegativeInt = Annotated[int, at.Ge(0)]
NonNegative = Annotated[float, at.Ge(0)]
Positive = Annotated[float, at.Gt(0)]
Share = Annotated[float, at.Interval(ge=0.0, lt=1.0)]  # dropout, a held-out fraction: [0, 1)
Probability = Annotated[float, at.Interval(ge=0.0, le=1.0)]
Seed = Annotated[int, at.Interval(ge=0, le=SEED_MAX)]


def odd(n: int) -> bool:
    return n % 2 == 1


@dataclass(frozen=True)
class Setting:
    """One keyword parameter of a constructor: its name, type, default and constraints."""

    name: str
    kind: Any  # the type without its Annotated constraints
    default: Any  # inspect.Parameter.empty when the constructor needs a value
    constraints: tuple[Any, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def problem(self, value: Any) -> str | None:
        """What ``value`` should have been, or None when it is a valid value of the setting."""
        kind, optional = _without_none(self.kind)
        if value is None:
            return None if optional or kind is Any else "given"
        wrong_type = _type_problem(kind, value)
        if wrong_type:
            return wrong_type
        if not all(_holds(c, value) for c in self.constraints):
            return " and ".join(_describe(c) for c in self.constraints)
        return None


def settings(target: Callable[..., Any], skip: Sequence[str] = ("spec",)) -> dict[str, Setting]:
    """Every keyword setting ``target`` takes, by name.

    A class that passes ``**kwargs`` to its base takes the base's settings too, so the walk
    follows the method resolution order until an ``__init__`` without ``**kwargs``.
    """
    found: dict[str, Setting] = {}
    for fn in _signatures(target):
        hints = _hints(fn)
        open_ended = False
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind == p.VAR_KEYWORD:
                open_ended = True
            if name == "self" or name in skip or name in found:
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            kind, constraints = _split(hints.get(name, Any))
            found[name] = Setting(name, kind, p.default, constraints)
        if not open_ended:
            break
    return found


def check_settings(target: Callable[..., Any], values: Mapping[str, Any], key: str) -> None:
    """Refuse a value of ``values`` that its parameter's type or constraints do not allow.

    ``key`` is where ``values`` sit in the config (``model.net``); the message names the full
    key, what it must be and what it got. Keys ``target`` does not name are left alone: the
    signature check of :mod:`gauntlet.models.build` (or Hydra's schema) reports those.
    """
    from gauntlet.errors import GauntletError

    for name, setting in settings(target).items():
        if name not in values or _missing(values, name):
            continue
        value = values[name]
        problem = setting.problem(value)
        if problem:
            raise GauntletError(f"{key}.{name} must be {problem}, got {value!r}")


def schema_of(
    target: Callable[..., Any] | str,
    defaults: Mapping[str, Any] | None = None,
    extra: Mapping[str, tuple[Any, Any]] | None = None,
) -> type:
    """The structured-config dataclass of ``target``: its ``_target_`` and one typed field per
    setting, holding the signature's default (``MISSING`` where the constructor needs a value).

    ``target`` given by its dotted path is read from its module's source, not imported (see
    :func:`settings_in_source`). ``defaults`` replaces a default where the config wires a
    setting to another key (a datamodule's ``split_seed`` follows ``${seeds.split}``);
    ``extra`` adds fields the constructor does not take, as ``name: (type, default)``.
    """
    from omegaconf import MISSING

    if isinstance(target, str):
        path, declared = target, settings_in_source(target)
    else:
        path, declared = f"{target.__module__}.{target.__qualname__}", settings(target)
    fields: list[tuple[str, Any, Any]] = [("_target_", str, dataclasses.field(default=path))]
    for name, setting in declared.items():
        if defaults and name in defaults:
            default = defaults[name]
        else:
            default = MISSING if setting.required else setting.default
        fields.append((name, _omegaconf_type(setting.kind), _field(default)))
    for name, (kind, default) in (extra or {}).items():
        fields.append((name, kind, _field(default)))
    return dataclasses.make_dataclass(f"{path.rpartition('.')[2]}Settings", fields)


def _missing(values: Mapping[str, Any], name: str) -> bool:
    """A config value not given yet (``???``): the missing-value check names it."""
    from omegaconf import DictConfig, OmegaConf

    return isinstance(values, DictConfig) and OmegaConf.is_missing(values, name)


# -- reading the signature -------------------------------------------------------------------


def _signatures(target: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    if not isinstance(target, type):
        yield target
        return
    for klass in target.__mro__:
        if "__init__" in vars(klass):
            yield vars(klass)["__init__"]


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an annotation that names what this module cannot import: untyped
        return {}


def _split(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[int, Ge(1)]`` -> ``(int, (Ge(1),))``; ``Interval`` opens into its bounds."""
    if typing.get_origin(hint) in (Union, types.UnionType):  # Annotated[int, Ge(1)] | None
        args = typing.get_args(hint)
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and len(args) == 2:
            kind, constraints = _split(inner[0])
            return Optional[kind], constraints
        return hint, ()
    if typing.get_origin(hint) is not Annotated:
        return hint, ()
    kind, *metadata = typing.get_args(hint)
    constraints: list[Any] = []
    for m in metadata:
        if isinstance(m, at.GroupedMetadata):
            constraints.extend(m)
        elif isinstance(m, at.BaseMetadata):
            constraints.append(m)
    inner, more = _split(kind)
    return inner, (*more, *constraints)


def _without_none(kind: Any) -> tuple[Any, bool]:
    """The type without ``None``, and whether ``None`` was allowed."""
    if typing.get_origin(kind) in (Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) < len(typing.get_args(kind)):
            rest = args[0] if len(args) == 1 else Union[tuple(args)]
            return _split(rest)[0], True
    return kind, False


# -- reading the signature from the source --------------------------------------------------
# The schemas are registered before every composition, --help and --cfg job included; importing
# the networks and datamodules there would import torch and Lightning first (`import
# gauntlet.train` took 1.1 s without them and 14.5 s with them on a loaded 2-core machine).
# So the registered classes' signatures are read from their modules' source with ast, and the
# annotations evaluated against the modules that are cheap to import; anything else is Any.
# tests/test_defaults.py holds both readers to the same answer for every registered class.

# modules an annotation may use that cost nothing to import
CHEAP_MODULES = ("typing", "collections.abc", "annotated_types", "gauntlet.settings")


def settings_in_source(target: str) -> dict[str, Setting]:
    """:func:`settings` of the class at the dotted path ``target``, without importing it."""
    module, _, name = target.rpartition(".")
    return _Source.of(module).class_settings(name)


class _Names(dict):
    """The names an annotation or default is evaluated with: the module's own, on demand."""

    def __init__(self, source: _Source) -> None:
        super().__init__()
        self.source = source

    def __missing__(self, name: str) -> Any:
        return self.source.value(name)


class _Source:
    """One module's top-level names, read from its source: classes, assignments, imports."""

    _parsed: typing.ClassVar[dict[str, _Source]] = {}

    @classmethod
    def of(cls, module: str) -> _Source:
        if module not in cls._parsed:
            cls._parsed[module] = cls(module)
        return cls._parsed[module]

    def __init__(self, module: str) -> None:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ImportError(f"no module {module}")
        self.module = module
        self.top: dict[str, Any] = {}
        for node in ast.parse(Path(spec.origin).read_text()).body:
            if isinstance(node, ast.ClassDef):
                self.top[node.name] = node
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                self.top[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.top[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.top[alias.asname or alias.name] = ("from", node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.top[alias.asname or alias.name.split(".")[0]] = ("import", alias.name)

    def value(self, name: str) -> Any:
        entry = self.top.get(name)
        if entry is None:
            return getattr(builtins, name, Any)
        if isinstance(entry, tuple):
            if entry[0] == "import":
                return importlib.import_module(entry[1]) if entry[1] in CHEAP_MODULES else Any
            _, module, original = entry
            if module in CHEAP_MODULES:
                return getattr(importlib.import_module(module), original)
            if module.startswith("gauntlet."):
                return _Source.of(module).value(original)
            return Any
        if isinstance(entry, ast.ClassDef):
            return Any  # a class as a type: the schema leaves it open
        return self.evaluate(entry)

    def evaluate(self, expr: ast.expr) -> Any:
        try:
            return ast.literal_eval(expr)
        except ValueError:
            pass
        try:
            code = compile(ast.Expression(expr), self.module, "eval")
            return eval(code, {"__builtins__": {}}, _Names(self))
        except Exception:  # an expression of a module this reader does not import
            return Any

    def class_settings(self, name: str) -> dict[str, Setting]:
        node = self.top.get(name)
        if isinstance(node, tuple) and node[0] == "from" and node[1].startswith("gauntlet."):
            return _Source.of(node[1]).class_settings(node[2])
        if not isinstance(node, ast.ClassDef):
            return {}
        init = next(
            (f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None
        )
        found = self.parameters(init.args) if init is not None else {}
        if init is not None and init.args.kwarg is None:
            return found
        # **kwargs, or no __init__ of its own: the first base's settings too, as the MRO has it
        base = node.bases[0] if node.bases else None
        if isinstance(base, ast.Name):
            for key, setting in self.class_settings(base.id).items():
                found.setdefault(key, setting)
        return found

    def parameters(self, args: ast.arguments) -> dict[str, Setting]:
        positional = [*args.posonlyargs, *args.args]
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pairs = [
            *zip(positional, defaults, strict=True),
            *zip(args.kwonlyargs, args.kw_defaults, strict=True),
        ]
        found: dict[str, Setting] = {}
        for arg, default in pairs:
            if arg.arg in ("self", "spec"):
                continue
            hint = Any if arg.annotation is None else self.evaluate(arg.annotation)
            kind, constraints = _split(hint)
            value = inspect.Parameter.empty if default is None else self.evaluate(default)
            found[arg.arg] = Setting(arg.arg, kind, value, constraints)
        return found


# -- checking a value ------------------------------------------------------------------------


def _type_problem(kind: Any, value: Any) -> str | None:
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        return None if value in choices else "one of " + ", ".join(map(str, choices))
    if kind is bool:
        return None if isinstance(value, bool) else "true or false"
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "a whole number"
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "a number"
    if kind is str:
        return None if isinstance(value, str) else "a string"
    return None  # lists, mappings, modules: their own constructor reads them


def _holds(constraint: Any, value: Any) -> bool:
    try:
        if isinstance(constraint, at.Gt):
            return value > constraint.gt
        if isinstance(constraint, at.Ge):
            return value >= constraint.ge
        if isinstance(constraint, at.Lt):
            return value < constraint.lt
        if isinstance(constraint, at.Le):
            return value <= constraint.le
        if isinstance(constraint, at.MultipleOf):
            return value % constraint.multiple_of == 0
        if isinstance(constraint, at.MinLen):
            return len(value) >= constraint.min_length
        if isinstance(constraint, at.MaxLen):
            return len(value) <= constraint.max_length
        if isinstance(constraint, at.Predicate):
            return bool(constraint.func(value))
    except TypeError:  # a comparison the value's type does not support
        return False
    return True  # metadata this check does not know (a docstring, a unit): nothing to hold


def _describe(constraint: Any) -> str:
    for cls, op, attr in ((at.Gt, ">", "gt"), (at.Ge, ">=", "ge"), (at.Lt, "<", "lt"),
                          (at.Le, "<=", "le")):  # fmt: skip
        if isinstance(constraint, cls):
            return f"{op} {getattr(constraint, attr)}"
    if isinstance(constraint, at.MultipleOf):
        return f"a multiple of {constraint.multiple_of}"
    if isinstance(constraint, at.MinLen):
        return f"at least {constraint.min_length} long"
    if isinstance(constraint, at.MaxLen):
        return f"at most {constraint.max_length} long"
    if isinstance(constraint, at.Predicate):
        return getattr(constraint.func, "__name__", "valid").replace("_", " ")
    return str(constraint)


# -- the dataclass field ---------------------------------------------------------------------

_PLAIN = (int, float, bool, str)


def _omegaconf_type(kind: Any) -> Any:
    """The nearest type OmegaConf validates: plain types as they are, Optional kept, a
    ``Literal`` of strings as ``str`` (its choices are :func:`check_settings`'), containers
    of plain values typed, anything else ``Any``."""
    base, optional = _without_none(kind)
    if base in _PLAIN:
        typed = base
    elif typing.get_origin(base) is Literal:
        values = typing.get_args(base)
        typed = str if all(isinstance(v, str) for v in values) else Any
    elif typing.get_origin(base) in (list, Sequence, tuple) or base in (list, tuple):
        args = typing.get_args(base)
        typed = list[args[0]] if len(args) == 1 and args[0] in _PLAIN else list[Any]
    elif typing.get_origin(base) in (dict, Mapping) or base is dict:
        typed = dict[str, Any]
    else:
        return Any
    return Optional[typed] if optional else typed


def _field(default: Any) -> Any:
    if isinstance(default, (list, dict, tuple)):
        value = list(default) if isinstance(default, tuple) else default
        return dataclasses.field(default_factory=lambda: type(value)(value))
    return dataclasses.field(default=default)
