"""``galzoo predict``: score image files (JPEG, PNG, FITS) with a trained galzoo model.

The preprocessing is never re-specified by the user: it is read from the checkpoint's metadata and built
from the very functions the crop stages and the evaluate stages use, so a prediction on an image equals the
pipeline's prediction on the same image. Three kinds are known (``preprocessing_from_metadata``):

- scale study (no ``meta["preprocessing"]``): the view ``meta["scale"]`` of the array store at
  ``input_size`` px, standardised per channel with the training split's ``mean``/``std`` (0-255 units);
- ``multiscale`` (the CNN comparison, Dai & Tong): the stored centre ``source_side`` crop at ``store_size``
  px, then one whitened test view per side in ``test_sides``; the softmax outputs are averaged over them;
- ``centre_crop`` (the EfficientNet-B0 study): the centre ``crop_side`` square resized to ``size`` px by
  the crop stage's ``resize_square`` (the row of its ``crop<crop_side>`` array), standardised per channel
  by ``mean``/``std`` in 0-255 units as ``ArrayDataset`` does in training; when both are None, floats in
  [0, 1] instead;
- ``resize`` (the Perseus study, Pruitt): the whole cutout resized to ``size`` px, optionally made grey, then
  scaled to [0, 1] (``rescale``), as ``perseus_study.RotatedCopies`` with no rotation.

Images are decoded and preprocessed in batches (optionally in DataLoader worker processes) as they are
scored, so memory does not grow with the number of images. Crop sides are in pixels of the image, as in
training on 424x424 Galaxy Zoo cutouts: an image at another pixel scale shows its galaxy at another size
than the model saw, and a note says so.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from galzoo import tree
from galzoo.config import ClassifierAugmentParams
from galzoo.errors import ConfigError, DataError
from galzoo.models.checkpoint import load_checkpoint
from galzoo.preprocess.crops import centre_crop, check_scale, crop_all_scales, crop_side, resize_square
from galzoo.preprocess.images import KAGGLE_IMAGE_SIZE, read_rgb
from galzoo.progress import progress_bar
from galzoo.training.multiscale import MultiScaleCrops
from galzoo.training.runtime import autocast, autocast_dtype, select_device

RASTER_SUFFIXES = (".jpg", ".jpeg", ".png")
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
SUPPORTED_SUFFIXES = RASTER_SUFFIXES + FITS_SUFFIXES
"""File endings ``galzoo predict`` reads (case-insensitive); astropy reads the gzipped FITS transparently."""

FITS_CLIP_PERCENTILES = (0.5, 99.5)
"""Percentiles of a FITS image mapped to 0 and 255 (see ``stretch_to_uint8``)."""

ID_COLUMN = "GalaxyID"
PREDICTED_CLASS_COLUMN = "predicted_class"
FLOAT_FORMAT = "%.6f"
"""Six decimals, as Kaggle's sample submission: 80k rows x 37 columns stay a ~20 MB file, and the rounding
(5e-7) is far inside the tree constraints' tolerance of 1e-3."""

PreprocessFn = Callable[[np.ndarray], np.ndarray]
"""uint8 ``H x W x 3`` image -> float32 ``V x 3 x S x S`` model inputs (V views, averaged afterwards)."""


# ---------------------------------------------------------------------------------------------- inputs


def supported_suffix(path: Path) -> str | None:
    """The supported ending of ``path`` (``.fits.gz`` counts as one), lower-cased, or None."""
    name = path.name.lower()
    return next((suffix for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if name.endswith(suffix)),
                None)


