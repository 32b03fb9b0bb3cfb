"""The galzoo command line."""
from galzoo.cli import main


def test_galzoo_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    assert "kabani_maxout" in capsys.readouterr().out


def test_compare_real_on_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["compare-real", "--real", str(tmp_path), "--synthetic", str(tmp_path)]) == 1
    assert f"{tmp_path}: no *.jpg images found" in capsys.readouterr().err
