"""`galzoo predict` and `galzoo gallery`: a trained model scores JPEG, PNG and FITS files with the preprocessing
stored in its checkpoint, exactly as the pipeline scores its own crops, and writes a Kaggle submission or
class probabilities; the gallery shows the galaxies rated highest on chosen answers."""
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from astropy.io import fits
from PIL import Image

import galzoo.predict
from galzoo import tree
from galzoo.cli import main
from galzoo.config import load_params
from galzoo.errors import DataError
from galzoo.evaluation.classification import predict_views
from galzoo.evaluation.regression import predict as pipeline_predict
from galzoo.models import create_model
from galzoo.models.checkpoint import save_checkpoint
from galzoo.predict import (collect_inputs, d4_transforms, predict_images, predict_to_csv, read_image,
                            score_views, stretch_to_uint8)
from galzoo.preprocess.crops import SCALES, centre_crop, resize_square
from galzoo.preprocess.store import build_store
from galzoo.training.data import ArrayDataset
from galzoo.training.multiscale import MultiScaleCrops, multiscale_test_views
from tests.conftest import REPO_ROOT

PARAMS = load_params(REPO_ROOT / "params.yaml")
KAGGLE_HEADER = ["GalaxyID", *tree.ANSWER_COLUMNS]
CLASS_NAMES = ["completely_round_smooth", "in_between_smooth", "cigar_shaped_smooth", "edge_on", "spiral"]
MEAN, STD = [31.5, 27.0, 22.25], [40.0, 35.5, 30.0]
"""Per-channel statistics in 0-255 units, as train_scale saves them."""


# --- fixtures: images and checkpoints as the pipeline writes them ------------------------------------------


def galaxy_image(seed: int, size: int = 424) -> np.ndarray:
    """Noisy sky, an elongated off-axis galaxy and a star: no rotation or flip of it equals another."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    angle = 0.4 + seed
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    galaxy = np.exp(-((u / (25 + 10 * seed)) ** 2 + (v / 9) ** 2))
    star = np.exp(-(((x - 40) / 3) ** 2 + ((y + 25) / 3) ** 2))
    image = rng.normal(12, 3, (size, size, 3)) + galaxy[..., None] * [230, 180, 120] + star[..., None] * 200
    return np.clip(image, 0, 255).astype(np.uint8)


def write_jpegs(folder: Path, n: int, first_id: int = 100000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{first_id + i}.jpg"
        Image.fromarray(galaxy_image(i)).save(path, quality=90)
        paths.append(path)
    return paths


def scale_study_metadata(scale: str = "crop64", output_layer: str = "linear") -> dict:
    """What train_scale saves."""
    return {"model": "kabani_maxout", "task": "votes37", "num_outputs": 37, "input_size": 64,
            "output_layer": output_layer, "scale": scale, "mean": MEAN, "std": STD, "budget": "embedded",
            "seed": 2016}


def classifier_metadata() -> dict:
    """What train_classifier saves (with the scale study's network: small and fast)."""
    c = PARAMS.cnn_comparison
    return {"model": "kabani_maxout", "task": "gz2_5class", "num_outputs": 5, "class_names": CLASS_NAMES,
            "input_size": c.augment.input_size, "output_layer": "linear", "scale": f"crop{c.crop.source_side}",
            "mean": None, "std": None,
            "preprocessing": {"kind": "multiscale", "source_side": c.crop.source_side,
                              "store_size": c.crop.store_size, "augment": asdict(c.augment),
                              "test_sides": list(c.test_sides), "whitening": "per_image"},
            "budget": "embedded", "seed": 2016}


def save_model(path: Path, metadata: dict, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    head = {"head": metadata["head"]} if metadata.get("head") else {}  # the EfficientNet study's dense head
    model = create_model(metadata["model"], num_outputs=metadata["num_outputs"],
                         input_size=metadata["input_size"], output_layer=metadata["output_layer"], **head)
    save_checkpoint(path, model, metadata)
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for scale in SCALES:
        save_model(folder / f"{scale}.pt", scale_study_metadata(scale))
    save_model(folder / "tree.pt", scale_study_metadata("normalized", output_layer="tree"))
    save_model(folder / "classifier.pt", classifier_metadata())
    return folder


@pytest.fixture(scope="module")
def jpeg_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("jpegs") / "images"
    write_jpegs(folder, 4)
    return folder


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"GalaxyID": str})