def image_id(path: Path) -> str:
    """The galaxy id of an image file: its name without the supported ending (Kaggle's ``<GalaxyID>.jpg``)."""
    suffix = supported_suffix(path)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.stem


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """The image files named by ``inputs``: files as given, folders expanded to their images, sorted.

    Folders are read non-recursively (a Kaggle test set is one flat folder, and a recursive walk would also
    pick up e.g. a gallery written next to it); their hidden files and files of other types (a labels.csv,
    a README) are left out with a note on stderr. A file named explicitly must be of a supported type. Two
    images with the same id (file name without its ending) are an error: the output has one row per id.
    """
    paths: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            entries = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            images = [p for p in entries if supported_suffix(p)]
            if not images:
                raise DataError(f"{path}: no images in this folder (expected files ending in "
                                f"{', '.join(SUPPORTED_SUFFIXES)}; sub-folders are not searched)")
            if len(entries) > len(images):
                print(f"galzoo predict: {path}: left out {len(entries) - len(images)} file(s) that are not "
                      f"images, e.g. {next(p.name for p in entries if not supported_suffix(p))}", file=sys.stderr)
            paths.extend(images)
        elif path.is_file():
            if not supported_suffix(path):
                raise DataError(f"{path}: unsupported file type; expected one of {', '.join(SUPPORTED_SUFFIXES)}")
            paths.append(path)
        else:
            raise DataError(f"{path}: no such file or folder")
    if not paths:
        raise DataError("no input images given")
    first_of: dict[str, Path] = {}
    for path in paths:
        galaxy = image_id(path)
        if galaxy in first_of:
            raise DataError(f"{first_of[galaxy]} and {path} both have the id {galaxy!r}: the output has one row "
                            f"per id, so each input must have its own file name")
        first_of[galaxy] = path
    return paths


