"""``galzoo predict``: score image files (JPEG, PNG, FITS) with a trained galzoo model.

The preprocessing is never re-specified by the user: the checkpoint carries it as a typed object
(:mod:`galzoo.preprocess.prediction`, one kind per study, each owned by its study module), built from the
very functions the crop and evaluate stages use, so a prediction on an image equals the pipeline's
prediction on the same image: the scale study's ``store_view``, the CNN comparison's ``multiscale`` test
views (softmax averaged over them), the EfficientNet study's ``centre_crop`` and Perseus' ``resize``.

Images are decoded and preprocessed in batches (optionally in DataLoader worker processes) as they are
scored, and each batch's rows are appended to ``<out>.partial`` (renamed to the output at the end), so memory
does not grow with the number of images. The output may never be an input image, the model file or a folder,
and replaces an existing file only if it is an earlier predictions CSV (or with ``force``); see
``check_output``. Crop sides are in pixels of the image, as in
training on 424x424 Galaxy Zoo cutouts: an image at another pixel scale shows its galaxy at another size
than the model saw, and a note says so.
"""
from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator, Sequence
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
from galzoo.preprocess.images import (  # noqa: F401 (FITS_CLIP_PERCENTILES, stretch_to_uint8: tests read them here)
    FITS_CLIP_PERCENTILES, KAGGLE_IMAGE_SIZE, max_image_pixels, read_fits_rgb, read_rgb, stretch_to_uint8)
from galzoo.preprocess.prediction import ModelInput, model_input_from_metadata
from galzoo.progress import progress_bar
from galzoo.studies import list_studies  # noqa: F401 (registers every study's model input kind)
from galzoo.training.inference import d4_transforms, predict_batches  # noqa: F401 (d4_transforms: tests use it here)
from galzoo.training.runtime import autocast_dtype, select_device

RASTER_SUFFIXES = (".jpg", ".jpeg", ".png")
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
SUPPORTED_SUFFIXES = RASTER_SUFFIXES + FITS_SUFFIXES
"""File endings ``galzoo predict`` reads (case-insensitive); astropy reads the gzipped FITS transparently."""

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


@dataclass
class _Scorer:
    """A loaded checkpoint, ready to score: the model on its device and the preprocessing it was trained with."""

    model: nn.Module
    meta: dict[str, Any]
    preprocess: ModelInput
    class_names: list[str] | None
    device: torch.device
    amp_dtype: torch.dtype | None


def _check_options(batch_size: int, workers: int, device: str) -> None:
    if batch_size < 1:
        raise DataError(f"batch size must be at least 1, got {batch_size}")
    if workers < 0:
        raise DataError(f"workers must be 0 (decode in this process) or more, got {workers}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device auto or cpu")
    max_image_pixels()  # a bad GALZOO_MAX_IMAGE_PIXELS fails here, not once per image in the workers


def _load_scorer(model_path: Path, device: str) -> _Scorer:
    torch_device = select_device(device)
    model, meta = load_checkpoint(model_path, torch_device)
    preprocess = model_input_from_metadata(meta, model_path)
    class_names = meta.get("class_names")
    if class_names is None and meta["num_outputs"] != tree.N_ANSWERS:
        raise DataError(f"{model_path}: a model with {meta['num_outputs']} outputs and no class_names: expected "
                        f"the {tree.N_ANSWERS} vote fractions or a classifier")
    return _Scorer(model, meta, preprocess, class_names, torch_device, autocast_dtype("auto", torch_device))


def _scored_batches(scorer: _Scorer, paths: list[Path], *, tta: bool, batch_size: int, workers: int,
                    progress: bool) -> Iterator[tuple[list[str], np.ndarray]]:
    """``(ids, B x outputs)`` per batch of ``paths``, in order: each batch is read, preprocessed and scored
    only when the consumer asks for it, so memory holds one batch of images (plus the DataLoader's prefetch
    with workers), never all of them. The first unreadable image stops the run with an error naming it (and
    any other bad file of its batch)."""
    loader = DataLoader(_ImageFiles(paths, scorer.preprocess), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=_as_list)
    off_size: list[Path] = []
    done = 0
    batches = iter(loader)  # workers start before tqdm's monitor thread (forking a threaded process can hang)
    with progress_bar(total=len(paths), unit="img", desc="predict", enabled=progress) as bar:
        for items in batches:
            errors = [item.error for item in items if item.error is not None]
            if errors:
                raise DataError("could not read or crop:\n  " + "\n  ".join(errors))
            views = torch.from_numpy(np.stack([item.views for item in items]))
            outputs = score_views(scorer.model, views, classifier=scorer.class_names is not None, tta=tta,
                                  device=scorer.device, amp_dtype=scorer.amp_dtype)
            batch = paths[done:done + len(items)]
            off_size.extend(path for path, item in zip(batch, items)
                            if item.shape != (KAGGLE_IMAGE_SIZE, KAGGLE_IMAGE_SIZE))
            done += len(items)
            bar.update(len(items))
            yield [image_id(path) for path in batch], outputs
    if off_size and not scorer.preprocess.any_image_size:
        print(f"galzoo predict: note: {len(off_size)} of {len(paths)} images are not {KAGGLE_IMAGE_SIZE}x"
              f"{KAGGLE_IMAGE_SIZE} (e.g. {off_size[0]}); crop sides are in pixels, as in training on Galaxy Zoo "
              f"cutouts, so their galaxies appear at another scale than the model saw", file=sys.stderr)


