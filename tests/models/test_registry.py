"""The model registry: the nine paper models, its error messages, and its one-way layering."""
import json
import os
import subprocess
import sys

import pytest

from galzoo.errors import ConfigError
from galzoo.models import create_model, list_models
from tests.conftest import REPO_ROOT

PAPER_MODELS = {"kabani_maxout", "efficientnet_b0", "dieleman", "alexnet", "vgg16", "inception_v3",
                "preact_resnet50", "dai_resnet26", "resnet50"}
FAMILIES = ("dai_resnet", "dieleman", "imagenet", "kabani", "timm_models")


def run_python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter started in the repository root on this checkout's src/."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "src"),
                                                                    os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_registry_lists_the_nine_paper_models():
    # the scale study's, EfficientNet-B0, the six of the CNN comparison and Pruitt's ResNet-50
    assert set(list_models()) == PAPER_MODELS


def test_unknown_model_names_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'.*kabani_maxout"):
        create_model("resnet9000", num_outputs=37, input_size=64)


def test_loading_params_checks_the_model_names_without_importing_timm_or_torchvision():
    # every stage loads params.yaml, the download stage included: timm costs seconds and pulls in torchvision
    code = ("from galzoo.config import load_params; load_params('params.yaml'); import sys; "
            "print('timm' in sys.modules); print('torchvision' in sys.modules)")
    assert run_python(code).splitlines() == ["False", "False"]


def test_the_registry_module_imports_no_model_family():
    # the package's __init__ imports the families; stand in a bare package to see what the registry pulls in
    code = ("import json, sys, types, galzoo; package = types.ModuleType('galzoo.models'); "
            "package.__path__ = [galzoo.__path__[0] + '/models']; sys.modules['galzoo.models'] = package; "
            "import galzoo.models.registry as registry; registered = registry.list_models(); "
            "print(json.dumps([sorted(sys.modules), registered]))")
    modules, registered = json.loads(run_python(code))
    assert "galzoo.models.registry" in modules
    assert not {f"galzoo.models.{family}" for family in FAMILIES} & set(modules)
    assert registered == {}


def test_the_package_registers_every_family_and_exports_the_registry_functions():
    code = "import json, sys, galzoo.models as models; print(json.dumps([sorted(sys.modules), models.__all__]))"
    modules, exported = json.loads(run_python(code))
    assert {f"galzoo.models.{family}" for family in FAMILIES} <= set(modules)
    assert sorted(exported) == ["check_model_name", "create_model", "list_models", "register_model"]
