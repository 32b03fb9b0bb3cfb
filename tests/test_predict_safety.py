"""`galzoo predict` never destroys what it is given: the output may not land on an input image, the model file,
a folder or an unrelated file; an unwritable output fails before any image is read; a failed run leaves
neither a partial file nor a half-replaced CSV; a broken checkpoint is an error naming the file and what is
wrong with it, never a traceback."""
import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import galzoo.predict
from galzoo import tree
from galzoo.cli import main
from galzoo.errors import DataError
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.predict import is_predictions_csv

META = {"model": "kabani_maxout", "task": "votes37", "num_outputs": 37, "input_size": 32, "output_layer": "linear",
        "scale": "crop64", "mean": [30.0, 25.0, 20.0], "std": [40.0, 35.0, 30.0], "budget": "embedded",
        "seed": 2016}
"""A scale-study checkpoint, as small as the network allows (64 px crops scored at 32 px)."""
IDS = ("100001", "100002", "100003")
KAGGLE_HEADER = ",".join(["GalaxyID", *tree.ANSWER_COLUMNS])


def tiny_image(seed: int, size: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: links by their target, folders as such, files by a hash of their bytes."""
    entries = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            entries[name] = f"link to {os.readlink(path)}"
        elif path.is_dir():
            entries[name] = "folder"
        elif not path.is_file():
            entries[name] = "not a regular file"  # a pipe: reading it would block
        else:
            entries[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return entries


def partial_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.partial"))


@pytest.fixture(scope="module")
def model_source(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    save_checkpoint(path, create_model("kabani_maxout", num_outputs=37, input_size=32), META)
    return path


@pytest.fixture
def work(tmp_path, model_source) -> Path:
    """A model and a folder of three images; the tests check what is in here before and after."""
    shutil.copyfile(model_source, tmp_path / "model.pt")
    (tmp_path / "images").mkdir()
    for seed, galaxy in enumerate(IDS):
        Image.fromarray(tiny_image(seed)).save(tmp_path / "images" / f"{galaxy}.png")
    return tmp_path


def predict(*args) -> int:
    return main(["predict", "--device", "cpu", "--batch-size", "2", *map(str, args)])


def error_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def no_image_may_be_read(monkeypatch) -> None:
    def fail(path):
        raise AssertionError(f"{path} was read although the output was refused")
    monkeypatch.setattr(galzoo.predict, "read_image", fail)


# --- the output never lands on an input or the model ---------------------------------------------------------


def spell(work: Path, target: Path, spelling: str, monkeypatch) -> str:
    """``target`` as -o, spelled as given, as a relative ``./`` path, or through a symbolic or hard link."""
    if spelling == "as given":
        return str(target)
    if spelling == "./relative":
        monkeypatch.chdir(target.parent)
        return f"./{target.name}"
    link = work / f"{spelling.replace(' ', '_')}.csv"
    if spelling == "symbolic link":
        link.symlink_to(target)
    else:
        os.link(target, link)
    return str(link)


SPELLINGS = ["as given", "./relative", "symbolic link", "hard link"]


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "--force"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_input_image_is_never_the_output(work, spelling, force, monkeypatch, capsys):
    victim = work / "images" / "100002.png"
    out = spell(work, victim, spelling, monkeypatch)
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    assert predict("--model", work / "model.pt", work / "images", "-o", out, *force) == 1
    err = error_of(capsys)
    assert f"galzoo: error: -o {Path(out)}: is an input image ({victim})" in err and "refusing to overwrite" in err
    assert snapshot(work) == before


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "--force"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_model_file_is_never_the_output(work, spelling, force, monkeypatch, capsys):
    model = work / "model.pt"
    out = spell(work, model, spelling, monkeypatch)
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    assert predict("--model", model, work / "images", "-o", out, *force) == 1
    assert f"-o {Path(out)}: is the model file given to --model ({model})" in error_of(capsys)
    assert snapshot(work) == before
    load_checkpoint(model)  # still a loadable checkpoint


def test_the_temporary_file_may_not_be_the_model_either(work, monkeypatch, capsys):
    """The CSV is first written to <out>.partial: that file must not be the model (or an input) either."""
    (work / "p.csv.partial").symlink_to(work / "model.pt")
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    assert predict("--model", work / "model.pt", work / "images", "-o", work / "p.csv", "--force") == 1
    assert f"its temporary file {work / 'p.csv.partial'} is the model file" in error_of(capsys)
    assert snapshot(work) == before


# --- existing files and folders ------------------------------------------------------------------------------


def test_an_existing_file_that_is_not_a_predictions_csv_is_replaced_only_with_force(work, capsys):
    notes = work / "notes.txt"
    notes.write_text("my observing notes\n")
    before = snapshot(work)
    assert predict("--model", work / "model.pt", work / "images", "-o", notes) == 1
    err = error_of(capsys)
    assert f"-o {notes}: the file exists and is not a galzoo predictions CSV" in err and "--force" in err
    assert snapshot(work) == before

    assert predict("--model", work / "model.pt", work / "images", "-o", notes, "--force") == 0
    lines = notes.read_text().splitlines()
    assert lines[0] == KAGGLE_HEADER and [line.split(",")[0] for line in lines[1:]] == list(IDS)
    assert partial_files(work) == []


def test_an_earlier_predictions_csv_is_replaced_without_force(work):
    out = work / "predictions.csv"
    assert predict("--model", work / "model.pt", work / "images", "-o", out) == 0
    assert len(out.read_text().splitlines()) == 1 + len(IDS)
    assert predict("--model", work / "model.pt", work / "images" / "100003.png", "-o", out) == 0
    assert [line.split(",")[0] for line in out.read_text().splitlines()] == ["GalaxyID", "100003"]


@pytest.mark.parametrize("header, expected", [
    (KAGGLE_HEADER, True),
    ("GalaxyID,p_elliptical,p_spiral,predicted_class", True),
    ("GalaxyID,p_background,p_member,predicted_class", True),
    ("GalaxyID,Class1.1,Class1.2", False),                     # not the 37 columns
    ("GalaxyID,actual,predicted", False),                      # a confusion table
    ("GalaxyID,predicted_class", False),                       # no probabilities
    ("id,p_a,p_b,predicted_class", False),
    ("", False),
])
def test_a_predictions_csv_is_recognised_by_its_header(tmp_path, header, expected):
    path = tmp_path / "file.csv"
    path.write_text(header + "\n100000,0.5,0.5,a\n" if header else "")
    assert is_predictions_csv(path) is expected


def test_an_image_is_not_a_predictions_csv(work):
    assert not is_predictions_csv(work / "images" / "100001.png")


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "--force"])
def test_a_folder_as_output_is_a_clear_error_leaving_no_partial_file(work, force, monkeypatch, capsys):
    folder = work / "results"
    folder.mkdir()
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    assert predict("--model", work / "model.pt", work / "images", "-o", folder, *force) == 1
    assert f"-o {folder}: is a folder; give the CSV file to write" in error_of(capsys)
    assert snapshot(work) == before and partial_files(work) == []


def test_a_pipe_or_device_is_never_replaced_by_the_output(work, monkeypatch, capsys):
    pipe = work / "pipe"
    os.mkfifo(pipe)
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    assert predict("--model", work / "model.pt", work / "images", "-o", pipe, "--force") == 1
    assert f"-o {pipe}: exists and is not a regular file" in error_of(capsys)
    assert snapshot(work) == before and pipe.is_fifo()


# --- an unwritable output fails before any image is read ------------------------------------------------------


def test_an_output_under_a_regular_file_fails_before_any_image_is_read(work, monkeypatch, capsys):
    (work / "notes.txt").write_text("a file, not a folder\n")
    out = work / "notes.txt" / "sub" / "predictions.csv"
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    assert predict("--model", work / "model.pt", work / "images", "-o", out) == 1
    assert f"galzoo: error: -o {out}: cannot write here" in error_of(capsys)
    assert snapshot(work) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder_fails_before_any_image_is_read(work, monkeypatch, capsys):
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        before = snapshot(work)
        no_image_may_be_read(monkeypatch)
        assert predict("--model", work / "model.pt", work / "images", "-o", locked / "p.csv") == 1
        assert f"-o {locked / 'p.csv'}: cannot write here (Permission denied" in error_of(capsys)
        assert snapshot(work) == before
    finally:
        locked.chmod(0o755)


# --- a failed run leaves everything as it was ----------------------------------------------------------------


def test_a_run_that_fails_midway_keeps_the_earlier_csv_and_leaves_no_partial_file(work, capsys):
    out = work / "predictions.csv"
    assert predict("--model", work / "model.pt", work / "images", "-o", out) == 0
    (work / "images" / "100004.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # in the second batch of 2
    before = snapshot(work)
    assert predict("--model", work / "model.pt", work / "images", "-o", out) == 1
    assert "100004.png" in error_of(capsys)
    assert snapshot(work) == before and partial_files(work) == []


def test_folders_made_for_the_output_are_removed_when_the_run_fails(work, capsys):
    (work / "images" / "100004.png").write_bytes(b"broken")
    before = snapshot(work)
    assert predict("--model", work / "model.pt", work / "images", "-o", work / "new" / "sub" / "p.csv") == 1
    assert "100004.png" in error_of(capsys)
    assert snapshot(work) == before


# --- broken checkpoints: an error naming the file and what is wrong ----------------------------------------


@pytest.fixture(scope="module")
def weights() -> dict[int, dict[str, torch.Tensor]]:
    """State dicts of the network with 37 and with 5 outputs."""
    torch.manual_seed(0)
    return {n: create_model("kabani_maxout", num_outputs=n, input_size=32).state_dict() for n in (37, 5)}


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


def bad_checkpoints(weights) -> dict[str, tuple[object, str]]:
    """What is saved, and the message expected (a regular expression)."""
    last_weight = [k for k in weights[37] if k.endswith("weight")][-1]
    return {
        "metadata lacks num_outputs": ({"metadata": _without(META, "num_outputs"), "state_dict": weights[37]},
                                       r"checkpoint metadata lacks num_outputs \(a galzoo checkpoint has model, "
                                       r"num_outputs, input_size"),
        "weights of 5 outputs, metadata of 37": (
            {"metadata": META, "state_dict": weights[5]},
            r"the weights do not fit the architecture its metadata names \('kabani_maxout' with 37 outputs, 32 px "
            rf"inputs, output layer 'linear'\): {re.escape(last_weight)} has shape \(5, \d+\) in the file, "
            r"\(37, \d+\) in the model"),
        "a weight missing": ({"metadata": META, "state_dict": _without(weights[37], last_weight)},
                             rf"the weights do not fit .*: 1 weight\(s\) missing \({re.escape(last_weight)}\)"),
        "an extra weight": ({"metadata": META, "state_dict": {**weights[37], "extra.bias": torch.zeros(3)}},
                            r"the weights do not fit .*: 1 unexpected weight\(s\) \(extra\.bias\)"),
        "a bare state_dict": (weights[37], r"not a galzoo model checkpoint: expected a dict with 'metadata' and "
                                           r"'state_dict' \(as galzoo's training stages save\), found keys "),
        "an unknown network": ({"metadata": {**META, "model": "hubble_net"}, "state_dict": weights[37]},
                               r"the checkpoint's metadata does not describe a model galzoo can build "
                               r".*unknown model 'hubble_net'; registered models: alexnet"),
        "num_outputs not a number": ({"metadata": {**META, "num_outputs": "37"}, "state_dict": weights[37]},
                                     r"checkpoint metadata num_outputs = '37'; expected a positive integer"),
    }


CASES = ["metadata lacks num_outputs", "weights of 5 outputs, metadata of 37", "a weight missing",
         "an extra weight", "a bare state_dict", "an unknown network", "num_outputs not a number"]


@pytest.mark.parametrize("case", CASES)
def test_a_broken_checkpoint_is_a_data_error_naming_the_file(tmp_path, weights, case):
    blob, message = bad_checkpoints(weights)[case]
    path = tmp_path / "broken.pt"
    torch.save(blob, path)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {message}"):
        load_checkpoint(path)


@pytest.mark.parametrize("case", ["metadata lacks num_outputs", "weights of 5 outputs, metadata of 37"])
def test_the_cli_reports_a_broken_checkpoint_without_a_traceback_and_writes_nothing(work, weights, case, capsys):
    blob, message = bad_checkpoints(weights)[case]
    torch.save(blob, work / "broken.pt")
    before = snapshot(work)
    assert predict("--model", work / "broken.pt", work / "images", "-o", work / "out" / "p.csv") == 1
    err = error_of(capsys)
    assert err.startswith(f"galzoo: error: {work / 'broken.pt'}: ") and re.search(message, err)
    assert len(err.strip().splitlines()) == 1
    assert snapshot(work) == before


def test_an_output_with_an_image_ending_is_refused_so_a_later_run_cannot_mistake_it_for_an_image(work, monkeypatch,
                                                                                              capsys):
    before = snapshot(work)
    no_image_may_be_read(monkeypatch)
    out = work / "images" / "new.jpg"
    assert predict("--model", work / "model.pt", work / "images", "-o", out, "--force") == 1
    assert f"-o {out}: has an image file's ending; give a CSV file" in error_of(capsys)
    assert snapshot(work) == before
