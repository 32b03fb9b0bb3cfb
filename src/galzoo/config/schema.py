"""The machinery every section of params.yaml shares: dataclasses built from mappings, budgets, value checks.

:func:`build` makes a params dataclass from a mapping, nested dataclasses included; an unknown, missing or
mistyped value is a :class:`ConfigError` naming its dotted key. Right after building a dataclass it calls the
dataclass's ``check(key)`` (where it has one) with the key it was read from, so a section states its value rules
once, in ``check``, and every message names the real key. :func:`require` and the helpers after it word those
messages alike: ``<key>: expected <what>, got <value>``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, TypeVar

from galzoo.errors import ConfigError

T = TypeVar("T")


def build(cls: type[T], raw: Any, key: str, *, check_as: str | None = None) -> T:
    """Dataclass ``cls`` from mapping ``raw`` read at ``key`` (``""`` = the top level), checked.

    ``check_as`` is the key its ``check`` names instead, where the values come from elsewhere than their rules
    (a budget's overrides of a recipe: see :func:`apply_budget`).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'params'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{join(key, unknown[0])}: unknown key; expected one of {sorted(fields)}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{join(key, name)}: missing")
            continue
        values[name] = coerce(hints[name], raw[name], join(key, name))
    built = cls(**values)
    check = getattr(built, "check", None)
    if check is not None:
        check(key if check_as is None else check_as)
    return built


def coerce(hint: Any, value: Any, key: str) -> Any:
    """``value`` read at ``key`` as type ``hint`` (a dataclass is built, an int is a valid float)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        return [coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return coerce(inner, value, key)
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is int or hint is bool or hint is str:
        if type(value) is not hint:
            raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
        return value
    raise TypeError(f"config type {hint} of {key} is not supported")  # pragma: no cover - programming error


def join(key: str, name: str) -> str:
    """The dotted key of ``name`` inside ``key`` (``""`` = the top level)."""
    return f"{key}.{name}" if key else name


def apply_budget(recipe: T, budgets: dict[str, dict[str, Any]], budget: str, section: str) -> T:
    """Study ``section``'s paper ``recipe`` with the named budget's overrides applied (``paper`` = none).

    The merged recipe is built where the overrides are read (``<section>.budgets.<budget>.lr: expected a number``)
    and checked as the recipe they override (``<section>.recipe.lr: expected a positive number``).
    """
    if budget == "paper":
        return recipe
    if budget not in budgets:
        raise ConfigError(f"budget: unknown budget {budget!r}; choose 'paper' or one of "
                          f"{sorted(budgets)} ({section}.budgets)")
    merged = {**dataclasses.asdict(recipe), **budgets[budget]}
    return build(type(recipe), merged, f"{section}.budgets.{budget}", check_as=f"{section}.recipe")


def require(ok: bool, key: str, expected: str, got: Any) -> None:
    """A ConfigError ``<key>: expected <expected>, got <got>`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {got}")


def positive(key: str, value: float) -> None:
    require(value > 0, key, "a positive number", value)


def positives(key: str, section: Any, *names: str) -> None:
    """:func:`positive` for each named field of ``section``, read at ``key``."""
    for name in names:
        positive(f"{key}.{name}", getattr(section, name))


def pair(key: str, values: list) -> tuple:
    """``(low, high)`` of a ``[low, high]`` range read at ``key``."""
    require(len(values) == 2 and values[0] <= values[1], key, "[low, high] with low <= high", values)
    return values[0], values[1]


def not_empty(key: str, values: list, what: str) -> None:
    if not values:
        raise ConfigError(f"{key}: expected at least {what}")