def load_eval(path: Path):
    from galzoo.models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(path)
    return model.eval(), meta


# --- the output files ---------------------------------------------------------------------------------------


def test_a_votes_model_writes_a_kaggle_submission_with_one_row_per_image(models_dir, jpeg_dir, tmp_path):
    frame = predict_to_csv(models_dir / "crop64.pt", [jpeg_dir], tmp_path / "submission.csv", progress=False)
    written = read_csv(tmp_path / "submission.csv")
    assert list(written.columns) == KAGGLE_HEADER
    assert written["GalaxyID"].tolist() == ["100000", "100001", "100002", "100003"]
    values = written[list(tree.ANSWER_COLUMNS)].to_numpy()
    assert ((values >= 0) & (values <= 1)).all()  # an untrained linear head goes outside: clipped
    np.testing.assert_allclose(values, frame[list(tree.ANSWER_COLUMNS)].to_numpy(), atol=1e-6)


def test_the_votes_are_clipped_but_not_renormalised(models_dir, jpeg_dir):
    raw = predict_images(models_dir / "crop64.pt", [jpeg_dir], progress=False).outputs
    assert (raw < 0).any() or (raw > 1).any(), "the test needs raw outputs outside [0, 1]"
    frame = predict_to_csv(models_dir / "crop64.pt", [jpeg_dir], jpeg_dir.parent / "clip.csv", progress=False)
    np.testing.assert_allclose(frame[list(tree.ANSWER_COLUMNS)].to_numpy(), np.clip(raw, 0, 1))


def test_a_tree_output_model_gives_rows_that_satisfy_the_decision_tree(models_dir, jpeg_dir, tmp_path):
    images = [jpeg_dir / "100000.jpg", jpeg_dir / "100003.jpg"]
    predict_to_csv(models_dir / "tree.pt", images, tmp_path / "tree.csv", tta=True, progress=False)
    values = read_csv(tmp_path / "tree.csv")[list(tree.ANSWER_COLUMNS)].to_numpy()
    assert tree.satisfies_tree(values).all()


def test_a_classifier_gives_probabilities_summing_to_one_and_a_predicted_class(models_dir, jpeg_dir, tmp_path):
    predict_to_csv(models_dir / "classifier.pt", [jpeg_dir], tmp_path / "classes.csv", progress=False)
    written = read_csv(tmp_path / "classes.csv")
    probability_columns = [f"p_{name}" for name in CLASS_NAMES]
    assert list(written.columns) == ["GalaxyID", *probability_columns, "predicted_class"]
    probabilities = written[probability_columns].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert written["predicted_class"].tolist() == [CLASS_NAMES[i] for i in probabilities.argmax(axis=1)]


# --- bounded memory: read, score and write one batch at a time ----------------------------------------------


def test_images_are_read_batch_by_batch_as_the_rows_before_them_are_written(models_dir, jpeg_dir, tmp_path,
                                                                             monkeypatch):
    """Memory holds one batch: an image is read only once every batch before its own is scored and written
    to the partial file, whatever the number of images."""
    out = tmp_path / "p.csv"
    partial = tmp_path / "p.csv.partial"
    lines_written_when_read = []

    def reading(path):
        lines_written_when_read.append((path.name, len(partial.read_text().splitlines())))
        return read_image(path)

    monkeypatch.setattr(galzoo.predict, "read_image", reading)
    predict_to_csv(models_dir / "crop64.pt", [jpeg_dir], out, batch_size=2, progress=False)
    assert lines_written_when_read == [("100000.jpg", 1), ("100001.jpg", 1),  # the header only
                                       ("100002.jpg", 3), ("100003.jpg", 3)]  # + the first batch's 2 rows
    assert len(out.read_text().splitlines()) == 5 and not partial.exists()


def test_a_csv_written_in_several_batches_has_one_header_and_the_rows_of_one_pass(models_dir, jpeg_dir, tmp_path):
    frame = predict_to_csv(models_dir / "crop64.pt", [jpeg_dir], tmp_path / "p.csv", batch_size=3, device="cpu",
                           progress=False)
    written = read_csv(tmp_path / "p.csv")
    assert list(written.columns) == KAGGLE_HEADER and written["GalaxyID"].tolist() == frame["GalaxyID"].tolist()
    whole = predict_images(models_dir / "crop64.pt", [jpeg_dir], batch_size=4, device="cpu", progress=False).outputs
    np.testing.assert_allclose(written[list(tree.ANSWER_COLUMNS)].to_numpy(), np.clip(whole, 0, 1), atol=1e-6)


