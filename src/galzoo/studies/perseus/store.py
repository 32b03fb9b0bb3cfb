"""The Perseus study's array store (the ``crop_task`` stage): every usable cutout resized to the recipe's
input size, with its red-pixel fraction measured on the full-resolution cutout."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo.config import Params, PerseusSelectionParams
from galzoo.errors import DataError
from galzoo.preprocess.images import read_rgb
from galzoo.progress import progress_bar
from galzoo.sources.perseus import read_perseus_raw
from galzoo.studies.perseus.pixels import red_fraction, resize_cutout

STORE_FILE = "perseus.npy"
INDEX_FILE = "index.csv"


def store_candidates(catalogue: pd.DataFrame, selection: PerseusSelectionParams) -> pd.DataFrame:
    """The objects any selection step can use: PCC objects that pass the class collapse and the bright cut,
    and every spectroscopic or independent object; only those with a cutout can be stored."""
    pcc = catalogue["origin"] == "pcc"
    keep = (~pcc) | (catalogue["label"].notna() & _bright(catalogue["r_mag"], selection))
    return catalogue[keep & (catalogue["image"] != "")]


def _bright(r_mag: pd.Series, selection: PerseusSelectionParams) -> pd.Series:
    return r_mag <= selection.r_max if selection.r_max_inclusive else r_mag < selection.r_max


def build_perseus_store(params: Params, *, raw_dir: Path, out_dir: Path, progress: bool = True) -> pd.DataFrame:
    """``perseus.npy`` (uint8 N x S x S x 3, each cutout resized to the recipe's input size) and
    ``index.csv`` (id, row, red_fraction measured on the full-resolution cutout)."""
    selection = params.perseus.selection
    size = params.perseus.recipe_for(params.budget).input_size
    candidates = store_candidates(read_perseus_raw(raw_dir), selection)
    if candidates.empty:
        raise DataError(f"{raw_dir}: no Perseus object with a cutout passes the class collapse and the bright cut")
    images = np.empty((len(candidates), size, size, 3), np.uint8)
    fractions, problems = [], []
    bar = progress_bar(enumerate(candidates["image"]), total=len(candidates), enabled=progress,
                       desc="perseus store", unit="img")
    for row, path in bar:
        try:
            rgb = read_rgb(path, None)
        except DataError as error:
            problems.append(str(error))
            fractions.append(math.nan)
            continue
        fractions.append(red_fraction(rgb, selection.red_filter))
        images[row] = resize_cutout(rgb, size)
    if problems:
        raise DataError(f"{len(problems)} unreadable cutout(s): " + "; ".join(problems[:10]))
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f"{STORE_FILE}.partial.npy"
    np.save(partial, images)
    partial.replace(out_dir / STORE_FILE)
    index = pd.DataFrame({"id": candidates["id"].to_numpy(), "row": np.arange(len(candidates)),
                          "red_fraction": fractions})
    index.to_csv(out_dir / INDEX_FILE, index=False)
    return index


def load_perseus_store(store_dir: Path) -> tuple[np.ndarray, pd.DataFrame]:
    path, index_path = Path(store_dir) / STORE_FILE, Path(store_dir) / INDEX_FILE
    for required in (path, index_path):
        if not required.is_file():
            raise DataError(f"{required}: not found (run the crop_task stage with task perseus_member)")
    index = pd.read_csv(index_path, dtype={"id": str})
    if list(index.columns) != ["id", "row", "red_fraction"]:
        raise DataError(f"{index_path}: expected columns id,row,red_fraction (a Perseus store), got "
                        f"{','.join(index.columns)}: re-run crop_task")
    return np.load(path, mmap_mode="r"), index
