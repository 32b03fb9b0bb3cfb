"""The study registry: every study is found by name, by task, by data source and by a run's metrics, and
`galzoo predict` reads the checkpoint every study writes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from galzoo.config import load_params
from galzoo.errors import ConfigError
from galzoo.predict import predict_images
from galzoo.sources.synthetic import generate_dataset
from galzoo.studies import StageFiles, get_study, list_studies, resolve, study_for, study_of_metrics
from galzoo.tasks import TASKS
from tests.conftest import run_study

PARAMS = load_params()


def test_each_study_has_one_name_for_its_module_its_params_section_and_its_docs_page():
    from tests.conftest import REPO_ROOT

    assert set(list_studies()) == {"scale_study", "cnn_comparison", "efficientnet", "perseus"}
    for name, study in list_studies().items():
        assert study.name == name and type(study).__module__ == f"galzoo.studies.{name}"
        assert study.section(PARAMS) is getattr(PARAMS, name)
        assert (REPO_ROOT / "docs" / "studies" / f"{name}.md").is_file()


def test_every_task_belongs_to_a_registered_study_that_trains_on_it():
    for task in TASKS.values():
        assert task.study in list_studies(), task.name


def test_task_auto_is_the_task_of_the_study_that_owns_the_model_or_the_data_source():
    auto = dataclasses.replace(PARAMS, task="auto")
    assert resolve(dataclasses.replace(auto, model="efficientnet_b0")).task == "votes37"
    assert resolve(dataclasses.replace(auto, model="alexnet")).task == "gz2_5class"
    perseus_data = dataclasses.replace(auto.data, source="perseus")
    assert resolve(dataclasses.replace(auto, model="efficientnet_b0", data=perseus_data)).task == "perseus_member"
    assert study_for(dataclasses.replace(auto, model="efficientnet_b0")).name == "efficientnet"


def test_a_task_that_does_not_go_with_the_data_source_is_an_error_naming_both():
    with pytest.raises(ConfigError, match="task: perseus_member and data.source: synthetic do not go together"):
        study_for(dataclasses.replace(PARAMS, task="perseus_member"))


def test_a_runs_metrics_name_its_study_through_its_task():
    assert study_of_metrics({"task": "gz2_5class"}).name == "cnn_comparison"
    assert study_of_metrics({"task": "classes"}).name == "cnn_comparison"
    assert study_of_metrics({"task": "perseus_member"}).name == "perseus"


def test_an_unknown_study_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown study 'morphology'; known studies: cnn_comparison, efficientnet"):
        get_study("morphology")


# --- galzoo predict reads what each study's training stage wrote ------------------------------------------
# (the CNN comparison: tests/studies/test_folder_classes.py; Perseus: tests/studies/test_perseus.py)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("raw") / "raw", 32, seed=5, workers=1, progress=False)


def predictions_of_the_test_galaxies(files: StageFiles) -> tuple[np.ndarray, np.ndarray]:
    """What the evaluate stage predicted for its test galaxies, and what galzoo predict gives on their files."""
    with np.load(files.predictions) as saved:
        ids, evaluated = saved["ids"].astype(str), saved["pred"]
    images = [files.raw / "images" / f"{galaxy}.jpg" for galaxy in ids]
    predicted = predict_images(files.model, images, device="cpu", progress=False)
    assert predicted.ids == list(ids)
    return evaluated, predicted.outputs


def test_predict_reads_a_scale_study_checkpoint_as_its_evaluate_stage(raw, tmp_path):
    params = load_params(overrides={
        "crop.scales": ["normalized"], "crop.workers": 1, "split.test_fraction": 0.25, "split.val_fraction": 0.25,
        "runtime.threads": 1, "runtime.device": "cpu",  # predict scores on the CPU too: the same arithmetic
        "scale_study.budgets": {"embedded": {"epochs": 1, "batch_size": 4, "lr": 0.01, "lr_drop_epochs": [1]}}})
    study = get_study("scale_study")
    files = StageFiles(raw=raw, store=tmp_path / "crops", split=tmp_path / "split.csv", model=tmp_path / "m.pt",
                       live=tmp_path / "live", metrics=tmp_path / "test.json", predictions=tmp_path / "p.npz",
                       scale="normalized")
    study.build_store(params, files)
    study.split(params, files)
    study.train(params, files)
    study.evaluate(params, files)
    evaluated, predicted = predictions_of_the_test_galaxies(files)
    assert np.allclose(predicted, evaluated, atol=1e-5)


def test_predict_reads_an_efficientnet_study_checkpoint_as_its_evaluate_stage(raw, tmp_path):
    params = load_params(overrides={
        "model": "efficientnet_b0", "crop.workers": 1, "runtime.threads": 1, "runtime.device": "cpu",
        "efficientnet.budgets": {"embedded": {"batch_size": 8, "head_epochs": 1, "full_epochs": 0, "input_size": 32}}})
    _, metrics, _ = run_study(params, raw, tmp_path)
    assert metrics["task"] == "votes37"
    evaluated, predicted = predictions_of_the_test_galaxies(StageFiles(raw=raw, model=tmp_path / "model.pt",
                                                                       predictions=tmp_path / "pred.npz"))
    assert np.allclose(predicted, evaluated, atol=1e-5)