# --- the same preprocessing as the pipeline -----------------------------------------------------------------
# (compared on the CPU in fp32: on a GPU, "auto" scores under bf16 autocast, whose rounding depends on the batch)


@pytest.fixture(scope="module")
def scale_store(tmp_path_factory, jpeg_dir) -> Path:
    """The crop stage's array store of the test JPEGs."""
    out = tmp_path_factory.mktemp("crops")
    paths = sorted(jpeg_dir.glob("*.jpg"))
    build_store(paths, [p.stem for p in paths], out, scales=SCALES, output_size=64, workers=1, progress=False)
    return out


@pytest.mark.parametrize("scale", SCALES)
def test_a_scale_study_prediction_equals_the_evaluate_stage_on_the_crop_stage_array(models_dir, jpeg_dir,
                                                                                   scale_store, scale):
    model, meta = load_eval(models_dir / f"{scale}.pt")
    store = np.load(scale_store / f"{scale}.npy")
    test_set = ArrayDataset(store, np.arange(len(store)), np.zeros((len(store), 37)),
                            np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32))
    expected, _ = pipeline_predict(model, test_set, batch_size=8, device=torch.device("cpu"))
    got = predict_images(models_dir / f"{scale}.pt", [jpeg_dir], batch_size=3, device="cpu", progress=False).outputs
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_classifier_prediction_equals_the_evaluate_stage_multiscale_average(models_dir, jpeg_dir, tmp_path):
    meta = classifier_metadata()
    settings = meta["preprocessing"]
    paths = sorted(jpeg_dir.glob("*.jpg"))
    build_store(paths, [p.stem for p in paths], tmp_path, scales=(meta["scale"],),
                output_size=settings["store_size"], workers=1, progress=False)
    stored = np.load(tmp_path / f"{meta['scale']}.npy")
    crops = MultiScaleCrops(PARAMS.cnn_comparison.augment, source_side=settings["source_side"],
                            store_size=settings["store_size"])
    views = multiscale_test_views(stored, np.arange(len(stored)), crops, settings["test_sides"])
    model, _ = load_eval(models_dir / "classifier.pt")
    expected = predict_views(model, views, batch_size=8, device=torch.device("cpu")).mean(axis=1)
    got = predict_images(models_dir / "classifier.pt", [jpeg_dir], batch_size=3, device="cpu", progress=False).outputs
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


IMAGENET_MEAN_255 = [0.485 * 255, 0.456 * 255, 0.406 * 255]
IMAGENET_STD_255 = [0.229 * 255, 0.224 * 255, 0.225 * 255]


def centre_crop_metadata(**changes) -> dict:
    """What the EfficientNet-B0 study saves (train_votes), with options for a small, fast model."""
    return {"model": "efficientnet_b0", "task": "votes37", "num_outputs": 37, "input_size": 224,
            "output_layer": "mlp_sigmoid", "head": {"hidden": 64, "dropout": 0.5}, "scale": "crop212",
            "mean": IMAGENET_MEAN_255, "std": IMAGENET_STD_255,
            "preprocessing": {"kind": "centre_crop", "crop_side": 212, "size": 224}, "pretrained": "none",
            "budget": "embedded", "seed": 2016, **changes}


