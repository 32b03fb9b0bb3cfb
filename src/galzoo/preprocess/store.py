"""The array store written by the crop stage: one uint8 ``N x S x S x 3`` ``.npy`` per scale, plus an index.

One memory-mappable array per scale rather than thousands of small files: DVC hashes each file, and the
trainer can map or upload a whole array at once. Row ``i`` of every array is the image in row ``i`` of
``index.csv`` (columns ``INDEX_COLUMNS``).

The stage is all-or-nothing: arrays are written under temporary names and renamed only when every image
was cropped, so a failed run never leaves a store that looks complete. Bad images do not stop the run at
the first one; all of them are collected and reported in one DataError, so one run finds every bad file.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo.errors import ConfigError, DataError
from galzoo.preprocess.crops import SCALES, check_scale, crop_all_scales
from galzoo.preprocess.images import KAGGLE_IMAGE_SIZE, max_image_pixels, read_rgb
from galzoo.preprocess.scale import ScaleResult, to_kaggle_frame
from galzoo.progress import progress_bar

INDEX_FILE = "index.csv"
INDEX_COLUMNS = ("id", "row", "normalized_side", "major_axis", "status")
CHUNK_SIZE = 32
"""Images per worker task: large enough to amortise inter-process traffic (~37 KB of crops per image),
small enough to keep the progress bar moving and every worker busy to the end."""
MAX_LISTED_ERRORS = 20
"""Bad files named in the error message; the rest are counted."""
_PARTIAL_SUFFIX = ".partial"

Task = tuple[list[tuple[int, str]], tuple[str, ...], int, int | None, int | None]
Outcome = tuple[dict[str, np.ndarray], ScaleResult] | str


GLIBC_M_TRIM_THRESHOLD, GLIBC_M_MMAP_THRESHOLD = -1, -3
"""mallopt() parameters (glibc's malloc.h)."""


def keep_freed_memory() -> None:
    """Let this process reuse freed heap memory for the next image instead of handing it back (glibc only;
    elsewhere nothing changes).

    One image's temporaries (the decoded 424 px image, the intensity sum, the mask, the labels: 0.2-0.7 MiB
    each) lie above glibc's mmap threshold, so by default each is mapped, faulted in page by page (about 400
    faults per image) and unmapped again, a third of the crop's time. With higher mmap and trim thresholds
    the same heap memory serves every image; peak memory does not grow and the crops are unchanged.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(GLIBC_M_MMAP_THRESHOLD, 32 * 2**20)  # glibc's largest allowed value on 64-bit
    libc.mallopt(GLIBC_M_TRIM_THRESHOLD, 128 * 2**20)


def _crop_chunk(task: Task) -> list[tuple[int, Outcome]]:
    """Worker: crop a chunk of ``(row, path)``; an outcome is ``(views, ScaleResult)`` or an error message."""
    items, scales, output_size, expected_size, frame = task
    results: list[tuple[int, Outcome]] = []
    for row, path in items:
        try:
            rgb = read_rgb(path, expected_size)
            if frame is not None:
                rgb = to_kaggle_frame(rgb, frame)
            results.append((row, crop_all_scales(rgb, output_size, scales)))
        except DataError as err:  # read errors name the file already; crop errors (too small) do not
            message = str(err)
            results.append((row, message if message.startswith(path) else f"{path}: {message}"))
    return results


def _validate_inputs(
    image_paths: list[Path], ids: list, scales: tuple[str, ...], workers: int, output_size: int
) -> None:
    if not scales:
        raise ConfigError(f"no scales to crop: expected some of {', '.join(SCALES)}")
    for name in scales:
        check_scale(name)
    if len(set(scales)) != len(scales):
        raise ConfigError(f"scales {list(scales)} name a scale twice")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if output_size < 1:
        raise ConfigError(f"output_size must be at least 1 px, got {output_size}")
    if not image_paths:
        raise DataError("no images to crop: the image list is empty")
    if len(ids) != len(image_paths):
        raise DataError(f"{len(image_paths)} image paths but {len(ids)} ids: expected one id per image")
    id_index = pd.Index(ids)
    duplicated = id_index[id_index.duplicated()].unique().tolist()
    if duplicated:
        raise DataError(f"duplicate image ids {duplicated[:MAX_LISTED_ERRORS]}: each id must be unique")


def _bad_images_error(errors: list[str], total: int) -> DataError:
    listed = "\n  ".join(errors[:MAX_LISTED_ERRORS])
    more = len(errors) - MAX_LISTED_ERRORS
    suffix = f"\n  ... and {more} more" if more > 0 else ""
    return DataError(f"{len(errors)} of {total} images could not be cropped:\n  {listed}{suffix}")


def build_store(
    image_paths: list[Path],
    ids: list[int | str],
    out_dir: Path,
    *,
    scales: tuple[str, ...] = SCALES,
    output_size: int = 64,
    expected_size: int | None = KAGGLE_IMAGE_SIZE,
    frame: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Crop every image at every scale into ``out_dir/<scale>.npy`` and write ``out_dir/index.csv``.

    ``workers`` processes (default: all cores; 1 runs in this process) crop chunks of ``CHUNK_SIZE``
    images; results arrive in order and go straight into memory-mapped arrays, so memory does not grow
    with the number of images. Every image must be ``expected_size`` px square (``None``: any size).
    ``frame``: each image is first resampled to ``frame x frame`` by ``preprocess.scale.to_kaggle_frame``
    (the scale study: any size of at least 256 px; an image of that size is cropped as read); None crops
    each image as it is. Any unreadable, truncated, wrongly sized or too small image makes the whole call
    fail with one DataError naming every bad file, and nothing is published. Returns the index.
    """
    scales = tuple(scales)
    max_image_pixels()  # a bad GALZOO_MAX_IMAGE_PIXELS fails here, before any worker starts
    if workers is None:
        workers = os.cpu_count() or 1
    _validate_inputs(image_paths, ids, scales, workers, output_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    count = len(image_paths)
    shape = (count, output_size, output_size, 3)
    partial = {name: out_dir / f"{name}.npy{_PARTIAL_SUFFIX}" for name in scales}
    arrays = {
        name: np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
        for name, path in partial.items()
    }
    rows = list(enumerate(str(path) for path in image_paths))
    tasks = [
        (rows[start : start + CHUNK_SIZE], scales, output_size, expected_size, frame)
        for start in range(0, count, CHUNK_SIZE)
    ]
    scale_results: list[ScaleResult | None] = [None] * count
    errors: list[str] = []
    try:
        # The pool is forked before tqdm starts its monitor thread: forking a threaded process can deadlock.
        pool = multiprocessing.Pool(workers, initializer=keep_freed_memory) if workers > 1 else None
        if pool is None:
            keep_freed_memory()
        try:
            chunks = pool.imap(_crop_chunk, tasks) if pool else map(_crop_chunk, tasks)
            with progress_bar(total=count, unit="img", desc="crop", enabled=progress) as bar:
                for chunk in chunks:
                    for row, outcome in chunk:
                        if isinstance(outcome, str):
                            errors.append(outcome)
                            continue
                        views, scale_results[row] = outcome
                        for name in scales:
                            arrays[name][row] = views[name]
                    bar.update(len(chunk))
        finally:
            if pool:
                pool.terminate()
        if errors:
            raise _bad_images_error(errors, count)
        for array in arrays.values():
            array.flush()
    except BaseException:
        arrays.clear()
        for path in partial.values():
            path.unlink(missing_ok=True)
        raise
    arrays.clear()
    for name, path in partial.items():
        os.replace(path, out_dir / f"{name}.npy")
    index = pd.DataFrame(
        {
            "id": ids,
            "row": np.arange(count),
            "normalized_side": [result.side for result in scale_results],
            "major_axis": [result.major_axis for result in scale_results],
            "status": [result.status for result in scale_results],
        },
        columns=list(INDEX_COLUMNS),
    )
    index.to_csv(out_dir / INDEX_FILE, index=False)
    return index


def load_index(out_dir: Path) -> pd.DataFrame:
    """Read ``out_dir/index.csv``, checking its columns and that ``row`` runs 0..N-1 in order."""
    path = Path(out_dir) / INDEX_FILE
    if not path.is_file():
        raise DataError(f"{path}: array store index not found (run the crop stage first)")
    try:
        index = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV index ({err})") from err
    missing = [column for column in INDEX_COLUMNS if column not in index.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}, expected {list(INDEX_COLUMNS)}")
    if not np.array_equal(index["row"].to_numpy(), np.arange(len(index))):
        raise DataError(f"{path}: column 'row' must run 0..{len(index) - 1} in order")
    return index


def load_store(out_dir: Path, scale: str, mmap: bool = True) -> np.ndarray:
    """The ``N x S x S x 3`` uint8 array of one scale (memory-mapped read-only unless ``mmap=False``).

    Checks the array against the index, so a store from an interrupted or mixed run is refused.
    """
    check_scale(scale)
    out_dir = Path(out_dir)
    path = out_dir / f"{scale}.npy"
    if not path.is_file():
        raise DataError(f"{path}: array for scale {scale!r} not found (was it among the crop scales?)")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable .npy array ({err})") from err
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or array.shape[1] != array.shape[2]:
        raise DataError(f"{path}: expected a uint8 N x S x S x 3 array, got {array.dtype} {array.shape}")
    rows = len(load_index(out_dir))
    if array.shape[0] != rows:
        raise DataError(f"{path}: {array.shape[0]} rows but {out_dir / INDEX_FILE} has {rows}")
    return array
