"""Study 4 (Pruitt 2024): the red-image filter, the colour regions, the selection steps and their counts, the
split by object, the rotated copies, and one tiny training run through the model branch."""
import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from galzoo import report
from galzoo.report import TEST_METRICS, extract_run_plots, runs_from_exp_show, variant
from galzoo.studies import Run, get_study, resolve, study_for
from galzoo.config import RedFilterParams, load_params
from galzoo.errors import ConfigError
from galzoo.studies.perseus.data import RotatedCopies
from galzoo.studies.perseus.pixels import colour_region, red_fraction, rotate
from galzoo.studies.perseus.selection import select_objects, split_perseus
from galzoo.studies.perseus.store import build_perseus_store
from galzoo.predict import predict_to_csv
from galzoo.sources.perseus import INDEPENDENT_COLUMNS, PerseusCatalogues, read_perseus_raw, write_perseus_raw
from tests.conftest import REPO_ROOT, SHARED_DATA, run_study

RED = RedFilterParams(max_fraction=0.5, hue_deg=20, min_saturation=100, min_value=20)


def hsv_image(hue_deg: float, saturation: int = 255, value: int = 200, size: int = 8) -> np.ndarray:
    import cv2

    hsv = np.full((size, size, 3), (hue_deg / 2, saturation, value), np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


# --- pixels and photometry -------------------------------------------------------------------------------


def test_a_red_wash_is_red_and_a_grey_sky_is_not():
    assert red_fraction(hsv_image(0), RED) == 1.0
    assert red_fraction(hsv_image(350), RED) == 1.0  # hue wraps round: 350 degrees is 10 from red
    assert red_fraction(hsv_image(120), RED) == 0.0  # green
    assert red_fraction(hsv_image(0, saturation=40), RED) == 0.0  # pale pink sky is not "red"
    assert red_fraction(hsv_image(0, value=10), RED) == 0.0  # nor is black


def test_the_red_fraction_counts_pixels():
    image = hsv_image(120, size=10)
    image[:3] = hsv_image(0, size=10)[:3]
    assert red_fraction(image, RED) == pytest.approx(0.3)


def test_colour_regions_follow_the_red_sequence_lines():
    # r = -14.3 (g - z) + c: c < 37 bluer (blue cloud), 37..46 the red sequence, > 46 redder (red shoulder)
    g_z = np.array([1.0, 1.5, 2.2, np.nan])
    r = np.array([18.0, 18.0, 18.0, 18.0])  # intercepts 32.3, 39.45, 49.46
    assert colour_region(r, g_z).tolist() == ["blue_cloud", "red_sequence", "red_shoulder", ""]


def test_rotations_by_quarter_turns_are_exact_and_others_keep_the_size():
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    assert np.array_equal(rotate(image, 90), np.rot90(image))
    assert np.array_equal(rotate(image, 360), image)
    assert rotate(image, 45).shape == image.shape


# --- the selection ---------------------------------------------------------------------------------------


def catalogue_rows() -> pd.DataFrame:
    """Eight PCC objects (one merger, one faint, one red, one without a cutout), three spectroscopic objects
    (one of them the same galaxy as PCC-1, with a redshift that contradicts its class) and one independent."""
    def row(id_, origin, ra, dec, label, r_mag, pcc_class=0, z=np.nan, image="x.png", objid=""):
        return {"id": id_, "origin": origin, "ra": ra, "dec": dec, "objid": objid, "pcc_id": "",
                "pcc_class": pcc_class, "label": label, "r_mag": r_mag, "r_sdss": r_mag, "g_z": 1.5, "z": z,
                "spec_class": "", "distance_arcmin": 1.0, "image": image}

    rows = [row("PCC-1", "pcc", 49.90, 41.50, 1.0, 16.0, 4),
            row("PCC-2", "pcc", 49.91, 41.50, 1.0, 19.4, 6),       # exactly at the cut
            row("PCC-3", "pcc", 49.92, 41.50, 0.0, 17.0, 2),
            row("PCC-4", "pcc", 49.93, 41.50, 0.0, 18.0, 1),
            row("PCC-5", "pcc", 49.94, 41.50, 0.0, 18.5, 7),
            row("PCC-6", "pcc", 49.95, 41.50, np.nan, 16.0, 5),    # merger
            row("PCC-7", "pcc", 49.96, 41.50, 0.0, 21.0, 3),       # faint
            row("PCC-8", "pcc", 49.97, 41.50, 0.0, 17.5, 2),       # red image
            row("PCC-9", "pcc", 49.98, 41.50, 0.0, 17.5, 2, image=""),  # no cutout
            row("SDSS1", "spec", 49.90 + 0.5 / 3600, 41.50, 0.0, 16.0, z=0.06, objid="1"),  # = PCC-1
            row("SDSS2", "spec", 50.10, 41.60, 1.0, 17.0, z=0.02, objid="2"),
            row("SDSS3", "spec", 50.20, 41.70, 0.0, 17.0, z=0.10, objid="3"),
            row("SDSS9-indep", "independent", 50.50, 42.00, 1.0, 17.0, z=0.02, objid="9")]
    return pd.DataFrame(rows)


def red_of(catalogue: pd.DataFrame) -> pd.Series:
    stored = catalogue[catalogue["image"] != ""]
    return pd.Series(np.where(stored["id"] == "PCC-8", 0.9, 0.02), index=stored["id"])


SELECTION = load_params(REPO_ROOT / "params.yaml").perseus.selection


def steps_by_name(steps):
    return {s["step"]: s for s in steps}


def test_each_selection_step_reports_what_it_kept():
    catalogue = catalogue_rows()
    selected, independent, steps = select_objects(catalogue, red_of(catalogue), SELECTION, seed=0)
    by_name = steps_by_name(steps)
    assert by_name["PCC catalogue"]["objects"] == 9
    assert by_name["class collapse"]["objects"] == 8                     # the merger is gone
    assert by_name["bright cut"]["objects"] == 7                         # PCC-7 is faint; 19.4 is kept
    assert by_name["PCC cutout available"]["objects"] == 6 and "PCC-9" in by_name["PCC cutout available"]["note"]
    assert by_name["red-image filter"]["objects"] == 5                   # PCC-8
    assert by_name["balanced random sample"]["member"] == by_name["balanced random sample"]["background"] == 2
    assert by_name["spectroscopic additions"]["objects"] == 4 + 2        # SDSS1 merged into PCC-1
    assert "1 spectroscopic object(s) were already selected" in by_name["spectroscopic additions"]["note"]
    assert selected["id"].is_unique and "SDSS1" not in set(selected["id"])
    assert independent["id"].tolist() == ["SDSS9-indep"]


def test_a_merged_galaxy_takes_its_spectroscopic_label():
    catalogue = catalogue_rows()
    selected, _, steps = select_objects(catalogue, red_of(catalogue), SELECTION, seed=0)
    merged = selected.set_index("id").loc["PCC-1"]
    assert merged["label"] == 0.0 and merged["merged_id"] == "SDSS1"   # z = 0.06 is behind the cluster
    assert "1 disagreed with the PCC class" in steps_by_name(steps)["spectroscopic additions"]["note"]


def test_the_strict_bright_cut_and_no_additions_are_switches():
    catalogue = catalogue_rows()
    strict = dataclasses.replace(SELECTION, r_max_inclusive=False, spec_additions=False, balance=False)
    selected, independent, steps = select_objects(catalogue, red_of(catalogue), strict, seed=0)
    assert steps_by_name(steps)["bright cut"]["objects"] == 6
    assert set(selected["id"]) == {"PCC-1", "PCC-3", "PCC-4", "PCC-5"}
    # without the additions every spectroscopic object is independent (SDSS1 is PCC-1, a training galaxy)
    assert set(independent["id"]) == {"SDSS2", "SDSS3", "SDSS9-indep"}


def test_spectroscopic_stars_stay_as_the_paper_kept_them_unless_dropped():
    catalogue = catalogue_rows()
    catalogue.loc[catalogue["id"].isin(["SDSS3", "SDSS9-indep"]), "spec_class"] = "STAR"
    selected, independent, _ = select_objects(catalogue, red_of(catalogue), SELECTION, seed=0)
    assert "SDSS3" in set(selected["id"]) and "SDSS9-indep" in set(independent["id"])   # the paper's choice
    no_stars = dataclasses.replace(SELECTION, drop_stars=True)
    selected, independent, steps = select_objects(catalogue, red_of(catalogue), no_stars, seed=0)
    assert "SDSS3" not in set(selected["id"]) and independent.empty
    assert steps_by_name(steps)["spectroscopic stars dropped"]["objects"] == 2   # SDSS1 and SDSS2 are galaxies


# --- a tiny raw layout, the store, the split and one training run ------------------------------------------


def write_tiny_perseus(root, n_per_class: int = 8, size: int = 40):
    """PCC members are bright blobs, background objects faint ones; two red washes; a few spectra."""
    rng = np.random.default_rng(0)
    images = root / "cutouts"
    images.mkdir(parents=True)
    pcc_rows, spec_rows = [], []
    yy, xx = np.mgrid[:size, :size] - size / 2
    for i in range(2 * n_per_class + 2):
        member = i % 2 == 0
        image = rng.normal(30, 5, (size, size, 3)) + (np.hypot(xx, yy) < 8)[..., None] * (150 if member else 60)
        if i >= 2 * n_per_class:
            image = np.zeros((size, size, 3)) + (200, 10, 10)  # the under-subtracted i band
        path = images / f"pcc{i}.png"
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
        pcc_rows.append({"pcc_id": f"PCC-{i:04d}", "ra": 49.5 + 0.01 * i, "dec": 41.5, "r_mag": 17.0,
                         "pcc_class": 4 if member else 2, "image": str(path)})
    for j in range(4):
        path = images / f"spec{j}.png"
        Image.fromarray(rng.integers(0, 80, (size, size, 3), dtype=np.uint8)).save(path)
        spec_rows.append({"objid": str(1000 + j), "ra": 50.5 + 0.01 * j, "dec": 41.0, "r_mag": 17.0, "g_z": 1.5,
                          "z": 0.02 if j % 2 else 0.08, "spec_class": "GALAXY", "distance_arcmin": 30.0,
                          "image": str(path)})
    catalogues = PerseusCatalogues(
        pcc=pd.DataFrame(pcc_rows),
        photometry=pd.DataFrame({"pcc_id": [r["pcc_id"] for r in pcc_rows], "objid": "1",
                                 "r_sdss": 17.0, "g_z": np.linspace(0.8, 2.5, len(pcc_rows))}),
        spec=pd.DataFrame(spec_rows), independent=pd.DataFrame(columns=list(INDEPENDENT_COLUMNS)),
        record={"source": "perseus", "mode": "test"})
    return write_perseus_raw(catalogues, root / "raw", progress=False)


def tiny_params(**perseus_changes):
    params = load_params(REPO_ROOT / "params.yaml")
    budgets = {"embedded": {"input_size": 32, "epochs": 2, "batch_size": 8}}
    perseus = dataclasses.replace(params.perseus, budgets=budgets, rotations_deg=[0, 45, 90], **perseus_changes)
    data = dataclasses.replace(params.data, source="perseus",
                               perseus=dataclasses.replace(params.data.perseus, path="unused"))
    runtime = dataclasses.replace(params.runtime, threads=1)
    return dataclasses.replace(params, model="resnet50", task="auto", data=data, perseus=perseus, runtime=runtime)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("perseus")
    raw = write_tiny_perseus(root)
    params = tiny_params()
    counts, metrics, figures = run_study(params, raw, root)
    return root, params, counts, metrics, figures


def test_the_task_of_perseus_data_is_membership_and_nothing_else():
    params = tiny_params()
    assert resolve(params).task == "perseus_member"
    assert study_for(params).name == "perseus"
    with pytest.raises(ConfigError, match="do not go together"):
        study_for(dataclasses.replace(params, task="gz2_5class"))


def test_the_split_is_by_object_with_every_step_counted(trained):
    root, params, counts, _, _ = trained
    split = pd.read_csv(root / "split.csv", dtype={"id": str})
    assert split["id"].is_unique  # no object in two subsets
    steps = {s["step"]: s["objects"] for s in counts["selection"]}
    assert steps["red-image filter"] == 16 and steps["balanced random sample"] == 16
    assert steps["spectroscopic additions"] == 16 + 4
    assert counts["subsets"]["train"]["images"] == 3 * counts["subsets"]["train"]["objects"]
    assert json.loads((root / "counts.json").read_text())["task"] == "perseus_member"


def test_rotated_copies_of_an_object_all_come_from_its_one_cutout():
    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (10, 200)])
    copies = RotatedCopies(images, np.array([1, 0]), np.array([1, 0]), [0, 90, 180], border="constant",
                           greyscale=False)
    assert len(copies) == 6
    for index in range(3):  # the first object's three copies
        x, y = copies[index]
        assert y == 1 and x.max() == pytest.approx(200 / 255)


