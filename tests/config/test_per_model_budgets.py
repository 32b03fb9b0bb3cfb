"""A CNN comparison budget may give single networks their own overrides: on 2 CPU cores the registered networks
differ sevenfold in cost per image, so one iteration count cannot suit a sweep over all of them.

``cnn_comparison.budgets.<name>.models.<network>`` overrides that budget for that network alone; every other
network, and ``-S budget=paper``, is unaffected. Each override is checked at load time whichever model and
budget are selected, and a bad value is named at the key that set it.
"""
import re

import pytest

from galzoo.config import load_params
from galzoo.errors import ConfigError
from tests.conftest import REPO_ROOT

PARAMS = REPO_ROOT / "params.yaml"
EMBEDDED = "cnn_comparison.budgets.embedded"


def recipe(model: str, budget: str = "embedded", **overrides):
    params = load_params(PARAMS, overrides={"model": model, "budget": budget, **overrides})
    return params.cnn_comparison.recipe_for(budget, model)


def test_a_network_with_overrides_gets_them_on_top_of_the_budget():
    mine = recipe("vgg16", **{f"{EMBEDDED}.models": {"vgg16": {"iterations": 7, "eval_every": 7}}})
    budget_wide = recipe("kabani_maxout", **{f"{EMBEDDED}.models": {"vgg16": {"iterations": 7, "eval_every": 7}}})
    assert (mine.iterations, mine.eval_every) == (7, 7)
    assert mine.batch_size == budget_wide.batch_size and mine.lr == budget_wide.lr  # the budget's own values stay
    assert budget_wide.iterations != 7  # another network keeps the budget's


def test_the_paper_recipe_ignores_every_budget_and_its_network_overrides():
    params = load_params(PARAMS, overrides={"model": "dai_resnet26", "budget": "paper"})
    assert params.cnn_comparison.recipe_for("paper", "dai_resnet26") is params.cnn_comparison.recipe


def test_the_shipped_embedded_budget_trains_the_slower_networks_fewer_iterations():
    default = recipe("kabani_maxout")
    for slower in ("dieleman", "vgg16", "preact_resnet50", "inception_v3", "dai_resnet26", "alexnet"):
        assert recipe(slower).iterations < default.iterations, slower
        assert recipe(slower).batch_size == default.batch_size, slower  # same batches, fewer of them


@pytest.mark.parametrize("selected_model", ["kabani_maxout", "vgg16"])
def test_a_bad_network_override_is_refused_whichever_model_runs_named_at_its_key(selected_model):
    key = f"{EMBEDDED}.models.vgg16.iterations"
    with pytest.raises(ConfigError, match=rf"params\.yaml: {re.escape(key)}: expected a positive integer, got -1$"):
        load_params(PARAMS, overrides={"model": selected_model, key: -1})
    with pytest.raises(ConfigError, match=rf"params\.yaml: {re.escape(key)}: expected int, got 'many'$"):
        load_params(PARAMS, overrides={"model": selected_model, key: "many"})


def test_a_bad_budget_value_is_still_named_at_the_budget_key_under_a_network_override():
    key = f"{EMBEDDED}.lr"
    with pytest.raises(ConfigError, match=rf"params\.yaml: {re.escape(key)}: expected a positive number, got -1"):
        load_params(PARAMS, overrides={"model": "vgg16", key: -1})


@pytest.mark.parametrize("overrides, message", [
    ({f"{EMBEDDED}.models.resnet9": {"iterations": 3}},
     rf"{EMBEDDED}\.models\.resnet9: unknown model 'resnet9'; registered models: .*vgg16"),
    ({f"{EMBEDDED}.models.vgg16.itrations": 3}, rf"{EMBEDDED}\.models\.vgg16\.itrations: unknown key; expected one "
                                                 r"of \[.*'iterations'"),
    ({f"{EMBEDDED}.models.vgg16": 3}, rf"{EMBEDDED}\.models\.vgg16: expected a mapping"),
    ({f"{EMBEDDED}.models": [3]}, rf"{EMBEDDED}\.models: expected a mapping of network names to overrides"),
    ({"scale_study.budgets.embedded.models": {"kabani_maxout": {"epochs": 1}}},
     r"scale_study\.budgets\.embedded\.models: this study trains one network, so its budgets take no per-network"),
])
def test_a_malformed_network_override_is_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_params(PARAMS, overrides=overrides)
