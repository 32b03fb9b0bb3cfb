"""Specification of the data section of params.yaml: its defaults and the errors naming a bad key."""
from __future__ import annotations

import pytest
import yaml

from galzoo.config import DataParams, _build
from galzoo.errors import ConfigError
from tests.conftest import REPO_ROOT


def _data_section() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["data"]


def test_params_yaml_defaults_keep_the_synthetic_source_and_match_the_dataclass_defaults():
    data = _build(DataParams, _data_section(), "data")
    assert data.source == "synthetic"
    assert data == DataParams(source="synthetic", synthetic=data.synthetic)


@pytest.mark.parametrize("change, key", [
    ({"download": {"retries": -1}}, "data.download.retries"),
    ({"gz2": {"images_md5": "not-a-digest"}}, "data.gz2.images_md5"),
    ({"gz2": {"fractions": "weighted"}}, "data.gz2.fractions"),
    ({"source": "folder"}, "data.folder.path"),
    ({"kaggle": {"typo": 1}}, "data.kaggle.typo"),
])
def test_bad_data_params_are_errors_naming_the_key(change, key):
    section = _data_section()
    for name, value in change.items():
        section[name] = {**section[name], **value} if isinstance(value, dict) else value
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _build(DataParams, section, "data")
