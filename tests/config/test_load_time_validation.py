"""Values that used to pass load_params and fail stages later are refused when params.yaml is read.

Every message names the key exactly as the user set it (``-S scale_study.budgets.embedded.epochs=-1`` is named
``scale_study.budgets.embedded.epochs``, not the recipe key it overrides) and what was expected. The stages
(download, crop, split, ...) all start with load_params, so a value refused here stops the first of them.
"""
import re

import pytest
import yaml

from galzoo.config import load_params
from galzoo.config.schema import SEED_MAX, Budgeted
from galzoo.errors import ConfigError
from tests.conftest import REPO_ROOT

PARAMS = REPO_ROOT / "params.yaml"
RAW = yaml.safe_load(PARAMS.read_text())
#: The sections with a recipe and budgets (read from params.yaml, so a fifth study is covered too).
STUDIES = sorted(name for name, section in RAW.items() if isinstance(section, dict) and "budgets" in section)


def refused(overrides: dict, message: str) -> str:
    """load_params with ``overrides`` raises a ConfigError matching ``message``; its text."""
    with pytest.raises(ConfigError, match=message) as error:
        load_params(PARAMS, overrides=overrides)
    return str(error.value)


def test_the_shipped_params_still_load():
    params = load_params(PARAMS)
    assert params.seed == RAW["seed"] and params.scale_study.seed == RAW["scale_study"]["seed"]


# --- 1. seeds ----------------------------------------------------------------------------------------------

SEEDS = ["seed", "scale_study.seed", "data.synthetic.seed"]


@pytest.mark.parametrize("key", SEEDS)
@pytest.mark.parametrize("value", [-5, -1, SEED_MAX + 1, 2**64])
def test_a_seed_outside_numpys_range_is_refused_naming_its_key(key, value):
    refused({key: value}, rf"params\.yaml: {re.escape(key)}: expected a seed in \[0, 2\*\*32 - 1 = 4294967295\] "
                          rf"\(numpy's seed range\), got {value}$")


@pytest.mark.parametrize("key", SEEDS)
@pytest.mark.parametrize("value", [0, SEED_MAX])
def test_the_ends_of_numpys_seed_range_are_accepted(key, value):
    load_params(PARAMS, overrides={key: value})


@pytest.mark.parametrize("key", SEEDS)
def test_a_seed_must_be_an_int(key):
    refused({key: 1.5}, rf"{re.escape(key)}: expected int, got 1\.5")


# --- 2. every budget of every study, whichever budget is selected ------------------------------------------

def test_every_section_with_budgets_is_checked_as_one():
    params = load_params(PARAMS)
    assert STUDIES == ["cnn_comparison", "efficientnet", "perseus", "scale_study"]
    assert all(isinstance(getattr(params, name), Budgeted) for name in STUDIES)


def numeric_overrides():
    """(study, name) of every number a shipped budget sets."""
    return [(study, name) for study in STUDIES for budget in RAW[study]["budgets"].values()
            for name, value in budget.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]


@pytest.mark.parametrize("selected", ["embedded", "paper"])
@pytest.mark.parametrize("study, name", numeric_overrides())
def test_a_bad_budget_value_is_named_at_the_budget_key_whichever_budget_runs(study, name, selected):
    key = f"{study}.budgets.embedded.{name}"
    message = refused({"budget": selected, key: -1}, rf"params\.yaml: {re.escape(key)}: expected .*, got -1")
    assert f"{study}.recipe.{name}" not in message


def test_the_issues_example_names_the_budget_key_and_what_was_expected():
    refused({"scale_study.budgets.embedded.epochs": -1},
            r"params\.yaml: scale_study\.budgets\.embedded\.epochs: expected a positive integer, got -1$")


@pytest.mark.parametrize("selected", ["embedded", "paper"])
@pytest.mark.parametrize("study, name", numeric_overrides())
def test_a_bad_recipe_value_a_budget_overrides_is_still_refused_at_the_recipe_key(study, name, selected):
    key = f"{study}.recipe.{name}"
    refused({"budget": selected, key: -1}, rf"params\.yaml: {re.escape(key)}: expected .*, got -1")