def test_a_centre_crop_prediction_equals_the_evaluate_stage_on_the_crop_stage_array(jpeg_dir, tmp_path):
    """The EfficientNet-B0 study's kind, here at 64 px with the small network: the crop stage's crop212
    array, standardised in 0-255 units by ArrayDataset as in train_votes / evaluate_votes."""
    meta = centre_crop_metadata(model="kabani_maxout", input_size=64, output_layer="linear", head=None,
                                preprocessing={"kind": "centre_crop", "crop_side": 212, "size": 64})
    path = save_model(tmp_path / "centre.pt", meta)
    paths = sorted(jpeg_dir.glob("*.jpg"))
    build_store(paths, [p.stem for p in paths], tmp_path / "store", scales=("crop212",), output_size=64,
                workers=1, progress=False)
    store = np.load(tmp_path / "store" / "crop212.npy")
    test_set = ArrayDataset(store, np.arange(len(store)), np.zeros((len(store), 37)),
                            np.asarray(meta["mean"], np.float32), np.asarray(meta["std"], np.float32))
    model, _ = load_eval(path)
    expected, _ = pipeline_predict(model, test_set, batch_size=8, device=torch.device("cpu"))
    got = predict_images(path, [jpeg_dir], batch_size=3, device="cpu", progress=False).outputs
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_centre_crop_model_without_statistics_sees_values_in_0_1(jpeg_dir, tmp_path):
    meta = centre_crop_metadata(model="kabani_maxout", input_size=64, output_layer="linear", head=None,
                                mean=None, std=None,
                                preprocessing={"kind": "centre_crop", "crop_side": 212, "size": 64})
    path = save_model(tmp_path / "centre.pt", meta)
    crop = resize_square(centre_crop(read_image(jpeg_dir / "100001.jpg"), 212), 64).astype(np.float32) / 255
    model, _ = load_eval(path)
    with torch.no_grad():
        expected = model(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]).numpy()
    got = predict_images(path, [jpeg_dir / "100001.jpg"], device="cpu", progress=False).outputs
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_efficientnet_study_checkpoint_gives_a_kaggle_submission(jpeg_dir, tmp_path):
    path = save_model(tmp_path / "efficientnet.pt", centre_crop_metadata())
    frame = predict_to_csv(path, [jpeg_dir / "100000.jpg", jpeg_dir / "100002.jpg"], tmp_path / "e.csv",
                           progress=False)
    assert list(frame.columns) == KAGGLE_HEADER
    values = frame[list(tree.ANSWER_COLUMNS)].to_numpy()
    assert ((values > 0) & (values < 1)).all()  # the sigmoid head: in range, but not made to obey the tree


# --- test-time augmentation ---------------------------------------------------------------------------------


def test_tta_is_the_mean_over_the_eight_rotated_and_flipped_images(models_dir, tmp_path):
    """Predicting on the 8 D4 copies of an image (lossless PNGs) and averaging gives the --tta prediction:
    the 64 px centre crop of a 424 px image commutes exactly with rotations by 90 degrees and flips."""
    rgb = galaxy_image(3)
    original = tmp_path / "original.png"
    Image.fromarray(rgb).save(original)
    copies = tmp_path / "d4"
    copies.mkdir()
    for k, image in enumerate(d4_transforms(torch.from_numpy(rgb).permute(2, 0, 1))):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(copies / f"copy{k}.png")
    model = models_dir / "crop64.pt"
    separately = predict_images(model, [copies], progress=False).outputs
    assert len(separately) == 8 and np.ptp(separately, axis=0).max() > 1e-3, "the copies must score differently"
    with_tta = predict_images(model, [original], tta=True, progress=False).outputs[0]
    without = predict_images(model, [original], progress=False).outputs[0]
    np.testing.assert_allclose(with_tta, separately.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert np.abs(with_tta - without).max() > 1e-3


def test_the_d4_transforms_are_eight_distinct_images():
    x = torch.arange(9.0).reshape(1, 3, 3)
    images = {tuple(t.flatten().tolist()) for t in d4_transforms(x)}
    assert len(images) == 8 and tuple(x.flatten().tolist()) in images


def test_tta_changes_nothing_for_an_image_with_the_symmetry_of_a_square(models_dir, tmp_path):
    size = 424
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    radius = np.hypot(x, y)
    disc = 15 + 200 * np.exp(-((radius / 40) ** 2)) + 10 * np.cos(radius / 3)
    path = tmp_path / "symmetric.png"
    Image.fromarray(np.repeat(np.rint(disc)[..., None], 3, axis=2).astype(np.uint8)).save(path)
    with_tta = predict_images(models_dir / "crop64.pt", [path], tta=True, progress=False).outputs
    without = predict_images(models_dir / "crop64.pt", [path], progress=False).outputs
    np.testing.assert_allclose(with_tta, without, rtol=1e-5, atol=1e-6)


def test_a_classifier_averages_probabilities_over_views_and_transforms_not_logits():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5)).eval()
    views = torch.randn(2, 3, 3, 4, 4)  # 2 images x 3 views
    got = score_views(model, views, classifier=True, tta=True, device=torch.device("cpu"), amp_dtype=None)
    with torch.no_grad():
        per_input = torch.stack([torch.softmax(model(t), dim=1) for t in d4_transforms(views.reshape(6, 3, 4, 4))])
    expected = per_input.mean(dim=0).reshape(2, 3, 5).mean(dim=1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)