def test_greyscale_copies_have_three_equal_channels():
    image = np.zeros((1, 8, 8, 3), np.uint8)
    image[..., 0] = 200
    x, _ = RotatedCopies(image, np.array([0]), np.array([0]), [0], border="constant", greyscale=True)[0]
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2]) and x[0].max() == pytest.approx(60 / 255, abs=0.01)


def test_training_and_scoring_write_the_paper_metrics_and_the_figures(trained):
    root, _, _, metrics, figures = trained
    assert metrics["task"] == "perseus_member" and metrics["test_images"]["n"] == 3 * metrics["test_objects"]["n"]
    assert set(metrics["test_images"]["per_class"]) == {"background", "member"}
    assert 0 <= metrics["accuracy"] <= 1 and metrics["member_f1"] == metrics["test_images"]["per_class"]["member"]["f1"]
    assert set(metrics["regions"]["test_objects"]) == {"blue_cloud", "red_sequence", "red_shoulder", "no_photometry"}
    assert metrics["independent"]["n"] == 0 and "spec_additions" in metrics["independent"]["note"]
    assert {p.name for p in figures} == {"confusion_matrix.png", "roc.png", "colour_magnitude.png"}
    confusion = pd.read_csv(root / "confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == metrics["test_images"]["n"]


def test_the_saved_model_is_the_epoch_of_the_lowest_validation_loss(trained):
    root, *_ = trained
    from galzoo.models.checkpoint import load_checkpoint

    logged = pd.read_csv(root / "live" / "plots" / "metrics" / "val" / "loss.tsv", sep="\t")
    _, meta = load_checkpoint(root / "model.pt")
    assert len(logged) == 2 and meta["epoch"] == int(logged["loss"].argmin()) + 1
    assert meta["val_loss"] == pytest.approx(logged["loss"].min())


def test_predict_uses_the_perseus_preprocessing_from_the_checkpoint(trained, tmp_path):
    root, *_ = trained
    frame = predict_to_csv(root / "model.pt", [root / "cutouts" / "pcc0.png"], tmp_path / "p.csv", progress=False)
    assert list(frame.columns) == ["GalaxyID", "p_background", "p_member", "predicted_class"]
    assert frame[["p_background", "p_member"]].sum(axis=1).iloc[0] == pytest.approx(1.0, abs=1e-5)


def test_the_report_puts_colour_and_greyscale_beside_the_paper():
    def run(greyscale, seed, accuracy):
        scores = {"n": 10, "accuracy": accuracy, "macro_f1": 0.8, "member_f1": 0.7}
        return Run(rev=f"r{seed}{greyscale}", name="x", metrics={
            "task": "perseus_member", "budget": "embedded", "model": "resnet50", "seed": seed,
            "greyscale": greyscale, "input_size": 64, "test_images": scores, "independent": {"n": 0}})

    lines = get_study("perseus").report([run(False, 1, 0.9), run(False, 2, 0.8), run(True, 1, 0.7)])
    table = "\n".join(lines)
    assert "| resnet50 | 64 px colour | embedded | 1, 2 | 10 | 0.850 ± 0.071 |" in table
    assert "| resnet50 | 64 px greyscale | embedded | 1 | 10 | 0.700 ± 0.000 |" in table
    assert "| paper (ResNet-50) | 200 px colour |" in table and "0.92" in table


def test_a_run_without_the_spectroscopic_additions_is_its_own_row_with_its_own_figures(tmp_path, monkeypatch):
    def node(rev, spec_additions):
        metrics = {"task": "perseus_member", "budget": "embedded", "model": "resnet50", "seed": 2016,
                   "greyscale": False, "input_size": 64, "test_images": {"n": 10, "accuracy": 0.9},
                   "independent": {"n": 0 if spec_additions else 5, "accuracy": 0.8}}
        params = {"perseus": {"selection": {"spec_additions": spec_additions}}}
        return {"rev": rev, "name": rev[:3], "error": None,
                "data": {"metrics": {TEST_METRICS: {"data": metrics}}, "params": {"params.yaml": {"data": params}}}}

    runs = runs_from_exp_show([node("a" * 40, True), node("b" * 40, False)])
    assert sorted(variant(r) for r in runs) == ["colour", "colour, no spectroscopic additions"]
    assert "| 64 px colour, no spectroscopic additions | embedded | 2016 | 10 | 0.900 ± 0.000 |" in "\n".join(
        get_study("perseus").report(runs))

    monkeypatch.setattr(report.subprocess, "run", lambda *a, **k: SimpleNamespace(returncode=0, stdout=b"png"))
    names = {p.name for p in extract_run_plots(runs, tmp_path)}
    assert len(names) == 6 and "resnet50_perseus_member_colour_no_spectroscopic_additions_seed2016_roc.png" in names


def test_a_repeated_rotation_angle_is_refused(tmp_path):
    text = (REPO_ROOT / "params.yaml").read_text().replace(
        "rotations_deg: [0, 30,", "rotations_deg: [360, 0, 30,")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match="perseus.rotations_deg"):
        load_params(tmp_path / "params.yaml")


