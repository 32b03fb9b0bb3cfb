"""The machinery every section of params.yaml shares: dataclasses built from mappings, budgets, value checks.

:func:`build` makes a params dataclass from a mapping, nested dataclasses included; an unknown, missing or
mistyped value is a :class:`ConfigError` naming its dotted key. Right after building a dataclass it calls the
dataclass's ``check(key)`` (where it has one) with the key it was read from, so a section states its value rules
once, in ``check``, and every message names the real key. :func:`require` and the helpers after it word those
messages alike: ``<key>: expected <what>, got <value>``.

A study section with a paper ``recipe`` and named ``budgets`` of overrides to it is a :class:`Budgeted`: the
builder checks each of its budgets merged into the recipe, whichever one ``budget`` selects, and a value a
budget sets is named at the budget's key (``scale_study.budgets.embedded.epochs``), one it leaves at the
recipe's (``scale_study.recipe.lr``). In a study that trains any registered network (the CNN comparison), a
budget's ``models`` maps a network's name to overrides of that budget for it alone: on a CPU the networks
differ sevenfold in cost per image, so one iteration count cannot suit them all.
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


MODELS_KEY = "models"
"""The key, inside a budget, of its per-network overrides (``cnn_comparison.budgets.embedded.models.vgg16``)."""


class Budgeted:
    """Mixin of a study section with a paper ``recipe`` and ``budgets``: named overrides of the recipe's values.

    ``-S budget=<name>`` selects one budget in every study (``paper`` = the recipe unchanged). :func:`build` calls
    :meth:`check_budgets` on every such section, so a budget is checked whether or not it is selected.
    Subclasses set ``section``, their params.yaml key, named by :meth:`recipe_for`'s messages, and
    ``budgets_per_model`` where a budget may hold per-network overrides under :data:`MODELS_KEY`.
    """

    section: ClassVar[str]
    budgets_per_model: ClassVar[bool] = False

    def recipe_for(self, budget: str, model: str | None = None) -> Any:
        """The recipe under ``budget`` for network ``model``: see :func:`apply_budget`."""
        return apply_budget(self.recipe, self.budgets, budget, self.section,  # type: ignore[attr-defined]
                            model=model if self.budgets_per_model else None)

    def check_budgets(self, key: str) -> None:
        """Each budget, and each of its per-network overrides, merged into the recipe and checked, errors naming
        the key that set the bad value. (The network names are checked against the registry by
        :meth:`galzoo.config.params.Params.check`, which may import torch.)"""
        recipe_key = join(key, "recipe")
        for name, overrides in self.budgets.items():  # type: ignore[attr-defined]
            budget_key = join(key, f"budgets.{name}")
            if name == "paper":
                raise ConfigError(f"{join(key, 'budgets.paper')}: 'paper' is the name of {recipe_key} itself "
                                  f"(-S budget=paper); give this budget another name")
            base, per_model = split_budget(overrides, budget_key, recipe_key,
                                           per_model_allowed=self.budgets_per_model)
            merge_budget(self.recipe, [(budget_key, base)], recipe_key)  # type: ignore[attr-defined]
            for model, model_overrides in per_model.items():
                merge_budget(self.recipe, [(budget_key, base),  # type: ignore[attr-defined]
                                           (join(budget_key, f"{MODELS_KEY}.{model}"), model_overrides)], recipe_key)

    def budget_models(self) -> dict[str, list[str]]:
        """The networks each budget has overrides for, by the key that lists them (for the registry check)."""
        return {join(self.section, f"budgets.{name}.{MODELS_KEY}"): sorted(overrides.get(MODELS_KEY) or {})
                for name, overrides in self.budgets.items()  # type: ignore[attr-defined]
                if isinstance(overrides, dict)}


def split_budget(overrides: Any, key: str, recipe_key: str, *,
                 per_model_allowed: bool) -> tuple[dict, dict[str, dict]]:
    """A budget's own overrides of the recipe, and its per-network ones (empty where it has none)."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{key}: expected a mapping of {recipe_key} keys to the values this budget gives them, "
                          f"got {overrides!r}")
    base = {name: value for name, value in overrides.items() if name != MODELS_KEY}
    if MODELS_KEY not in overrides:
        return base, {}
    models_key = join(key, MODELS_KEY)
    if not per_model_allowed:
        raise ConfigError(f"{models_key}: this study trains one network, so its budgets take no per-network "
                          f"overrides (only cnn_comparison's do)")
    per_model = overrides[MODELS_KEY]
    if not isinstance(per_model, dict):
        raise ConfigError(f"{models_key}: expected a mapping of network names to overrides, got {per_model!r}")
    return base, per_model


def apply_budget(recipe: T, budgets: dict[str, dict[str, Any]], budget: str, section: str, *,
                 model: str | None = None) -> T:
    """Study ``section``'s paper ``recipe`` with the named budget's overrides applied (``paper`` = none), then
    the budget's overrides for network ``model`` where it has some."""
    if budget == "paper":
        return recipe
    if budget not in budgets:
        raise ConfigError(f"budget: unknown budget {budget!r}; choose 'paper' or one of "
                          f"{sorted(budgets)} ({section}.budgets)")
    budget_key = f"{section}.budgets.{budget}"
    base, per_model = split_budget(budgets[budget], budget_key, f"{section}.recipe", per_model_allowed=True)
    layers = [(budget_key, base)]
    if model is not None and model in per_model:
        layers.append((join(budget_key, f"{MODELS_KEY}.{model}"), per_model[model]))
    return merge_budget(recipe, layers, f"{section}.recipe")


def merge_budget(recipe: T, layers: list[tuple[str, Any]], recipe_key: str) -> T:
    """``recipe`` (read at ``recipe_key``) with each layer of overrides ``(key, overrides)`` applied in turn,
    built and checked.

    The recipe's own check runs on the merged values; in its message every value a layer set is named at the
    key of the last layer that set it (``<key>.epochs: expected a positive number, got -1``) and every other at
    the recipe's; a message that names no key of the last layer says which values that layer set.
    """
    merged, set_at = dataclasses.asdict(recipe), {}  # type: ignore[call-overload]
    for key, overrides in layers:
        if not isinstance(overrides, dict):
            raise ConfigError(f"{key}: expected a mapping of {recipe_key} keys to the values it gives them, "
                              f"got {overrides!r}")
        unknown = sorted(set(map(str, overrides)) - set(merged))
        if unknown:
            raise ConfigError(f"{join(key, unknown[0])}: unknown key; expected one of {sorted(merged)}")
        merged.update(overrides)
        set_at.update({str(name): key for name in overrides})
    last_key, last_overrides = layers[-1]
    try:
        return build(type(recipe), merged, last_key, check_as=recipe_key)
    except ConfigError as error:
        message = str(error)
        for name, key in set_at.items():  # the check names the recipe's key, a type error the last layer's
            layer_key = join(key, name)
            for named in {join(recipe_key, name), join(last_key, name)} - {layer_key}:
                message = re.sub(rf"{re.escape(named)}(?!\w)", lambda _, k=layer_key: k, message)
        if last_key not in message:
            message += f" (with {last_key} setting {', '.join(sorted(map(str, last_overrides)))})"
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
