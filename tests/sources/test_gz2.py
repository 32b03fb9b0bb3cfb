"""Specification of the Galaxy Zoo 2 source: the GZ2 -> Kaggle column mapping and the whole fetch, offline."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo import tree
from galzoo.config import DataParams, DownloadParams, GZ2Params, SyntheticParams
from galzoo.dataset import open_raw_dataset
from galzoo.errors import DataError
from galzoo.labels import validate_labels
from galzoo.sources import fetch_source
from galzoo.sources.download import ChecksumError
from galzoo.sources.gz2 import GZ2_TO_KAGGLE, fetch_gz2, kaggle_labels
from tests.fake_http import fake_server  # noqa: F401 - fixture

FAST = DownloadParams(retries=1, backoff_s=0.01, timeout_s=5.0)
#: Real DR7 objids are 18 digits: more than a float64 holds exactly.
OBJIDS = [587722981736120347 + 1000 * i for i in range(5)]
ASSETS = [11, 12, 13, 14, 15]          # the last one is not in the archive


# --- the mapping ------------------------------------------------------------------------------------


def test_every_kaggle_column_is_mapped_from_exactly_one_gz2_answer():
    targets = list(GZ2_TO_KAGGLE.values())
    assert len(targets) == len(set(targets)) == tree.N_ANSWERS
    assert set(targets) == set(tree.ANSWER_COLUMNS)


def test_each_gz2_answer_goes_to_the_same_question_in_gz2_answer_order():
    """tNN is the Kaggle question number; answer numbers rise along the columns (a38, dust lane, is Q8's last)."""
    for q in tree.QUESTIONS:
        answers = [gz2 for gz2, kaggle in GZ2_TO_KAGGLE.items() if kaggle in q.columns]
        assert [GZ2_TO_KAGGLE[a] for a in answers] == list(q.columns)
        assert all(a.startswith(f"t{q.number:02d}_") for a in answers)
        numbers = [int(re.search(r"_a(\d\d)_", a).group(1)) for a in answers]
        assert numbers == sorted(numbers)


@pytest.mark.parametrize("gz2, kaggle", [
    ("t01_smooth_or_features_a01_smooth", "Class1.1"),
    ("t01_smooth_or_features_a03_star_or_artifact", "Class1.3"),
    ("t02_edgeon_a04_yes", "Class2.1"),
    ("t03_bar_a07_no_bar", "Class3.2"),
    ("t05_bulge_prominence_a13_dominant", "Class5.4"),
    ("t06_odd_a14_yes", "Class6.1"),
    ("t06_odd_a15_no", "Class6.2"),
    ("t07_rounded_a18_cigar_shaped", "Class7.3"),
    ("t08_odd_feature_a19_ring", "Class8.1"),
    ("t08_odd_feature_a24_merger", "Class8.6"),
    ("t08_odd_feature_a38_dust_lane", "Class8.7"),
    ("t09_bulge_shape_a27_no_bulge", "Class9.3"),
    ("t10_arms_winding_a28_tight", "Class10.1"),
    ("t11_arms_number_a36_more_than_4", "Class11.5"),
    ("t11_arms_number_a37_cant_tell", "Class11.6"),
])
def test_answers_mean_the_same_in_both_tables(gz2, kaggle):
    assert GZ2_TO_KAGGLE[gz2] == kaggle
    question = tree.question(int(kaggle[5:].split(".")[0]))
    assert question.columns.index(kaggle) == int(kaggle.split(".")[1]) - 1


# --- converting fractions ---------------------------------------------------------------------------


def conditional_fractions(n: int, seed: int) -> np.ndarray:
    """Random per-question fractions: each question's answers sum to 1, as in the GZ2 tables."""
    rng = np.random.default_rng(seed)
    values = np.zeros((n, tree.N_ANSWERS))
    for q in tree.QUESTIONS:
        values[:, tree.question_slice(q)] = rng.dirichlet(np.ones(len(q.answers)), size=n)
    return values


def hart_table(conditional: dict[str, np.ndarray], ids=OBJIDS) -> pd.DataFrame:
    """A table shaped like gz2_hart16.csv: dr7objid, then <answer>_<kind> columns per answer."""
    columns = {"dr7objid": list(ids), "ra": 180.0, "gz2_class": "Sc"}
    for answer, column in GZ2_TO_KAGGLE.items():
        for kind, values in conditional.items():
            columns[f"{answer}_{kind}"] = values[:, tree.COLUMN_INDEX[column]]
        columns[f"{answer}_count"] = 7
    return pd.DataFrame(columns)


def test_per_question_fractions_become_cumulative_kaggle_labels():
    conditional = conditional_fractions(6, seed=1)
    labels, unanswered = kaggle_labels(hart_table({"debiased": conditional}, ids=range(6)))
    np.testing.assert_allclose(labels, tree.cumulative_from_conditional(conditional), atol=1e-12)
    np.testing.assert_allclose(tree.conditional_fractions(labels), conditional, atol=1e-12)
    assert unanswered == 0


def test_debiased_fractions_off_by_a_little_are_renormalised_per_question():
    conditional = conditional_fractions(3, seed=2)
    skewed = conditional * 1.07
    skewed[0, 0] = -0.01  # debiasing can undershoot zero
    labels, _ = kaggle_labels(hart_table({"debiased": skewed}, ids=range(3)))
    assert tree.satisfies_tree(labels, tolerance=1e-9).all()
    np.testing.assert_allclose(labels[1:], tree.cumulative_from_conditional(conditional[1:]), atol=1e-12)


def test_a_reached_question_without_votes_gets_equal_shares_and_is_counted():
    conditional = conditional_fractions(2, seed=3)
    q11 = tree.question_slice(tree.question(11))
    conditional[0, q11] = 0.0       # spiral arms counted by nobody although Class4.1 > 0
    conditional[1, q11] = np.nan    # or not given at all
    labels, unanswered = kaggle_labels(hart_table({"debiased": conditional}, ids=range(2)))
    assert unanswered == 2
    assert tree.satisfies_tree(labels, tolerance=1e-9).all()
    np.testing.assert_allclose(labels[:, q11], np.repeat(labels[:, [tree.COLUMN_INDEX["Class4.1"]]] / 6, 6, axis=1))


def test_a_table_without_the_chosen_columns_is_an_error_naming_them():
    table = hart_table({"fraction": conditional_fractions(2, seed=4)}, ids=range(2))
    with pytest.raises(DataError, match="t01_smooth_or_features_a01_smooth_debiased.*37 of the 37"):
        kaggle_labels(table, "debiased", source="gz2_hart16.csv.gz")


# --- the whole source -------------------------------------------------------------------------------


def tiny_jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (seed * 30 % 256, 60, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


def zipped(entries: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def gz2_files(fake_server):
    """The three GZ2 files on the fake server: galaxy 5's image is missing from the archive."""
    debiased, fraction = conditional_fractions(5, seed=10), conditional_fractions(5, seed=11)
    table = gzip.compress(hart_table({"debiased": debiased, "fraction": fraction}).to_csv(index=False).encode())
    mapping = pd.DataFrame({"objid": [*OBJIDS, 587722981736999999, OBJIDS[0]],
                            "sample": "original", "asset_id": [*ASSETS, 16, 99]})
    images = {f"images_gz2/images/{a}.jpg": tiny_jpeg(a) for a in [*ASSETS[:4], 16, 99, 500]}
    images["__MACOSX/images_gz2/images/._11.jpg"] = b"resource fork"
    bodies = {"labels": table, "mapping": mapping.to_csv(index=False).encode(), "images": zipped(images)}
    paths = {"labels": "/gz2hart/gz2_hart16.csv.gz", "mapping": "/records/3565489/files/gz2_filename_mapping.csv",
             "images": "/records/3565489/files/images_gz2.zip"}
    urls = {key: fake_server.add(paths[key], bodies[key]) + "?download=1" for key in bodies}
    params = GZ2Params(images_url=urls["images"], images_md5=md5(bodies["images"]), mapping_url=urls["mapping"],
                       mapping_md5=md5(bodies["mapping"]), labels_url=urls["labels"], labels_md5=None)
    return {"params": params, "debiased": debiased, "fraction": fraction, "server": fake_server, "paths": paths}


def test_gz2_ends_in_the_raw_layout_with_cumulative_labels_keyed_by_objid(gz2_files, tmp_path, capsys):
    data = DataParams(source="gz2", synthetic=SyntheticParams(n_images=10, seed=1), gz2=gz2_files["params"],
                      download_dir=str(tmp_path / "downloads"), download=FAST)
    out = fetch_source(data, tmp_path / "raw" / "gz2", progress=False)
    dataset = open_raw_dataset(out)
    assert list(dataset.ids) == OBJIDS[:4]  # exact 18-digit ids; galaxy 5 has no image
    labels = pd.read_csv(out / "labels.csv")
    validate_labels(labels, source="labels.csv", tolerance=1e-9)
    np.testing.assert_allclose(dataset.labels.to_numpy(), tree.cumulative_from_conditional(gz2_files["debiased"][:4]),
                               atol=1e-12)
    assert (out / "images" / f"{OBJIDS[0]}.jpg").read_bytes() == tiny_jpeg(11)  # the lower of its two assets
    record = json.loads((out / "source.json").read_text())
    assert record["left_out_no_image"] == 1 and record["galaxies"] == 4 and record["fractions"] == "debiased"
    assert "1 of 5 galaxies" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "downloads" / "gz2").iterdir()) == [
        "gz2_filename_mapping.csv", "gz2_hart16.csv.gz", "images_gz2.zip"]


def test_the_fractions_param_chooses_raw_vote_fractions(gz2_files, tmp_path):
    params = replace(gz2_files["params"], fractions="fraction")
    out = fetch_gz2(params, tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    labels = pd.read_csv(out / "labels.csv").set_index("GalaxyID")
    np.testing.assert_allclose(labels.to_numpy(), tree.cumulative_from_conditional(gz2_files["fraction"][:4]),
                               atol=1e-12)


def test_an_image_archive_with_the_wrong_md5_leaves_no_dataset_and_no_cached_file(gz2_files, tmp_path):
    params = replace(gz2_files["params"], images_md5="0" * 32)
    with pytest.raises(ChecksumError, match="images_gz2.zip: md5 checksum mismatch.*data.gz2.images_md5"):
        fetch_gz2(params, tmp_path / "raw", tmp_path / "cache", FAST, progress=False)
    assert not (tmp_path / "raw").exists()
    assert not list((tmp_path / "cache").glob("images_gz2.zip*"))


def test_a_symlink_in_the_image_archive_leaves_no_dataset(gz2_files, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for asset in ASSETS[:4]:
            zf.writestr(f"images_gz2/images/{asset}.jpg", tiny_jpeg(asset))
        link = zipfile.ZipInfo("images_gz2/images/500.jpg")
        link.create_system, link.external_attr = 3, 0o120777 << 16
        zf.writestr(link, "../../../../etc/passwd")
    gz2_files["server"].add(gz2_files["paths"]["images"], buffer.getvalue())
    params = replace(gz2_files["params"], images_md5=md5(buffer.getvalue()))
    with pytest.raises(DataError, match="symbolic link"):
        fetch_gz2(params, tmp_path / "work" / "raw", tmp_path / "cache", FAST, progress=False)
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