# --- inputs: JPEG, PNG, FITS, folders ------------------------------------------------------------------------


def test_the_fits_stretch_maps_the_clip_percentiles_to_0_and_255_and_ignores_hot_pixels():
    ramp = np.linspace(0.0, 1.0, 10_000).reshape(100, 100)
    ramp[0, 0] = 1e6  # a cosmic ray
    ramp[0, 1] = np.nan
    stretched = stretch_to_uint8(ramp)
    assert stretched.dtype == np.uint8
    assert stretched[0, 0] == 255 and stretched[0, 1] == 0
    assert stretched.min() == 0 and stretched.max() == 255
    assert 120 <= stretched[50, 0] <= 135  # the middle of the ramp stays in the middle: the ray did not squash it
    assert (np.diff(stretched.ravel()[2:].astype(int)) >= 0).all()
    assert (stretch_to_uint8(np.full((4, 4), 7.0)) == 0).all()


def fits_galaxy(size: int = 128) -> np.ndarray:
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    return (np.exp(-((x / 20) ** 2 + (y / 8) ** 2)) * 500 + np.random.default_rng(0).normal(0, 2, (size, size)))


def test_a_2d_fits_image_is_read_as_grey_in_three_channels(tmp_path):
    path = tmp_path / "grey.fits"
    fits.PrimaryHDU(fits_galaxy().astype(np.float32)).writeto(path)
    rgb = read_image(path)
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert rgb[64, 64, 0] == 255 and np.median(rgb) < 60