def test_the_issues_example_of_a_recipe_value_hidden_by_the_embedded_budget():
    assert load_params(PARAMS).budget == "embedded" and "epochs" in RAW["scale_study"]["budgets"]["embedded"]
    refused({"scale_study.recipe.epochs": -1},
            r"params\.yaml: scale_study\.recipe\.epochs: expected a positive integer, got -1$")


@pytest.mark.parametrize("study", STUDIES)
def test_a_budget_no_one_selects_is_checked_too(study):
    key = f"{study}.budgets.quick"
    refused({key: {"batch_size": 0}}, rf"{re.escape(key)}\.batch_size: expected a positive integer, got 0")
    refused({"budget": "paper", key: {"batch_sise": 8}}, rf"{re.escape(key)}\.batch_sise: unknown key")
    refused({key: {"batch_size": "8"}}, rf"{re.escape(key)}\.batch_size: expected int, got '8'")


@pytest.mark.parametrize("study", STUDIES)
def test_a_budget_must_be_a_mapping_and_not_be_called_paper(study):
    refused({f"{study}.budgets.embedded": 5},
            rf"{study}\.budgets\.embedded: expected a mapping of {study}\.recipe keys .*, got 5")
    refused({f"{study}.budgets.paper": {"lr": 0.5}},
            rf"{study}\.budgets\.paper: 'paper' is the name of {study}\.recipe itself")


def test_a_rule_across_fields_names_each_value_where_it_was_set():
    message = refused({"efficientnet.recipe.full_epochs": 0, "efficientnet.budgets.quick": {"head_epochs": 0}},
                      r"efficientnet\.budgets\.quick\.head_epochs and efficientnet\.recipe\.full_epochs are both 0")
    assert "nothing would be trained" in message


def test_a_rule_between_a_budget_value_and_a_recipe_value_names_both():
    refused({"cnn_comparison.budgets.embedded.momentum": 0.0},
            r"cnn_comparison\.budgets\.embedded\.momentum: expected a momentum above 0 with nesterov: true")
    refused({"cnn_comparison.budgets.embedded.nesterov": True, "cnn_comparison.recipe.nesterov": False,
             "cnn_comparison.recipe.momentum": 0.0},
            r"cnn_comparison\.recipe\.momentum: expected a momentum above 0 with nesterov: true .*"
            r"\(with cnn_comparison\.budgets\.embedded setting .*nesterov")


def test_a_good_budget_still_overrides_the_recipe():
    params = load_params(PARAMS, overrides={"budget": "paper", "scale_study.budgets.quick": {"epochs": 1}})
    assert params.scale_study.recipe_for("quick").epochs == 1
    assert params.scale_study.recipe_for("paper") is params.scale_study.recipe


# --- 3. URLs: https where credentials are sent or nothing checks the download -----------------------------

@pytest.mark.parametrize("url", ["http://www.kaggle.com/api/v1", "HTTP://www.kaggle.com/api/v1", "ftp://x/api",
                                 "www.kaggle.com/api/v1", "https://"])
def test_the_kaggle_api_url_must_be_https_as_it_is_sent_the_credentials(url):
    refused({"data.kaggle.api_url": url},
            rf"data\.kaggle\.api_url: expected an https:// URL \(the Kaggle API is sent your credentials\), "
            rf"got {re.escape(repr(url))}")


def test_an_https_kaggle_mirror_is_accepted():
    assert load_params(PARAMS, overrides={"data.kaggle.api_url": "https://kaggle.example/api/v1"}).data.kaggle


@pytest.mark.parametrize("name", ["images", "mapping", "labels"])
def test_a_gz2_url_may_be_plain_http_only_where_its_md5_checks_the_download(name):
    url, md5 = f"http://mirror.example/{name}", "0" * 32
    refused({f"data.gz2.{name}_url": url, f"data.gz2.{name}_md5": None},
            rf"data\.gz2\.{name}_url: expected an https:// URL \(plain http is accepted only with "
            rf"data\.gz2\.{name}_md5 set")
    assert getattr(load_params(PARAMS, overrides={f"data.gz2.{name}_url": url, f"data.gz2.{name}_md5": md5}).data.gz2,
                   f"{name}_url") == url


def test_a_gz2_url_that_is_no_network_url_is_left_to_the_downloader():
    # sources.download refuses it before any request and points to the cache, where a local copy is used
    load_params(PARAMS, overrides={"data.gz2.labels_url": "/home/me/gz2_hart16.csv.gz"})


