"""The machinery every section of params.yaml shares: dataclasses built from mappings, budgets, value checks.

:func:`build` makes a params dataclass from a mapping, nested dataclasses included; an unknown, missing or
mistyped value is a :class:`ConfigError` naming its dotted key. Right after building a dataclass it calls the
dataclass's ``check(key)`` (where it has one) with the key it was read from, so a section states its value rules
once, in ``check``, and every message names the real key. :func:`require` and the helpers after it word those
messages alike: ``<key>: expected <what>, got <value>``.

A study section with a paper ``recipe`` and named ``budgets`` of overrides to it is a :class:`Budgeted`: the
builder checks each of its budgets merged into the recipe, whichever one ``budget`` selects, and a value a
budget sets is named at the budget's key (``scale_study.budgets.embedded.epochs``), one it leaves at the
recipe's (``scale_study.recipe.lr``).
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
import urllib.parse
from typing import Any, ClassVar, Literal, TypeVar

from galzoo.errors import ConfigError

T = TypeVar("T")

SEED_MAX = 2**32 - 1
"""The largest seed every consumer takes (``np.random.seed``, ``RandomState``: 0 to 2**32 - 1)."""


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
    if isinstance(built, Budgeted):
        built.check_budgets(key)
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


class Budgeted:
    """Mixin of a study section with a paper ``recipe`` and ``budgets``: named overrides of the recipe's values.

    ``-S budget=<name>`` selects one budget in every study (``paper`` = the recipe unchanged). :func:`build` calls
    :meth:`check_budgets` on every such section, so a budget is checked whether or not it is selected.
    Subclasses set ``section``, their params.yaml key, named by :meth:`recipe_for`'s messages.
    """

    section: ClassVar[str]

    def recipe_for(self, budget: str) -> Any:
        """The recipe under ``budget``: see :func:`apply_budget`."""
        return apply_budget(self.recipe, self.budgets, budget, self.section)  # type: ignore[attr-defined]

    def check_budgets(self, key: str) -> None:
        """Each budget merged into the recipe and checked, errors naming the key that set the bad value."""
        for name, overrides in self.budgets.items():  # type: ignore[attr-defined]
            if name == "paper":
                raise ConfigError(f"{join(key, 'budgets.paper')}: 'paper' is the name of {join(key, 'recipe')} itself "
                                  f"(-S budget=paper); give this budget another name")
            merge_budget(self.recipe, overrides, join(key, f"budgets.{name}"), join(key, "recipe"))  # type: ignore


def apply_budget(recipe: T, budgets: dict[str, dict[str, Any]], budget: str, section: str) -> T:
    """Study ``section``'s paper ``recipe`` with the named budget's overrides applied (``paper`` = none)."""
    if budget == "paper":
        return recipe
    if budget not in budgets:
        raise ConfigError(f"budget: unknown budget {budget!r}; choose 'paper' or one of "
                          f"{sorted(budgets)} ({section}.budgets)")
    return merge_budget(recipe, budgets[budget], f"{section}.budgets.{budget}", f"{section}.recipe")


def merge_budget(recipe: T, overrides: Any, key: str, recipe_key: str) -> T:
    """``recipe`` (read at ``recipe_key``) with the budget ``overrides`` read at ``key``, built and checked.

    The recipe's own ``check`` runs on the merged values; in its message every value the budget set is named at
    the budget's key (``<key>.epochs: expected a positive number, got -1``) and every value it left at the
    recipe's; a message that names no value the budget set says which ones it did.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{key}: expected a mapping of {recipe_key} keys to the values this budget gives them, "
                          f"got {overrides!r}")
    merged = {**dataclasses.asdict(recipe), **overrides}
    try:
        return build(type(recipe), merged, key, check_as=recipe_key)
    except ConfigError as error:
        message = str(error)
        for name in overrides:
            budget_key = join(key, str(name))
            message = re.sub(rf"{re.escape(join(recipe_key, str(name)))}(?!\w)", lambda _, k=budget_key: k, message)
        if key not in message:
            message += f" (with {key} setting {', '.join(sorted(map(str, overrides)))})"
        raise ConfigError(message) from None


def require(ok: bool, key: str, expected: str, got: Any) -> None:
    """A ConfigError ``<key>: expected <expected>, got <got>`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {got}")


def positive(key: str, value: float) -> None:
    """``value`` read at ``key`` is above 0 (an int field's message says "a positive integer")."""
    require(value > 0, key, "a positive integer" if isinstance(value, int) else "a positive number", value)


def at_least(key: str, value: float, low: float, what: str = "") -> None:
    """``value`` read at ``key`` is ``low`` or more (``what``: the unit or meaning, said in the message)."""
    require(value >= low, key, f"{low} or more{' ' + what if what else ''}", value)


def within(key: str, value: float, low: float, high: float, what: str = "a number") -> None:
    """``low <= value <= high``: ``<key>: expected <what> in [low, high], got <value>``."""
    require(low <= value <= high, key, f"{what} in [{low}, {high}]", value)


def probabilities(key: str, section: Any, *names: str) -> None:
    """Each named field of ``section`` is a probability in [0, 1]."""
    for name in names:
        within(f"{key}.{name}", getattr(section, name), 0, 1, "a probability")


def seed(key: str, value: int) -> None:
    """A seed every consumer takes: numpy's range, 0 to 2**32 - 1."""
    require(0 <= value <= SEED_MAX, key, f"a seed in [0, 2**32 - 1 = {SEED_MAX}] (numpy's seed range)", value)


def positive_items(key: str, values: list) -> None:
    """Every item of the list read at ``key`` is positive, named by its index (``<key>[1]``)."""
    for i, value in enumerate(values):
        positive(f"{key}[{i}]", value)


def momentum(key: str, value: float, nesterov: bool = False) -> None:
    """An SGD momentum in [0, 1); Nesterov momentum needs one above 0 (torch refuses it when training starts)."""
    require(0 <= value < 1, key, "a momentum in [0, 1)", value)
    if nesterov and value == 0:
        raise ConfigError(f"{key}: expected a momentum above 0 with nesterov: true (Nesterov momentum needs one), "
                          f"got {value}")


def https_url(key: str, url: str, why: str) -> None:
    """``url`` read at ``key`` is an https URL with a host; ``why`` says why plain http is refused."""
    parts = urllib.parse.urlsplit(url)
    require(parts.scheme == "https" and bool(parts.netloc), key, f"an https:// URL ({why})", repr(url))


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