def predict_images(model_path: Path, images: Sequence[str | Path], *, tta: bool = False, batch_size: int = 64,
                   device: str = "auto", workers: int = 0, progress: bool = True) -> Predictions:
    """Score every image of ``images`` (files and folders, see ``collect_inputs``) with the checkpoint; the
    outputs of all images are returned together (``predict_to_csv`` writes them batch by batch instead).

    Eval mode (dropout off, batch-norm running statistics), no gradients, bf16 autocast on CUDA only. The
    first unreadable image stops the run with an error naming it (and any other bad file of its batch).
    """
    _check_options(batch_size, workers, device)
    model_path = Path(model_path)
    paths = collect_inputs(images)
    scorer = _load_scorer(model_path, device)
    chunks = [outputs for _, outputs in _scored_batches(scorer, paths, tta=tta, batch_size=batch_size,
                                                         workers=workers, progress=progress)]
    return Predictions([image_id(path) for path in paths], np.concatenate(chunks), scorer.class_names, scorer.meta)


def prediction_columns(class_names: Sequence[str] | None) -> list[str]:
    """The output table's header: ``GalaxyID`` + the 37 Kaggle columns, or ``GalaxyID`` + ``p_<class>`` per
    class + ``predicted_class``."""
    if class_names is None:
        return [ID_COLUMN, *tree.ANSWER_COLUMNS]
    return [ID_COLUMN, *(f"p_{name}" for name in class_names), PREDICTED_CLASS_COLUMN]


def predictions_frame(predictions: Predictions) -> pd.DataFrame:
    """The output table: ``GalaxyID`` + the 37 Kaggle columns clipped to [0, 1] (a Kaggle submission; not
    renormalised: a ``tree`` output layer already obeys the tree), or ``GalaxyID`` + ``p_<class>`` per class
    + ``predicted_class`` for classifiers."""
    columns = prediction_columns(predictions.class_names)
    if predictions.class_names is None:
        frame = pd.DataFrame(np.clip(predictions.outputs, 0.0, 1.0), columns=columns[1:])
    else:
        frame = pd.DataFrame(predictions.outputs, columns=columns[1:-1])
        frame[PREDICTED_CLASS_COLUMN] = np.asarray(predictions.class_names)[predictions.outputs.argmax(axis=1)]
    frame.insert(0, ID_COLUMN, predictions.ids)
    return frame


# ---------------------------------------------------------------------------------------------- output


