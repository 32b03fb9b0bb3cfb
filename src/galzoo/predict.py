"""``galzoo predict``: score image files (JPEG, PNG, FITS) with a trained galzoo model.

The preprocessing is never re-specified by the user: the checkpoint carries it as a typed object
(:mod:`galzoo.preprocess.prediction`, one kind per study, each owned by its study module), built from the
very functions the crop and evaluate stages use, so a prediction on an image equals the pipeline's
prediction on the same image: the scale study's ``store_view``, the CNN comparison's ``multiscale`` test
views (softmax averaged over them), the EfficientNet study's ``centre_crop`` and Perseus' ``resize``.

Images are decoded and preprocessed in batches (optionally in DataLoader worker processes) as they are
scored, so memory does not grow with the number of images. Crop sides are in pixels of the image, as in
training on 424x424 Galaxy Zoo cutouts: an image at another pixel scale shows its galaxy at another size
than the model saw, and a note says so.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from galzoo import tree
from galzoo.errors import ConfigError, DataError
from galzoo.models.checkpoint import load_checkpoint
from galzoo.preprocess.images import KAGGLE_IMAGE_SIZE, read_rgb
from galzoo.preprocess.prediction import ModelInput, model_input_from_metadata
from galzoo.progress import progress_bar
from galzoo.studies import list_studies  # noqa: F401 (registers every study's model input kind)
from galzoo.training.inference import d4_transforms, predict_batches  # noqa: F401 (d4_transforms: tests use it here)
from galzoo.training.runtime import autocast_dtype, select_device

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


# ------------------------------------------------------------------------------------------- inference


@dataclass
class _Item:
    views: np.ndarray | None
    error: str | None
    shape: tuple[int, int] | None


class _ImageFiles(Dataset):
    """Model inputs of each file, decoded when read; a bad file yields its error message instead of raising,
    so that DataLoader workers hand it back intact to be reported with its file name."""

    def __init__(self, paths: list[Path], preprocess: ModelInput):
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


def score_views(model: nn.Module, views: torch.Tensor, *, classifier: bool, tta: bool, device: torch.device,
                amp_dtype: torch.dtype | None) -> np.ndarray:
    """``B x V x 3 x S x S`` inputs -> ``B x outputs``: softmax (classifiers) or raw outputs, averaged over
    the V views and, with ``tta``, over the 8 D4 transforms of every view. Probabilities are averaged, not
    logits, as ``evaluate_classifier`` averages its views."""
    return _mean_over_views(predict_batches(model, [views], device=device, amp_dtype=amp_dtype, softmax=classifier,
                                            tta=tta))


def _mean_over_views(outputs: np.ndarray) -> np.ndarray:
    """``B x V x outputs`` -> ``B x outputs``, averaged in float32 as the model computed them."""
    return torch.from_numpy(outputs.astype(np.float32)).mean(dim=1).numpy().astype(np.float64)


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
    preprocess = model_input_from_metadata(meta, model_path)
    class_names = meta.get("class_names")
    if class_names is None and meta["num_outputs"] != tree.N_ANSWERS:
        raise DataError(f"{model_path}: a model with {meta['num_outputs']} outputs and no class_names: expected "
                        f"the {tree.N_ANSWERS} vote fractions or a classifier")
    amp_dtype = autocast_dtype("auto", torch_device)
    loader = DataLoader(_ImageFiles(paths, preprocess), batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=_as_list)
    off_size: list[Path] = []

    def stacked_views(batches, bar):
        """The views of each batch of files as one tensor; a batch is counted (progress bar, images of another
        size) once the model has scored it."""
        done = 0
        for items in batches:
            errors = [item.error for item in items if item.error is not None]
            if errors:
                raise DataError("could not read or crop:\n  " + "\n  ".join(errors))
            yield torch.from_numpy(np.stack([item.views for item in items]))
            off_size.extend(paths[done + i] for i, item in enumerate(items)
                            if item.shape != (KAGGLE_IMAGE_SIZE, KAGGLE_IMAGE_SIZE))
            done += len(items)
            bar.update(len(items))

    batches = iter(loader)  # workers start before tqdm's monitor thread (forking a threaded process can hang)
    with progress_bar(total=len(paths), unit="img", desc="predict", enabled=progress) as bar:
        outputs = predict_batches(model, stacked_views(batches, bar), device=torch_device, amp_dtype=amp_dtype,
                                  softmax=class_names is not None, tta=tta)
    if off_size and not preprocess.any_image_size:
        print(f"galzoo predict: note: {len(off_size)} of {len(paths)} images are not {KAGGLE_IMAGE_SIZE}x"
              f"{KAGGLE_IMAGE_SIZE} (e.g. {off_size[0]}); crop sides are in pixels, as in training on Galaxy Zoo "
              f"cutouts, so their galaxies appear at another scale than the model saw", file=sys.stderr)
    return Predictions([image_id(path) for path in paths], _mean_over_views(outputs), class_names, meta)


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
