"""params.yaml is validated with errors that name the key; splits are fixed by the seed."""
import shutil

import pytest
import yaml

from galzoo.config import load_params
from galzoo.errors import ConfigError, DataError
from galzoo.splits import make_split
from tests.conftest import REPO_ROOT


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(REPO_ROOT / "params.yaml", path)
    return path


def edit(path, key: str, value):
    raw = yaml.safe_load(path.read_text())
    *parents, leaf = key.split(".")
    node = raw
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_shipped_params_load_and_record_the_paper_recipe_verbatim():
    params = load_params(REPO_ROOT / "params.yaml")
    recipe = params.scale_study.recipe
    assert (recipe.batch_size, recipe.lr, recipe.momentum, recipe.epochs, recipe.lr_drop_epochs) == (16, 0.1, 0.9, 20,
                                                                                                    [6])
    assert params.scale_study.augment.shift_px == 12


def test_the_paper_budget_is_the_recipe_unchanged(params_file):
    params = load_params(edit(params_file, "budget", "paper"))
    assert params.recipe == params.scale_study.recipe


def test_the_embedded_budget_only_shortens_the_schedule():
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.recipe.epochs < params.scale_study.recipe.epochs
    assert params.recipe.lr == params.scale_study.recipe.lr


@pytest.mark.parametrize("key, value, message", [
    ("model", "alexnet9", "model: unknown model 'alexnet9'"),
    ("budget", "weekend", "budget: unknown budget 'weekend'"),
    ("crop.scales", ["normalized", "centre128"], "centre128"),
    ("scale_study.model", "resnet9", "scale_study.model: unknown model .resnet9."),
    ("task", "gz3_7class", "task: unknown task .gz3_7class."),
    ("efficientnet_study.head.dropout", 1.0, r"efficientnet_study.head.dropout: expected a probability in \[0, 1\)"),
    ("efficientnet_study.budgets.embedded.head_epochs", -1, "efficientnet_study.recipe.head_epochs: expected 0 or more"),
    ("classifier.crop.store_size", 0, "classifier.crop.store_size: expected a positive number"),
    ("classifier.budgets.embedded.iterations", "many", "classifier.budgets.embedded.iterations: expected int"),
    ("classifier.augment.train_sides", [240, 170], r"classifier.augment.train_sides: expected \[low, high\]"),
    ("classifier.test_sides", [180, 300], r"crop sides .* must lie in \[1, classifier.crop.source_side"),
    ("classifier.budgets.embedded.clip_grad_norm", -1.0, "classifier.recipe.clip_grad_norm: expected 0 \\(off\\)"),
    ("classifier.recipe.momentun", 0.9, "classifier.recipe.momentun: unknown key"),
    ("scale_study.recipe.lr", "fast", "scale_study.recipe.lr: expected a number"),
    ("scale_study.recipe.batch_size", 0, "scale_study.recipe.batch_size: expected a positive number"),
    ("split.test_fraction", 1.5, "split.test_fraction: expected a fraction"),
    ("runtime.device", "tpu", "runtime.device: expected one of"),
    ("scale_study.recipe.epochs", KeyError, "scale_study.recipe.epochs: missing"),
    ("scale_study.recipe.lr_typo", 0.1, "scale_study.recipe.lr_typo: unknown key"),
])
def test_bad_parameters_name_the_key(params_file, key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_params(edit(params_file, key, value))


def test_a_budget_with_an_unknown_recipe_key_is_named(params_file):
    edit(params_file, "scale_study.budgets", {"embedded": {"epocs": 2}})
    with pytest.raises(ConfigError, match="scale_study.budgets.embedded.epocs: unknown key"):
        load_params(params_file)


def test_split_is_90_10_then_validation_from_train_and_fixed_by_the_seed():
    ids = list(range(1000))
    split = make_split(ids, test_fraction=0.1, val_fraction=0.1, seed=7)
    assert split["subset"].value_counts().to_dict() == {"train": 810, "test": 100, "val": 90}
    assert split.equals(make_split(ids, test_fraction=0.1, val_fraction=0.1, seed=7))
    assert not split.equals(make_split(ids, test_fraction=0.1, val_fraction=0.1, seed=8))


def test_split_of_an_empty_or_tiny_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="empty dataset"):
        make_split([], test_fraction=0.1, val_fraction=0.1, seed=0)
    with pytest.raises(DataError, match="every part needs at least one image"):
        make_split([1, 2], test_fraction=0.1, val_fraction=0.1, seed=0)
