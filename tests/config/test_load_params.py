"""params.yaml is validated with errors that name the key, in the file, in overrides and in each section."""
import dataclasses
import shutil

import pytest
import yaml

from galzoo.config import (CropParams, DataParams, DownloadParams, EvaluateParams, HeadParams, KerasAugmentParams,
                           RedFilterParams, SplitParams, load_params)
from galzoo.config.schema import build
from galzoo.errors import ConfigError
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
    assert params.scale_study.recipe_for(params.budget) == params.scale_study.recipe


def test_the_embedded_budget_only_shortens_the_schedule():
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.scale_study.recipe_for(params.budget).epochs < params.scale_study.recipe.epochs
    assert params.scale_study.recipe_for(params.budget).lr == params.scale_study.recipe.lr


@pytest.mark.parametrize("key, value, message", [
    ("model", "alexnet9", "model: unknown model 'alexnet9'"),
    ("budget", "weekend", "budget: unknown budget 'weekend'"),
    ("crop.scales", ["normalized", "centre128"], "centre128"),
    ("scale_study.model", "resnet9", "scale_study.model: unknown model .resnet9."),
    ("task", "gz3_7class", "task: unknown task .gz3_7class."),
    ("efficientnet.head.dropout", 1.0, r"efficientnet.head.dropout: expected a probability in \[0, 1\)"),
    ("efficientnet.budgets.embedded.head_epochs", -1, "efficientnet.budgets.embedded.head_epochs: expected 0 or more"),
    ("cnn_comparison.crop.store_size", 0, "cnn_comparison.crop.store_size: expected a positive integer"),
    ("cnn_comparison.budgets.embedded.iterations", "many", "cnn_comparison.budgets.embedded.iterations: expected int"),
    ("cnn_comparison.augment.train_sides", [240, 170], r"cnn_comparison.augment.train_sides: expected \[low, high\]"),
    ("cnn_comparison.test_sides", [180, 300], r"crop sides .* must lie in \[1, cnn_comparison.crop.source_side"),
    ("cnn_comparison.budgets.embedded.clip_grad_norm", -1.0,
     "cnn_comparison.budgets.embedded.clip_grad_norm: expected 0 \\(off\\)"),
    ("cnn_comparison.recipe.momentun", 0.9, "cnn_comparison.recipe.momentun: unknown key"),
    ("scale_study.recipe.lr", "fast", "scale_study.recipe.lr: expected a number"),
    ("scale_study.recipe.batch_size", 0, "scale_study.recipe.batch_size: expected a positive integer"),
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



# --- overrides ---------------------------------------------------------------------------------------------

def test_an_override_sets_a_nested_key_before_validation():
    params = load_params(REPO_ROOT / "params.yaml", overrides={"cnn_comparison.budgets.embedded.iterations": 2,
                                                               "scale_study.recipe.lr": 0.5})
    assert params.cnn_comparison.budgets["embedded"]["iterations"] == 2
    assert params.cnn_comparison.recipe_for("embedded").iterations == 2
    assert params.scale_study.recipe.lr == 0.5 and params.scale_study.recipe_for("embedded").lr == 0.5
    on_disk = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["cnn_comparison"]["budgets"]["embedded"]
    assert load_params(REPO_ROOT / "params.yaml").cnn_comparison.budgets["embedded"]["iterations"] == \
        on_disk["iterations"] != 2  # the file itself is left as it was


@pytest.mark.parametrize("overrides, message", [
    ({"scale_study.recipe.lr_typo": 0.1}, r"params\.yaml: scale_study\.recipe\.lr_typo: unknown key"),
    ({"efficientnet.budgets.embedded.epochs": 3}, r"efficientnet\.budgets\.embedded\.epochs: unknown key"),
    ({"runtime.nproc": 0}, r"runtime\.nproc: expected 1 or more processes, got 0"),
    ({"seed.value": 1}, "seed: is 2016, not a section, so seed.value cannot be set"),
])
def test_an_override_of_an_unknown_or_bad_key_names_it(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_params(REPO_ROOT / "params.yaml", overrides=overrides)


# --- each section's check names the key it was read from ---------------------------------------------------

SHIPPED = load_params(REPO_ROOT / "params.yaml")


@pytest.mark.parametrize("section, change, where", [
    (SHIPPED.data, {"source": "folder"}, r"\.folder\.path: required when somewhere\.else\.source is folder"),  # data
    (SHIPPED.data.download, {"retries": -1}, r"\.retries: expected 0 or more"),
    (SHIPPED.crop, {"scales": ["centre128"]}, r"\.scales\[0\]: unknown scale 'centre128'"),  # scale_study
    (SHIPPED.split, {"val_fraction": 0.0}, r"\.val_fraction: expected a fraction"),
    (SHIPPED.scale_study.recipe, {"epochs": 0}, r"\.epochs: expected a positive integer"),
    (SHIPPED.cnn_comparison, {"test_sides": [999]}, r": crop sides .* \[1, somewhere\.else\.crop\.source_side = 240\]"),
    (SHIPPED.cnn_comparison.recipe, {"warmup_iterations": -1}, r"\.warmup_iterations: expected 0 \(off\)"),
    (SHIPPED.efficientnet.head, {"dropout": 1.0}, r"\.dropout: expected a probability"),  # efficientnet
    (SHIPPED.efficientnet.augment, {"brightness": [0.0, 1.0]}, r"\.brightness: expected positive factors"),
    (SHIPPED.perseus, {"rotations_deg": [0, 360]}, r"\.rotations_deg: \[0, 360\] repeats an angle"),  # perseus
    (SHIPPED.perseus.selection.red_filter, {"min_value": 256}, r"\.min_value: expected 0-255"),
    (SHIPPED.evaluate, {"batch_size": 0}, r"\.batch_size: expected a positive integer"),  # runtime
])
def test_every_section_check_names_the_dotted_key_it_is_given(section, change, where):
    bad = dataclasses.replace(section, **change)
    with pytest.raises(ConfigError, match=rf"^somewhere\.else{where}"):
        bad.check("somewhere.else")
    section.check("somewhere.else")  # the shipped values pass


def test_the_builder_checks_each_dataclass_with_the_key_it_read_it_from():
    with pytest.raises(ConfigError, match=r"^mirror\.download\.timeout_s: expected a positive number of seconds"):
        build(DownloadParams, {"timeout_s": 0}, "mirror.download")
    with pytest.raises(ConfigError, match=r"^mirror\.data\.download\.retries: expected 0 or more"):
        build(DataParams, {"source": "synthetic", "synthetic": {"n_images": 2, "seed": 0}, "download": {"retries": -1}},
              "mirror.data")
    with pytest.raises(ConfigError, match=r"^mirror\.crop\.output_size: expected a positive integer"):
        build(CropParams, {"scales": ["normalized"], "output_size": 0}, "mirror.crop")
    with pytest.raises(ConfigError, match=r"^mirror\.split\.test_fraction: expected a fraction in \(0, 1\)"):
        build(SplitParams, {"test_fraction": 1.0, "val_fraction": 0.1}, "mirror.split")
    with pytest.raises(ConfigError, match=r"^mirror\.head\.hidden: expected a positive integer"):
        build(HeadParams, {"hidden": 0, "dropout": 0.5}, "mirror.head")
    with pytest.raises(ConfigError, match=r"^mirror\.augment\.brightness: expected \[low, high\]"):
        build(KerasAugmentParams, {**dataclasses.asdict(SHIPPED.efficientnet.augment), "brightness": [2.0, 1.0]},
              "mirror.augment")
    with pytest.raises(ConfigError, match=r"^mirror\.red\.hue_deg: expected degrees in \(0, 180\)"):
        build(RedFilterParams, {**dataclasses.asdict(SHIPPED.perseus.selection.red_filter), "hue_deg": 0},
              "mirror.red")
    with pytest.raises(ConfigError, match=r"^mirror\.evaluate\.nondeterministic_passes: expected a positive"):
        build(EvaluateParams, {"nondeterministic_passes": 0}, "mirror.evaluate")


@pytest.mark.parametrize("section, budget, message", [
    ("scale_study", {"lr": 0.0}, r"scale_study\.budgets\.short\.lr: expected a positive number"),
    ("cnn_comparison", {"eval_every": 0}, r"cnn_comparison\.budgets\.short\.eval_every: expected a positive integer"),
    ("efficientnet", {"head_epochs": 0, "full_epochs": 0},
     r"efficientnet\.budgets\.short\.head_epochs and efficientnet\.budgets\.short\.full_epochs are both 0"),
    ("perseus", {"lr_decay_rate": 1.5}, r"perseus\.budgets\.short\.lr_decay_rate: expected a factor in \(0, 1\]"),
    ("perseus", {"epochs": "many"}, r"perseus\.budgets\.short\.epochs: expected int"),
])
def test_a_budget_is_the_recipe_merged_then_checked_naming_the_budget_key(section, budget, message):
    study = getattr(SHIPPED, section)
    assert study.recipe_for("paper") is study.recipe
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(study, budgets={"short": budget}).recipe_for("short")


def test_the_checks_across_sections_name_their_keys():
    for overrides, message in [({"scale_study.model": "resnet9"}, "scale_study.model: unknown model 'resnet9'"),
                               ({"task": "gz3"}, r"task: unknown task 'gz3'.*\(or auto"),
                               ({"budget": "weekend"}, r"budget: unknown budget 'weekend'.*\(scale_study\.budgets\)")]:
        with pytest.raises(ConfigError, match=message):
            load_params(REPO_ROOT / "params.yaml", overrides=overrides)


@pytest.mark.parametrize("section", ["cnn_comparison", "perseus"])
def test_the_imbalance_remedy_is_off_as_in_the_papers_and_a_bad_one_is_named(section):
    assert getattr(load_params(REPO_ROOT / "params.yaml"), section).imbalance == "none"
    key = f"{section}.imbalance"
    assert getattr(load_params(REPO_ROOT / "params.yaml", overrides={key: "balanced_sampling"}),
                   section).imbalance == "balanced_sampling"
    with pytest.raises(ConfigError, match=rf"{key}: expected one of \['none', 'weighted_loss', "
                                          r"'sqrt_weighted_loss', 'balanced_sampling'\], got 'oversample'"):
        load_params(REPO_ROOT / "params.yaml", overrides={key: "oversample"})


def test_the_classifier_optimizer_is_sgd_as_in_the_paper_adamw_by_choice_and_a_bad_one_is_named():
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.cnn_comparison.recipe_for("paper").optimizer == "sgd"
    assert params.cnn_comparison.recipe_for("embedded", "kabani_maxout").optimizer == "sgd"
    key = "cnn_comparison.budgets.embedded.optimizer"
    chosen = load_params(REPO_ROOT / "params.yaml", overrides={key: "adamw"}).cnn_comparison
    assert chosen.recipe_for("embedded", "kabani_maxout").optimizer == "adamw"
    assert chosen.recipe_for("paper").optimizer == "sgd"
    with pytest.raises(ConfigError, match=rf"{key}: expected one of \['sgd', 'adamw'\], got 'adam'"):
        load_params(REPO_ROOT / "params.yaml", overrides={key: "adam"})
    with pytest.raises(ConfigError, match=r"scale_study.recipe.optimizer: expected one of \['sgd'\]"):
        load_params(REPO_ROOT / "params.yaml", overrides={"scale_study.recipe.optimizer": "adamw"})