@pytest.mark.parametrize("name", ["skyserver_url", "vizier_url"])
def test_the_sdss_services_must_be_https_as_nothing_checks_what_they_send(name):
    refused({f"data.perseus.sdss.{name}": "http://skyserver.sdss.org/dr16/SkyServerWS"},
            rf"data\.perseus\.sdss\.{name}: expected an https:// URL \(no checksum checks what this service sends\)")


# --- other numbers that were accepted out of range and failed late ----------------------------------------

@pytest.mark.parametrize("key, value, expected", [
    ("data.synthetic.image_size", 256, r"424 \(the side the crop stages expect of every source but folder\)"),
    ("data.synthetic.jpeg_quality", 0, r"a JPEG quality in \[1, 95\]"),
    ("data.synthetic.jpeg_quality", 100, r"a JPEG quality in \[1, 95\]"),
    ("crop.workers", -1, r"0 or more \(0 = one process per core\)"),
    ("scale_study.recipe.momentum", -0.1, r"a momentum in \[0, 1\)"),
    ("scale_study.recipe.momentum", 1.0, r"a momentum in \[0, 1\)"),
    ("scale_study.recipe.weight_decay", -0.001, "0 or more"),
    ("scale_study.recipe.lr_drop_factor", 0, r"a factor in \(0, 1\]"),
    ("scale_study.recipe.lr_drop_factor", 2, r"a factor in \(0, 1\]"),
    ("scale_study.recipe.lr_drop_epochs", [6, -1], "a positive integer"),
    ("scale_study.augment.rotation_deg", -10, "0 or more degrees"),
    ("scale_study.augment.hflip_p", 1.5, r"a probability in \[0, 1\]"),
    ("scale_study.augment.vflip_p", -0.5, r"a probability in \[0, 1\]"),
    ("scale_study.augment.shift_px", -12, "0 or more pixels"),
    ("cnn_comparison.recipe.momentum", 0.0, "a momentum above 0 with nesterov: true"),
    ("cnn_comparison.recipe.weight_decay", -1.0, "0 or more"),
    ("cnn_comparison.recipe.lr_drop_factor", -0.1, r"a factor in \(0, 1\]"),
    ("cnn_comparison.recipe.lr_drop_iterations", [0, 60000], "a positive integer"),
    ("cnn_comparison.augment.resize", 0, "a positive integer"),
    ("cnn_comparison.augment.input_size", -64, "a positive integer"),
    ("cnn_comparison.augment.hflip_p", 2.0, r"a probability in \[0, 1\]"),
    ("cnn_comparison.augment.brightness", -0.1, "0 or more"),
    ("cnn_comparison.augment.contrast", [-0.5, 1.5], "factors of 0 or more"),
    ("cnn_comparison.augment.saturation", [-1.0, 1.5], "factors of 0 or more"),
    ("cnn_comparison.augment.hue", 0.7, r"a fraction of the hue circle in \[0, 0\.5\]"),
    ("cnn_comparison.visualize.feature_maps", 0, "a positive integer"),
    ("efficientnet.recipe.plateau_factor", 1.0, r"a factor in \(0, 1\)"),
    ("efficientnet.recipe.plateau_factor", 1.5, r"a factor in \(0, 1\)"),
    ("efficientnet.augment.rotation_deg", -90, "0 or more degrees"),
    ("efficientnet.augment.shift", 1.0, r"a fraction of the side in \[0, 1\)"),
    ("efficientnet.augment.shift", -0.1, r"a fraction of the side in \[0, 1\)"),
    ("efficientnet.augment.hflip_p", -0.1, r"a probability in \[0, 1\]"),
    ("efficientnet.augment.vflip_p", 1.1, r"a probability in \[0, 1\]"),
    ("perseus.recipe.momentum", -0.5, r"a momentum in \[0, 1\)"),
    ("perseus.recipe.weight_decay", -0.001, "0 or more"),
])
def test_a_number_out_of_range_is_refused_naming_its_key_and_the_range(key, value, expected):
    refused({key: value}, rf"params\.yaml: {re.escape(key)}(\[\d+\])?: expected {expected}")