def is_predictions_csv(path: Path) -> bool:
    """Whether ``path`` starts with the header ``galzoo predict`` writes (see ``prediction_columns``): a
    previous run's output, which a new run may replace."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1 << 16)
    except OSError:
        return False
    try:
        header = next(csv.reader([first.decode("utf-8").rstrip("\r\n")]), [])
    except (UnicodeDecodeError, csv.Error):
        return False
    if header[:1] != [ID_COLUMN]:
        return False
    rest = header[1:]
    if rest == list(tree.ANSWER_COLUMNS):
        return True
    return (len(rest) >= 2 and rest[-1] == PREDICTED_CLASS_COLUMN
            and all(column.startswith("p_") and len(column) > 2 for column in rest[:-1]))


def partial_path(out_csv: Path) -> Path:
    """The file a run writes before renaming it to ``out_csv``: a failed run leaves neither."""
    out_csv = Path(out_csv)
    return out_csv.with_name(out_csv.name + ".partial")


def check_output(out_csv: Path, inputs: Sequence[Path], model_path: Path, *, force: bool = False) -> None:
    """Refuse an output that would destroy something: a folder, an input image, the model file (whatever the
    path's spelling: ``./x``, symbolic or hard links; the same goes for the temporary ``<out>.partial``), a
    device or pipe, or an existing file that is not a previous ``galzoo predict`` CSV unless ``force``. All
    but the last are refused even with ``force``."""
    out_csv = Path(out_csv)
    if out_csv.is_dir():
        raise DataError(f"-o {out_csv}: is a folder; give the CSV file to write, e.g. {out_csv / 'predictions.csv'}")
    protected = [(Path(model_path), "the model file given to --model"), *((path, "an input image") for path in inputs)]
    for target in (out_csv, partial_path(out_csv)):
        try:
            target_stat = os.stat(target)
        except OSError:  # nothing there (or a dangling link): nothing to destroy
            continue
        for path, what in protected:
            try:
                same = os.path.samestat(target_stat, os.stat(path))
            except OSError:
                continue
            if same:
                which = "" if target == out_csv else f"its temporary file {target} "
                raise DataError(f"-o {out_csv}: {which}is {what} ({path}); refusing to overwrite it (even with "
                                f"--force): write the predictions to another file")
    if supported_suffix(out_csv) is not None:
        raise DataError(f"-o {out_csv}: has an image file's ending; give a CSV file (e.g. predictions.csv), which a "
                        f"later run over the same folder will not try to read as an image")
    if out_csv.exists() and not out_csv.is_file():
        raise DataError(f"-o {out_csv}: exists and is not a regular file (a device, a pipe, ...); refusing to "
                        f"replace it (even with --force)")
    if out_csv.exists() and not force and not is_predictions_csv(out_csv):
        raise DataError(f"-o {out_csv}: the file exists and is not a galzoo predictions CSV (its first line is "
                        f"not a header GalaxyID,Class1.1,... or GalaxyID,p_<class>,...,predicted_class); "
                        f"refusing to overwrite it: choose another file, or pass --force to replace it")


class _CsvWriter:
    """Rows appended to ``<out>.partial`` batch by batch and renamed to ``out`` by ``commit``; ``discard``
    (any failure) removes the partial file and the folders this writer made, so a failed run leaves nothing."""

    def __init__(self, out_csv: Path):
        self.out, self.partial = Path(out_csv), partial_path(out_csv)
        self.made: list[Path] = []
        missing = [folder for folder in (self.out.parent, *self.out.parent.parents) if not folder.exists()]
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self.made.append(folder)
            self.handle = open(self.partial, "w", newline="", encoding="utf-8")
        except OSError as err:
            self._remove_folders()
            raise DataError(f"-o {self.out}: cannot write here ({err.strerror or err}: {err.filename or self.out})"
                            ) from err
        self.rows = 0

    def write(self, frame: pd.DataFrame, *, header: bool = False) -> None:
        try:
            frame.to_csv(self.handle, index=False, header=header, float_format=FLOAT_FORMAT)
            self.handle.flush()
        except OSError as err:
            raise DataError(f"{self.partial}: could not write the predictions ({err.strerror or err})") from err
        self.rows += len(frame)

    def commit(self) -> None:
        try:
            self.handle.close()
            os.replace(self.partial, self.out)
        except OSError as err:
            raise DataError(f"-o {self.out}: could not write the predictions ({err.strerror or err})") from err

    def discard(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)
        self._remove_folders()

    def _remove_folders(self) -> None:
        for folder in reversed(self.made):
            try:
                folder.rmdir()
            except OSError:  # something else was put there meanwhile: keep it
                break


def write_predictions_csv(model_path: Path, images: Sequence[str | Path], out_csv: Path, *, force: bool = False,
                          tta: bool = False, batch_size: int = 64, device: str = "auto", workers: int = 0,
                          progress: bool = True,
                          on_batch: Callable[[pd.DataFrame], None] | None = None) -> int:
    """Score ``images`` and write their table (see ``predictions_frame``) to ``out_csv``; returns the rows
    written. What ``galzoo predict`` runs.

    Before any image is read, the output is checked (``check_output``) and its temporary file
    ``<out_csv>.partial`` opened (missing folders are made), so an unwritable ``-o`` fails at once. Then each
    batch is read, scored and appended to the partial file, which is renamed to ``out_csv`` at the end:
    memory holds one batch, and a failed run leaves neither file (nor the folders it made). ``on_batch``
    sees each batch's rows as they are written.
    """
    _check_options(batch_size, workers, device)
    model_path, out_csv = Path(model_path), Path(out_csv)
    paths = collect_inputs(images)
    check_output(out_csv, paths, model_path, force=force)
    writer = _CsvWriter(out_csv)
    try:
        scorer = _load_scorer(model_path, device)
        writer.write(pd.DataFrame(columns=prediction_columns(scorer.class_names)), header=True)
        for ids, outputs in _scored_batches(scorer, paths, tta=tta, batch_size=batch_size, workers=workers,
                                            progress=progress):
            frame = predictions_frame(Predictions(ids, outputs, scorer.class_names, scorer.meta))
            writer.write(frame)
            if on_batch is not None:
                on_batch(frame)
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    return writer.rows


def predict_to_csv(model_path: Path, images: Sequence[str | Path], out_csv: Path, **options) -> pd.DataFrame:
    """``write_predictions_csv`` that also returns the table written (all rows in memory: for scripts and
    tests; the command line keeps only one batch)."""
    frames: list[pd.DataFrame] = []
    write_predictions_csv(model_path, images, out_csv, on_batch=frames.append, **options)
    return pd.concat(frames, ignore_index=True)