def stretch_to_uint8(data: np.ndarray, percentiles: tuple[float, float] = FITS_CLIP_PERCENTILES) -> np.ndarray:
    """Linear stretch of a float image to uint8: the low/high percentiles (of all channels together) map to
    0 and 255, values beyond them are clipped; NaN and infinite pixels become 0.

    Why this stretch: the models were trained on 8-bit JPEG-like RGB, where the sky sits near 0 and the
    galaxy's core near 255. Percentile clipping puts the sky at the bottom and the galaxy at the top of the
    range whatever the FITS units (counts, nanomaggies, an already stretched image) while a few hot pixels,
    cosmic rays or a bright star (the top 0.5%) cannot squash the galaxy into the lowest grey levels. One
    stretch for the three channels keeps their ratios, i.e. the colour. Linear, not asinh: a FITS that is
    already display-scaled keeps its look; for raw fluxes an asinh stretch (as SDSS used for the Galaxy Zoo
    JPEGs) made beforehand is closer to the training images.
    """
    values = np.asarray(data, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    low, high = np.percentile(values[finite], percentiles)
    if not high > low:
        return np.zeros(values.shape, np.uint8)
    scaled = (np.where(finite, values, low) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _fits_planes(data: np.ndarray, path: Path) -> np.ndarray:
    """A FITS data array as ``H x W x 3``: 2-D grey copied to 3 channels, or 3 planes first or last."""
    data = np.squeeze(data)  # e.g. (1, H, W) from a single-plane cube
    if data.ndim == 2:
        return np.repeat(data[..., None], 3, axis=2)
    if data.ndim == 3 and data.shape[0] == 3:  # FITS order: NAXIS3 planes of NAXIS2 x NAXIS1
        return np.moveaxis(data, 0, -1)
    if data.ndim == 3 and data.shape[2] == 3:
        return data
    raise DataError(f"{path}: FITS image of shape {data.shape}; expected 2-D (grey) or 3 planes "
                    f"(3 x H x W or H x W x 3)")


def read_fits_rgb(path: Path) -> np.ndarray:
    """The first image HDU of a FITS file as uint8 ``H x W x 3`` (planes in file order as R, G, B), stretched
    by ``stretch_to_uint8``. For SDSS-like colour order give the planes as i, r, g (as the Kaggle JPEGs)."""
    from astropy.io import fits  # imported here: only FITS inputs pay for it

    try:
        with fits.open(path, memmap=False) as hdus:
            data = next((hdu.data for hdu in hdus if hdu.is_image and hdu.data is not None), None)
    except (OSError, ValueError, TypeError, EOFError) as err:
        raise DataError(f"{path}: not a readable FITS file ({type(err).__name__}: {err})") from err
    if data is None:
        raise DataError(f"{path}: FITS file without image data")
    return stretch_to_uint8(_fits_planes(np.asarray(data), path))


def read_image(path: Path) -> np.ndarray:
    """Any supported image as uint8 ``H x W x 3``; JPEG and PNG go through the crop stage's reader."""
    path = Path(path)
    suffix = supported_suffix(path)
    if suffix in FITS_SUFFIXES:
        if not path.is_file():
            raise DataError(f"{path}: image file not found")
        return read_fits_rgb(path)
    if suffix in RASTER_SUFFIXES:
        return read_rgb(path, expected_size=None)
    raise DataError(f"{path}: unsupported file type; expected one of {', '.join(SUPPORTED_SUFFIXES)}")


# --------------------------------------------------------------------------------------- preprocessing


def store_view(rgb: np.ndarray, scale: str, output_size: int) -> np.ndarray:
    """One image's row of the crop stage's array for ``scale`` (``normalized`` or ``crop<N>``), uint8.

    The same computation as ``crop_all_scales`` (which ``build_store`` calls); for a fixed ``crop<N>`` it
    skips measuring the normalized side, which that view does not use and which costs 3x the decoding.
    """
    check_scale(scale)
    if scale == "normalized":
        views, _ = crop_all_scales(rgb, output_size, (scale,))
        return views[scale]
    return resize_square(centre_crop(rgb, crop_side(scale, 0)), output_size)


def _channel_stats(meta: dict[str, Any], model_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    mean, std = meta.get("mean"), meta.get("std")
    if mean is None and std is None:
        return None
    wrong = f"{model_path}: metadata mean/std must both be None or 1 or 3 numbers with std > 0"
    try:
        mean, std = np.asarray(mean, np.float64).reshape(-1), np.asarray(std, np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise DataError(f"{wrong}, got {meta.get('mean')}, {meta.get('std')}") from err
    if mean.size not in (1, 3) or std.size not in (1, 3) or not np.isfinite(mean).all() or not (std > 0).all():
        raise DataError(f"{wrong}, got {meta.get('mean')}, {meta.get('std')}")
    return mean.astype(np.float32), std.astype(np.float32)


def _standardise(image: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """``H x W x 3`` float -> ``3 x H x W`` float32, ``(x - mean) / std`` per channel when ``stats`` is set."""
    image = image.astype(np.float32)
    if stats is not None:
        image = (image - stats[0]) / stats[1]
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


def _scale_study(meta: dict[str, Any], model_path: Path) -> PreprocessFn:
    """As ``evaluate_scale``'s test set (``ArrayDataset`` without augmentation): store view, per-channel
    standardisation in 0-255 units."""
    try:
        scale, size = check_scale(meta["scale"]), int(meta["input_size"])
    except ConfigError as err:
        raise DataError(f"{model_path}: {err}") from err
    stats = _channel_stats(meta, model_path)

    def preprocess(rgb: np.ndarray) -> np.ndarray:
        return _standardise(store_view(rgb, scale, size), stats)[None]

    return preprocess


def _multiscale(meta: dict[str, Any], settings: dict[str, Any], model_path: Path) -> PreprocessFn:
    """As ``evaluate_classifier``: the stored crop, then ``MultiScaleCrops.test_view`` per test side."""
    try:
        augment = ClassifierAugmentParams(**settings["augment"])
        source_side, store_size = int(settings["source_side"]), int(settings["store_size"])
        sides = [int(side) for side in settings["test_sides"]]
    except (KeyError, TypeError) as err:
        raise DataError(f"{model_path}: incomplete 'multiscale' preprocessing metadata ({err})") from err
    if settings.get("whitening", "per_image") != "per_image":
        raise DataError(f"{model_path}: 'multiscale' preprocessing with whitening {settings['whitening']!r}; "
                        f"galzoo predict knows 'per_image' (MultiScaleCrops.test_view)")
    crops = MultiScaleCrops(augment, source_side=source_side, store_size=store_size)
    scale = f"crop{source_side}"

    def preprocess(rgb: np.ndarray) -> np.ndarray:
        stored = store_view(rgb, scale, store_size)
        return np.stack([crops.test_view(stored, side).transpose(2, 0, 1) for side in sides]).astype(np.float32)

    return preprocess


def _centre_crop(meta: dict[str, Any], settings: dict[str, Any], model_path: Path) -> PreprocessFn:
    """Centre ``crop_side`` square of the full image, ``resize_square`` to ``size``; then ``(x - mean) / std``
    on the 0-255 values, as the study's ``ArrayDataset`` (every galzoo checkpoint keeps mean/std in 0-255
    units), or ``x / 255`` when the checkpoint has no statistics."""
    try:
        side, size = int(settings["crop_side"]), int(settings["size"])
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{model_path}: 'centre_crop' preprocessing needs integer crop_side and size ({err})") from err
    stats = _channel_stats(meta, model_path)

    def preprocess(rgb: np.ndarray) -> np.ndarray:
        crop = store_view(rgb, f"crop{side}", size)
        return _standardise(crop if stats is not None else crop.astype(np.float32) / 255.0, stats)[None]

    return preprocess


def _resize(settings: dict[str, Any], model_path: Path) -> PreprocessFn:
    """As the Perseus store + ``RotatedCopies`` at angle 0: the whole image resized, grey if trained so, / 255."""
    from galzoo.perseus_study import resize_cutout, to_greyscale

    try:
        size, greyscale, rescale = int(settings["size"]), bool(settings["greyscale"]), float(settings["rescale"])
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{model_path}: 'resize' preprocessing needs size, greyscale and rescale ({err})") from err

    def preprocess(rgb: np.ndarray) -> np.ndarray:
        image = resize_cutout(rgb, size)
        image = to_greyscale(image) if greyscale else image
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)[None] * np.float32(rescale)

    return preprocess


PREPROCESSING_KINDS = ("multiscale", "centre_crop", "resize")
"""Values of ``meta["preprocessing"]["kind"]``; a checkpoint without the key is a scale-study model."""


def preprocessing_from_metadata(meta: dict[str, Any], model_path: Path) -> PreprocessFn:
    """The image -> model-input function a checkpoint was trained with (kinds in the module docstring)."""
    settings = meta.get("preprocessing")
    if settings is None:
        return _scale_study(meta, model_path)
    kind = settings.get("kind") if isinstance(settings, dict) else settings
    if kind == "multiscale":
        return _multiscale(meta, settings, model_path)
    if kind == "centre_crop":
        return _centre_crop(meta, settings, model_path)
    if kind == "resize":
        return _resize(settings, model_path)
    raise DataError(f"{model_path}: unknown preprocessing kind {kind!r} in the model's metadata; "
                    f"galzoo predict knows {', '.join(PREPROCESSING_KINDS)} (and scale-study models without one)")


# ------------------------------------------------------------------------------------------- inference


def d4_transforms(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 images of the dihedral group D4 (4 rotations by 90 degrees, each with and without a left-right
    flip) of a batch ``... x H x W``; the first is ``x`` itself."""
    flipped = torch.flip(x, dims=(-1,))
    return [torch.rot90(base, k, dims=(-2, -1)) for base in (x, flipped) for k in range(4)]


@dataclass
class _Item:
    views: np.ndarray | None
    error: str | None
    shape: tuple[int, int] | None


class _ImageFiles(Dataset):
    """Model inputs of each file, decoded when read; a bad file yields its error message instead of raising,
    so that DataLoader workers hand it back intact to be reported with its file name."""

    def __init__(self, paths: list[Path], preprocess: PreprocessFn):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> _Item:
        path = self.paths[index]
        try:
            rgb = read_image(path)
            return _Item(self.preprocess(rgb), None, rgb.shape[:2])
        except DataError as err:  # reading errors name the file already, crop errors do not
            message = str(err)
            return _Item(None, message if message.startswith(str(path)) else f"{path}: {message}", None)


def _as_list(items: list[_Item]) -> list[_Item]:
    return items


@dataclass
class Predictions:
    """Averaged model outputs per image, in input order: softmax probabilities for classifiers
    (``class_names`` set), the raw 37 outputs for vote-fraction models."""

    ids: list[str]
    outputs: np.ndarray
    class_names: list[str] | None
    meta: dict[str, Any]


@torch.inference_mode()
def score_views(model: nn.Module, views: torch.Tensor, *, classifier: bool, tta: bool, device: torch.device,
           amp_dtype: torch.dtype | None) -> np.ndarray:
    """``B x V x 3 x S x S`` inputs -> ``B x outputs``: softmax (classifiers) or raw outputs, averaged over
    the V views and, with ``tta``, over the 8 D4 transforms of every view. Probabilities are averaged, not
    logits, as ``evaluate_classifier`` averages its views. ``model`` must be in eval mode."""
    batch, n_views = views.shape[:2]
    flat = views.reshape(batch * n_views, *views.shape[2:]).to(device)
    total = None
    transforms = d4_transforms(flat) if tta else [flat]
    for x in transforms:
        with autocast(device, amp_dtype):
            out = model(x)
        out = torch.softmax(out.float(), dim=1) if classifier else out.float()
        total = out if total is None else total + out
    mean = (total / len(transforms)).reshape(batch, n_views, -1).mean(dim=1)
    return mean.cpu().numpy().astype(np.float64)


def predict_images(model_path: Path, images: Sequence[str | Path], *, tta: bool = False, batch_size: int = 64,
                   device: str = "auto", workers: int = 0, progress: bool = True) -> Predictions:
    """Score every image of ``images`` (files and folders, see ``collect_inputs``) with the checkpoint.

    Eval mode (dropout off, batch-norm running statistics), no gradients, bf16 autocast on CUDA only. The
    first unreadable image stops the run with an error naming it (and any other bad file of its batch).
    """
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    if workers < 0:
        raise DataError(f"workers must be 0 (decode in this process) or more, got {workers}")
    model_path = Path(model_path)
    paths = collect_inputs(images)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device auto or cpu")
    torch_device = select_device(device)
    model, meta = load_checkpoint(model_path, torch_device)
    preprocess = preprocessing_from_metadata(meta, model_path)
    class_names = meta.get("class_names")
    if class_names is None and meta["num_outputs"] != tree.N_ANSWERS:
        raise DataError(f"{model_path}: a model with {meta['num_outputs']} outputs and no class_names: expected "
                        f"the {tree.N_ANSWERS} vote fractions or a classifier")
    amp_dtype = autocast_dtype("auto", torch_device)
    model.eval()
    loader = DataLoader(_ImageFiles(paths, preprocess), batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=_as_list)
    outputs: list[np.ndarray] = []
    off_size: list[Path] = []
    batches = iter(loader)  # workers start before tqdm's monitor thread (forking a threaded process can hang)
    with progress_bar(total=len(paths), unit="img", desc="predict", enabled=progress) as bar:
        done = 0
        for items in batches:
            errors = [item.error for item in items if item.error is not None]
            if errors:
                raise DataError("could not read or crop:\n  " + "\n  ".join(errors))
            views = torch.from_numpy(np.stack([item.views for item in items]))
            outputs.append(score_views(model, views, classifier=class_names is not None, tta=tta, device=torch_device,
                                  amp_dtype=amp_dtype))
            off_size += [paths[done + i] for i, item in enumerate(items)
                         if item.shape != (KAGGLE_IMAGE_SIZE, KAGGLE_IMAGE_SIZE)]
            done += len(items)
            bar.update(len(items))
    if off_size and (meta.get("preprocessing") or {}).get("kind") != "resize":  # "resize" takes any cutout size
        print(f"galzoo predict: note: {len(off_size)} of {len(paths)} images are not {KAGGLE_IMAGE_SIZE}x"
              f"{KAGGLE_IMAGE_SIZE} (e.g. {off_size[0]}); crop sides are in pixels, as in training on Galaxy Zoo "
              f"cutouts, so their galaxies appear at another scale than the model saw", file=sys.stderr)
    return Predictions([image_id(path) for path in paths], np.concatenate(outputs), class_names, meta)


def predictions_frame(predictions: Predictions) -> pd.DataFrame:
    """The output table: ``GalaxyID`` + the 37 Kaggle columns clipped to [0, 1] (a Kaggle submission; not
    renormalised: a ``tree`` output layer already obeys the tree), or ``GalaxyID`` + ``p_<class>`` per class
    + ``predicted_class`` for classifiers."""
    if predictions.class_names is None:
        frame = pd.DataFrame(np.clip(predictions.outputs, 0.0, 1.0), columns=list(tree.ANSWER_COLUMNS))
    else:
        names = list(predictions.class_names)
        frame = pd.DataFrame(predictions.outputs, columns=[f"p_{name}" for name in names])
        frame[PREDICTED_CLASS_COLUMN] = np.asarray(names)[predictions.outputs.argmax(axis=1)]
    frame.insert(0, ID_COLUMN, predictions.ids)
    return frame


def write_predictions(frame: pd.DataFrame, out_csv: Path) -> Path:
    """Write the table to ``out_csv`` through a temporary file, so a failed run never leaves a partial CSV."""
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    partial = out_csv.with_name(out_csv.name + ".partial")
    frame.to_csv(partial, index=False, float_format=FLOAT_FORMAT)
    os.replace(partial, out_csv)
    return out_csv


def predict_to_csv(model_path: Path, images: Sequence[str | Path], out_csv: Path, **options) -> pd.DataFrame:
    """``predict_images`` + ``predictions_frame`` + ``write_predictions``; returns the table written."""
    frame = predictions_frame(predict_images(model_path, images, **options))
    write_predictions(frame, out_csv)
    return frame
