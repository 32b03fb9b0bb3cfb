"""Specification of the Perseus study's folder way in: a copy of the study's data release, read into the raw layout.

The tiny release below is laid out like the real one; its spectroscopic tables are the hand-written SkyServer
answers of ``tests/data/sdss/`` (see tests/sources/test_sdss.py), so both ways in read the same objects.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from galzoo.config import DataParams, PerseusDataParams, SyntheticParams
from galzoo.sources import fetch_source
from galzoo.sources.perseus import catalogue_table, read_perseus_folder, read_perseus_raw
from tests.conftest import SHARED_DATA
from tests.sources.common import RECORDED_SDSS as RECORDED, jpeg, mean_colour

SYNTHETIC = SyntheticParams(n_images=10, seed=1)


def pcc_line(number: int, ra: str, dec: str, r: str, text: str) -> str:
    """One line of the PCC as the release writes it: fixed-width columns, the class text, a stamp URL."""
    return (f"N/A  PCC-{number:04d}  {ra:>7}  {dec:>7}  {r:>5}  0.04   1.44   0.1   20.8  1.07   0.1  -64.5   1.7  "
            f"0.41    0   0.69   0.25   0.63   0.28   {text:>60}   "
            f"http://dc.zah.uni-heidelberg.de/pcc/q/stamp/dlget?ID=PCC-{number:04d}")


@pytest.fixture
def release_folder(tmp_path) -> Path:
    """A tiny folder laid out like the study's data release."""
    root = tmp_path / "perseus"
    catalogs, pcc_images = root / "catalogs", root / "images" / "pcc"
    for folder in (catalogs, pcc_images, root / "images" / "labelled", root / "images" / "radial_search"):
        folder.mkdir(parents=True)
    (catalogs / "wittmann2019_pcc.txt").write_text("\n".join([
        pcc_line(1, "49.9", "41.5", "18.20", "Likely dE/ETGcluster candidate nucleated"),
        pcc_line(2, "49.95", "41.55", "19.00", "Cluster or background LTG"),
        pcc_line(3, "50.0", "41.45", "21.30", "Likely merging system")]) + "\n")
    (pcc_images / "sdss_ra=49.9_dec=41.5.jpeg").write_bytes(jpeg((200, 0, 0)))
    (pcc_images / "sdss_ra=49.95_dec=41.55.jpeg").write_bytes(jpeg((0, 200, 0)))
    (catalogs / "PCC_CrossMatch.csv").write_text(
        "#Table1\nfiles,name,labels,reds,objID,type,ra,dec,modelMag_r,u_g,g_z\n"
        "sdss_ra=49.9_dec=41.5.png,PCC-0001,1,3.4,1237661055281858001,GALAXY,49.9,41.5,18.31,2.3,1.92\n")
    spec = (RECORDED / "spec_45arcmin.csv").read_text().split("\n", 1)[1]       # without the #Table1 line
    (catalogs / "SpecSearchNoCuts.csv").write_text(spec)
    independent = pd.read_csv(RECORDED / "independent_90arcmin.csv", comment="#", dtype={"objID": str})
    independent["files"] = [f"sdss_ra={ra}_dec={dec}-label=0.png" for ra, dec in zip(independent.ra, independent.dec)]
    independent.to_csv(catalogs / "IndependentTestSet_Cleaned.csv")
    Image.open(io.BytesIO(jpeg((0, 0, 200)))).save(root / "images" / "labelled" / "sdss_ra=50.03_dec=41.55-label=0.png")
    Image.open(io.BytesIO(jpeg((9, 9, 9)))).save(root / "images" / "radial_search" / "1237661059574334001-label=1.png")
    return root


def test_fetch_source_folder_mode_reads_a_release_laid_out_folder(release_folder, tmp_path):
    data = DataParams(source="perseus", synthetic=SYNTHETIC,
                      perseus=PerseusDataParams(mode="folder", path=str(release_folder)))
    table = read_perseus_raw(fetch_source(data, tmp_path / "raw", progress=False)).set_index("id")
    assert table["origin"].value_counts().to_dict() == {"pcc": 3, "spec": 3, "independent": 3}
    assert table.loc["PCC-0001", "objid"] == "1237661055281858001" and table.loc["PCC-0001", "label"] == 1.0
    np.testing.assert_allclose(mean_colour(table.loc["PCC-0002", "image"]), (0, 200, 0), atol=3)
    assert table.loc["PCC-0003", "image"] == ""
    assert Path(table.loc["SDSS1237661059574334001", "image"]).suffix == ".png"        # from radial_search/
    np.testing.assert_allclose(mean_colour(table.loc["SDSS1237661059574334002", "image"]), (0, 0, 200), atol=3)
    assert table.loc["SDSS1237661059574334001-indep", "image"] != ""                   # same objID: same image
    assert (table.loc[[i for i in table.index if i.endswith("-indep")][1:], "image"] == "").all()


@pytest.fixture
def real_release() -> Path:
    """The study's data release beside the project, when present (never part of the product)."""
    folder = SHARED_DATA / "perseus"
    if not folder.is_dir():
        pytest.skip("../shared/data/perseus is absent")
    return folder


#: The release's README: 5,437 PCC objects, 233 spectroscopic ones within 45', 335 independent ones of which only
#: 5 have their image in the release.
REAL_COUNTS = {"pcc": {"objects": 5437, "images": 5437}, "spec": {"objects": 233, "images": 233},
               "independent": {"objects": 335, "images": 5}}


def counts(table: pd.DataFrame, image_column: str) -> dict:
    return table.groupby("origin").agg(objects=("id", "size"),
                                       images=(image_column, lambda s: int((s != "").sum()))).to_dict("index")


def test_the_real_release_is_read_whole(real_release):
    table = catalogue_table(read_perseus_folder(real_release))
    assert counts(table, "source_image") == REAL_COUNTS
    assert all(Path(p).is_file() for p in table["source_image"] if p)


@pytest.mark.slow
def test_the_real_release_reads_into_the_raw_layout(real_release, tmp_path):
    data = DataParams(source="perseus", synthetic=SYNTHETIC,
                      perseus=PerseusDataParams(mode="folder", path=str(real_release)))
    table = read_perseus_raw(fetch_source(data, tmp_path / "raw", progress=False))
    assert counts(table, "image") == REAL_COUNTS
