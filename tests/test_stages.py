"""Stage scripts end with a message naming the problem, not a traceback, and run their own checkout's code."""
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


def test_a_stage_script_imports_the_galzoo_of_its_own_checkout(tmp_path):
    # A queued DVC experiment runs in a copy of the repository; an editable install points elsewhere.
    (tmp_path / "stages").mkdir()
    shutil.copy(REPO_ROOT / "stages" / "_checkout.py", tmp_path / "stages" / "_checkout.py")
    (tmp_path / "src" / "galzoo").mkdir(parents=True)
    (tmp_path / "src" / "galzoo" / "__init__.py").write_text("COPY = True\n")
    (tmp_path / "stages" / "probe.py").write_text("import _checkout\nimport galzoo\nprint(galzoo.__file__)\n")
    out = subprocess.run([sys.executable, str(tmp_path / "stages" / "probe.py")], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == str(tmp_path / "src" / "galzoo" / "__init__.py")