# --- the real data (skipped without ../shared) -------------------------------------------------------------


@pytest.fixture(scope="module")
def real_perseus(tmp_path_factory):
    folder = SHARED_DATA / "perseus"
    if not folder.is_dir():
        pytest.skip("../shared/data/perseus is absent")
    from galzoo.sources.perseus import read_perseus_folder

    root = tmp_path_factory.mktemp("real_perseus")
    raw = write_perseus_raw(read_perseus_folder(folder), root / "raw", progress=False)
    params = load_params(REPO_ROOT / "params.yaml")
    params = dataclasses.replace(params, data=dataclasses.replace(
        params.data, source="perseus", perseus=dataclasses.replace(params.data.perseus, path=str(folder))))
    build_perseus_store(params, raw_dir=raw, out_dir=root / "store", progress=False)
    counts = split_perseus(params, raw_dir=raw, store_dir=root / "store", split_path=root / "split.csv",
                                         counts_path=root / "counts.json")
    return raw, root / "split.csv", counts


def test_on_the_real_data_no_galaxy_is_in_two_subsets(real_perseus):
    raw, split_path, _ = real_perseus
    split = pd.read_csv(split_path, dtype={"id": str})
    assert split["id"].is_unique
    # and no two objects of different subsets are one galaxy on the sky (PCC and spectra overlap)
    positions = read_perseus_raw(raw).set_index("id").loc[split["id"], ["ra", "dec"]].to_numpy()
    subsets = split["subset"].to_numpy()
    from galzoo.sources.perseus import angular_distance_arcmin

    for i, (ra, dec) in enumerate(positions):
        separation = angular_distance_arcmin(positions[:, 0], positions[:, 1], centre=(ra, dec)) * 60
        close = (separation < 2.0) & (np.arange(len(positions)) != i)
        assert (subsets[close] == subsets[i]).all(), f"{split['id'][i]} has a twin in another subset"


def test_on_the_real_data_the_counts_follow_the_paper_where_the_data_allows(real_perseus):
    _, _, counts = real_perseus
    steps = {s["step"]: s for s in counts["selection"]}
    assert steps["class collapse"]["objects"] == 5437 - 23
    assert steps["bright cut"]["objects"] == 269              # the paper's 272 counts the 3 bright mergers too
    assert steps["red-image filter"]["member"] == 114          # the paper's 114 members
    assert steps["balanced random sample"]["objects"] == 228   # the paper kept 116 background (its sample came first)
    assert steps["spectroscopic search"]["objects"] == 233     # the paper's 233 additions
