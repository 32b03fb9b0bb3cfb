"""The `dvc exp run -S key=value` commands the README and the docs give users name keys that params.yaml has:
`dvc exp run` refuses a key that params.yaml lacks ("Key ... is not in struct") before anything runs.
docs/results-history.md is left out: it records the commands of past commits, with the keys of their time."""
from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO_ROOT

HISTORY = REPO_ROOT / "docs" / "results-history.md"
PAGES = [REPO_ROOT / "README.md", *sorted(p for p in (REPO_ROOT / "docs").rglob("*.md") if p != HISTORY)]
SET_PARAM = re.compile(r"-S\s+'?([A-Za-z_][A-Za-z_0-9.]*)=")


def documented_keys() -> list[tuple[str, str]]:
    return sorted({(match.group(1), page.relative_to(REPO_ROOT).as_posix())
                   for page in PAGES for match in SET_PARAM.finditer(page.read_text())})


def has_key(tree: dict, dotted: str) -> bool:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_the_pages_document_commands_at_all():
    keys = {key for key, _ in documented_keys()}
    assert {"model", "cnn_comparison.test_rotations_flips", "cnn_comparison.budgets.embedded.optimizer"} <= keys


@pytest.mark.parametrize("key, page", documented_keys())
def test_every_documented_set_param_names_a_key_of_params_yaml(key, page):
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    assert has_key(params, key), f"{page}: `-S {key}=...` names no key of params.yaml; dvc exp run would refuse it"


def test_a_key_params_yaml_lacks_is_caught():
    assert not has_key({"cnn_comparison": {"budgets": {"embedded": {"lr": 0.1}}}},
                       "cnn_comparison.budgets.embedded.optimizer")