def test_a_three_plane_fits_cube_is_read_channels_first_or_last_with_its_colour(tmp_path):
    planes = np.stack([fits_galaxy(), 0.6 * fits_galaxy(), 0.3 * fits_galaxy()])  # i, r, g -> R, G, B
    fits.PrimaryHDU(planes).writeto(tmp_path / "first.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.moveaxis(planes, 0, -1))]).writeto(tmp_path / "last.fit")
    first, last = read_image(tmp_path / "first.fits"), read_image(tmp_path / "last.fit")
    np.testing.assert_array_equal(first, last)
    centre = first[64, 64].astype(int)
    assert centre[0] > centre[1] > centre[2]  # one stretch for all planes keeps the colour


def test_a_fits_cube_of_four_planes_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "four.fits"
    fits.PrimaryHDU(np.zeros((4, 32, 32), np.float32)).writeto(path)
    with pytest.raises(DataError, match=r"four\.fits.*shape \(4, 32, 32\)"):
        read_image(path)


def test_fits_png_and_jpeg_inputs_are_scored_together(models_dir, jpeg_dir, tmp_path, capsys):
    fits.PrimaryHDU(fits_galaxy().astype(np.float32)).writeto(tmp_path / "200001.fits")
    Image.fromarray(galaxy_image(5)).save(tmp_path / "200002.png")
    frame = predict_to_csv(models_dir / "crop64.pt",
                           [jpeg_dir / "100000.jpg", tmp_path / "200001.fits", tmp_path / "200002.png"],
                           tmp_path / "mixed.csv", progress=False)
    assert frame["GalaxyID"].tolist() == ["100000", "200001", "200002"]
    assert "1 of 3 images are not 424x424" in capsys.readouterr().err


def test_a_folder_gives_its_images_sorted_without_other_files_or_sub_folders(tmp_path, capsys):
    write_jpegs(tmp_path, 3, first_id=300)
    (tmp_path / "labels.csv").write_text("GalaxyID\n")
    write_jpegs(tmp_path / "nested", 1, first_id=999)
    assert [p.name for p in collect_inputs([tmp_path])] == ["300.jpg", "301.jpg", "302.jpg"]
    assert "left out 1 file(s) that are not images, e.g. labels.csv" in capsys.readouterr().err


def test_decoding_in_worker_processes_gives_the_same_predictions(models_dir, jpeg_dir):
    in_process = predict_images(models_dir / "crop64.pt", [jpeg_dir], batch_size=2, progress=False).outputs
    workers = predict_images(models_dir / "crop64.pt", [jpeg_dir], batch_size=2, workers=2, progress=False).outputs
    np.testing.assert_allclose(workers, in_process, rtol=1e-6)


# --- errors that name the culprit ---------------------------------------------------------------------------


def test_an_unsupported_file_is_an_error_naming_it(models_dir, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    with pytest.raises(DataError, match=r"notes\.txt: unsupported file type"):
        predict_images(models_dir / "crop64.pt", [notes], progress=False)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_is_an_error_naming_it(models_dir, jpeg_dir, tmp_path, workers):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(DataError, match=r"broken\.jpg: not a readable, complete image"):
        predict_images(models_dir / "crop64.pt", [jpeg_dir, broken], workers=workers, progress=False)
    assert not (tmp_path / "out.csv").exists()


def test_an_image_too_small_for_the_crop_is_an_error_naming_it(models_dir, tmp_path):
    Image.fromarray(galaxy_image(0, size=128)).save(tmp_path / "small.png")
    with pytest.raises(DataError, match=r"small\.png: a 256 px centre crop does not fit a 128x128 image"):
        predict_images(models_dir / "crop256.pt", [tmp_path / "small.png"], progress=False)


def test_two_inputs_with_the_same_id_are_an_error_naming_both(jpeg_dir, tmp_path):
    Image.fromarray(galaxy_image(0)).save(tmp_path / "100000.png")
    with pytest.raises(DataError, match=r"100000\.jpg and .*100000\.png both have the id '100000'"):
        collect_inputs([jpeg_dir, tmp_path / "100000.png"])


def test_an_unknown_preprocessing_kind_is_an_error_naming_the_model_and_the_kind(jpeg_dir, tmp_path):
    path = save_model(tmp_path / "odd.pt", {**scale_study_metadata(), "preprocessing": {"kind": "fourier"}})
    with pytest.raises(DataError, match=r"odd\.pt: unknown preprocessing kind 'fourier'"):
        predict_images(path, [jpeg_dir], progress=False)


# --- the command line ---------------------------------------------------------------------------------------


def test_the_cli_predicts_then_draws_the_gallery_of_the_highest_answers(models_dir, jpeg_dir, tmp_path, capsys):
    csv = tmp_path / "out" / "predictions.csv"
    assert main(["predict", "--model", str(models_dir / "tree.pt"), str(jpeg_dir), "-o", str(csv),
                 "--batch-size", "3", "--device", "cpu"]) == 0
    assert list(read_csv(csv).columns) == KAGGLE_HEADER and len(read_csv(csv)) == 4
    png = tmp_path / "gallery.png"
    assert main(["gallery", "--predictions", str(csv), "--images", str(jpeg_dir), "--answers", "Class1.1",
                 "Class4.1", "Class7.3", "-n", "3", "-o", str(png)]) == 0
    with Image.open(png) as image:
        width, height = image.size
    assert width > 200 and height > 3 * 100  # three rows of three galaxies
    capsys.readouterr()
    assert main(["gallery", "--predictions", str(csv), "--images", str(jpeg_dir), "--answers", "Class12.1",
                 "-o", str(png)]) == 1
    error = capsys.readouterr().err
    assert "unknown column(s) ['Class12.1']" in error and "available: Class1.1, Class1.2" in error


def test_the_cli_reports_a_bad_input_as_an_error_and_exit_status_1(models_dir, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    assert main(["predict", "--model", str(models_dir / "crop64.pt"), str(notes), "-o", str(tmp_path / "p.csv")]) == 1
    assert f"galzoo: error: {notes}: unsupported file type" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


# --- real Kaggle images -------------------------------------------------------------------------------------


def test_a_tree_model_on_real_kaggle_images_gives_a_valid_submission(models_dir, real_sample, tmp_path):
    images = sorted(real_sample.glob("*.jpg"))[:20]
    frame = predict_to_csv(models_dir / "tree.pt", images, tmp_path / "kaggle.csv", batch_size=8, progress=False)
    written = read_csv(tmp_path / "kaggle.csv")
    assert list(written.columns) == KAGGLE_HEADER
    assert written["GalaxyID"].tolist() == [p.stem for p in images] == frame["GalaxyID"].tolist()
    assert written["GalaxyID"].str.fullmatch(r"\d+").all()
    values = written[list(tree.ANSWER_COLUMNS)].to_numpy()
    assert ((values >= 0) & (values <= 1)).all() and tree.satisfies_tree(values).all()
