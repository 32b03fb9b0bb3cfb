"""Stage scripts end with a message naming the problem, not a traceback."""
import shutil
import subprocess
import sys

import yaml

from tests.conftest import REPO_ROOT


def run_stage(script, args, cwd):
    return subprocess.run([sys.executable, str(REPO_ROOT / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_a_missing_crop_index_is_a_one_line_error(tmp_path):
    shutil.copy(REPO_ROOT / "params.yaml", tmp_path)
    result = run_stage("split.py", ["--crops", "nowhere", "--out", "split.csv"], tmp_path)
    assert result.returncode == 1
    assert "galzoo: error:" in result.stderr and "index.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_model_in_params_names_the_key_and_the_choices(tmp_path):
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["model"] = "resnet9000"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = run_stage("split.py", ["--crops", "nowhere", "--out", "split.csv"], tmp_path)
    assert result.returncode == 1
    assert "model: unknown model 'resnet9000'" in result.stderr and "kabani_maxout" in result.stderr
