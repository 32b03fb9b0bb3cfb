"""Study 4 (Pruitt 2024): Perseus cluster member or background, from SDSS cutouts, any registered model.

The pipeline of the paper (sec. 3), each step a function whose counts are reported:

1. the PCC's seven classes collapse to member (4, 6) / background (1, 2, 3, 7); mergers (5) are dropped;
2. bright cut on the PCC's r magnitude;
3. objects without a cutout are counted and dropped;
4. the red-image filter: more than half the pixels red (:func:`red_fraction`);
5. a balanced random sample (the smaller class's count from each class);
6. the spectroscopic additions within 45' (member if 0.01 < z < 0.033), red-filtered too, merged with the PCC
   object they coincide with (the same galaxy must not be two objects, or its copies could straddle splits);

then a split *by object* (75/25 train/test, then 75/25 train/validation), and only then the rotated copies
(the authors' validation split was drawn from the rotated images, so copies of one galaxy leaked across it).
The independent set is every spectroscopic object with a cutout that is not a training object.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from galzoo.config import Params, PerseusSelectionParams, RedFilterParams
from galzoo.errors import DataError
from galzoo.evaluation.classification import bootstrap_intervals, classification_scores
from galzoo.models import create_model
from galzoo.models.checkpoint import load_checkpoint, save_checkpoint
from galzoo.paper import PERSEUS, PERSEUS_SOURCE
from galzoo.preprocess.images import read_rgb
from galzoo.preprocess.prediction import ModelInput, register_model_input
from galzoo.progress import progress_bar
from galzoo.sources.perseus import angular_distance_arcmin, read_perseus_raw
from galzoo.studies.base import EVALUATE_FILES, PLOT_FILES, Run, StageFiles, Study
from galzoo.studies.registry import register_study
from galzoo.studies.tables import group_runs, seeds_cell, std
from galzoo.tasks import PERSEUS_CLASS_NAMES
from galzoo.training.device_data import as_batches
from galzoo.training.inference import DatasetBatches, predict_batches
from galzoo.training.loop import EarlyStopping, Epochs, LrSchedule, train
from galzoo.training.runtime import (TrainingRuntime, autocast_dtype, configure_threads, main_process_only,
                                     seed_everything, select_device, training_runtime)

TASK = "perseus_member"
STORE_FILE = "perseus.npy"
INDEX_FILE = "index.csv"
SPLIT_SUBSETS = ("train", "val", "test", "independent")

#: Pruitt (2024) sec. 7 and fig. 22: the red sequence lies between r = -14.3 (g - z) + 37 and + 46 (SDSS
#: modelMag r and g - z).
RED_SEQUENCE_SLOPE = -14.3
RED_SEQUENCE_INTERCEPTS = (37.0, 46.0)
REGIONS = ("blue_cloud", "red_sequence", "red_shoulder")
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ---------------------------------------------------------------------------------------------------------
# Pixels and photometry


def red_fraction(rgb: np.ndarray, params: RedFilterParams) -> float:
    """Fraction of pixels that are red: HSV hue within ``hue_deg`` of 0 degrees (both sides of the circle),
    saturation >= ``min_saturation`` and value >= ``min_value`` (0-255, OpenCV's 8-bit HSV).

    The paper's "overly red" cutouts come from an under-subtracted i-band sky (sec. 3.3): a saturated red wash
    over most of the image, which a galaxy's own colour never gives.
    """
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.float32) * 2.0  # OpenCV stores hue / 2 in 8 bits
    near_red = np.minimum(hue, 360.0 - hue) <= params.hue_deg
    red = near_red & (hsv[..., 1] >= params.min_saturation) & (hsv[..., 2] >= params.min_value)
    return float(red.mean())


def colour_region(r: np.ndarray, g_z: np.ndarray) -> np.ndarray:
    """``blue_cloud`` / ``red_sequence`` / ``red_shoulder`` in the (g - z, r) plane, "" without photometry.

    Between the two lines is the red sequence; redder (larger g - z at a given r) is the red shoulder, bluer
    the blue cloud. (The paper's table 4 prints the blue-cloud and red-shoulder names the other way round:
    its 90 "blue cloud" objects with 1 member are the redder region of its own lines.)
    """
    r, g_z = np.asarray(r, np.float64), np.asarray(g_z, np.float64)
    offset = r - RED_SEQUENCE_SLOPE * g_z  # the intercept of the line through the point
    low, high = RED_SEQUENCE_INTERCEPTS
    region = np.where(offset < low, REGIONS[0], np.where(offset <= high, REGIONS[1], REGIONS[2])).astype(object)
    region[~(np.isfinite(r) & np.isfinite(g_z))] = ""
    return region


def to_greyscale(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luminance in all three channels (the paper's greyscale ablation keeps the network's input)."""
    grey = np.clip(rgb.astype(np.float32) @ LUMA + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


# ---------------------------------------------------------------------------------------------------------
# The array store (crop_task)


def store_candidates(catalogue: pd.DataFrame, selection: PerseusSelectionParams) -> pd.DataFrame:
    """The objects any selection step can use: PCC objects that pass the class collapse and the bright cut,
    and every spectroscopic or independent object; only those with a cutout can be stored."""
    pcc = catalogue["origin"] == "pcc"
    keep = (~pcc) | (catalogue["label"].notna() & _bright(catalogue["r_mag"], selection))
    return catalogue[keep & (catalogue["image"] != "")]


def _bright(r_mag: pd.Series, selection: PerseusSelectionParams) -> pd.Series:
    return r_mag <= selection.r_max if selection.r_max_inclusive else r_mag < selection.r_max


def resize_cutout(rgb: np.ndarray, size: int) -> np.ndarray:
    """The whole cutout at ``size`` x ``size`` (area averaging when shrinking); the store and predict share it."""
    if rgb.shape[:2] == (size, size):
        return np.ascontiguousarray(rgb)
    interpolation = cv2.INTER_AREA if min(rgb.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=interpolation)


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


# ---------------------------------------------------------------------------------------------------------
# Selection and split (split_task)


def _step(name: str, table: pd.DataFrame, note: str = "") -> dict:
    labels = table["label"]
    entry = {"step": name, "objects": int(len(table)), "background": int((labels == 0).sum()),
             "member": int((labels == 1).sum())}
    if note:
        entry["note"] = note
    return entry


def select_objects(catalogue: pd.DataFrame, red: pd.Series, selection: PerseusSelectionParams, *,
                   seed: int) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """The paper's training objects, the independent objects, and the counts after every step.

    ``red`` maps object ids to their red-pixel fraction (objects absent from it have no stored cutout).
    Returns ``(selected, independent, steps)``; ``selected`` has one row per galaxy, with ``merged_id`` naming
    a spectroscopic entry that was merged into a PCC object.
    """
    steps = []
    pcc = catalogue[catalogue["origin"] == "pcc"]
    steps.append(_step("PCC catalogue", pcc, "labels by class collapse; the 5 mergers have none yet"))
    pcc = pcc[pcc["label"].notna()]
    steps.append(_step("class collapse", pcc, "classes 1, 2, 3, 7 background; 4, 6 member; 5 dropped"))
    pcc = pcc[_bright(pcc["r_mag"], selection)]
    sign = "<=" if selection.r_max_inclusive else "<"
    steps.append(_step("bright cut", pcc, f"r {sign} {selection.r_max}"))
    pcc, step = _with_cutout(pcc, red, "PCC cutout available")
    steps.append(step)
    pcc = pcc[pcc["id"].map(red) <= selection.red_filter.max_fraction]
    steps.append(_step("red-image filter", pcc, f"red pixels <= {selection.red_filter.max_fraction:.0%}"))
    if selection.balance:
        pcc = _balanced_sample(pcc, seed)
        steps.append(_step("balanced random sample", pcc, "the smaller class's count from each class"))
    selected = pcc.assign(merged_id="")
    if selection.spec_additions:
        spec = catalogue[(catalogue["origin"] == "spec") & catalogue["label"].notna()]
        steps.append(_step("spectroscopic search", spec, "member if 0.01 < z < 0.033"))
        if selection.drop_stars:
            spec = _without_stars(spec)
            steps.append(_step("spectroscopic stars dropped", spec, "SDSS spectral class STAR"))
        spec, step = _with_cutout(spec, red, "spectroscopic cutout available")
        steps.append(step)
        spec = spec[spec["id"].map(red) <= selection.red_filter.max_fraction]
        steps.append(_step("spectroscopic red-image filter", spec))
        selected, merged, conflicts = _merge_spectroscopic(selected, spec, selection.match_radius_arcsec)
        steps.append(_step("spectroscopic additions", selected,
                           f"{merged} spectroscopic object(s) were already selected PCC galaxies and were merged "
                           f"into them (label from the redshift; {conflicts} disagreed with the PCC class)"))
    independent = _independent(catalogue, selected, red, selection)
    steps.append(_step("independent set", independent, "spectroscopic objects with a cutout, not in training"))
    return selected.reset_index(drop=True), independent.reset_index(drop=True), steps


def _with_cutout(table: pd.DataFrame, red: pd.Series, name: str) -> tuple[pd.DataFrame, dict]:
    stored = table["id"].isin(red.index)
    missing = table.loc[~stored, "id"].tolist()
    kept = table[stored]
    note = f"{len(missing)} without a cutout: {', '.join(missing[:5])}" if missing else ""
    return kept, _step(name, kept, note)


def _without_stars(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the objects whose SDSS spectrum is a star's (``perseus.selection.drop_stars``): the
    paper keeps them as background galaxies, though they are foreground stars (z ~ 0), not galaxies."""
    return table[table["spec_class"].fillna("").astype(str).str.upper() != "STAR"]


def _balanced_sample(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    counts = table["label"].value_counts()
    if len(counts) < 2:
        raise DataError(f"perseus: after the red-image filter only class {counts.index.tolist()} is left; a "
                        f"balanced sample needs members and background")
    n = int(counts.min())
    rng = np.random.default_rng(seed)
    parts = [group.iloc[np.sort(rng.choice(len(group), size=n, replace=False))]
             for _, group in table.groupby("label", sort=True)]
    return pd.concat(parts).sort_index()


def _separations_arcsec(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """``len(a) x len(b)`` angular separations."""
    if a.empty or b.empty:
        return np.full((len(a), len(b)), np.inf)
    return np.stack([angular_distance_arcmin(b["ra"], b["dec"], centre=(ra, dec)) * 60
                     for ra, dec in zip(a["ra"], a["dec"])])


def _merge_spectroscopic(selected: pd.DataFrame, spec: pd.DataFrame,
                         radius_arcsec: float) -> tuple[pd.DataFrame, int, int]:
    """Add ``spec`` to ``selected``; an entry within ``radius_arcsec`` of a selected galaxy is that galaxy:
    it keeps its row (and cutout) and takes the spectroscopic label, a measurement rather than a class."""
    separation = _separations_arcsec(spec, selected)
    nearest = separation.argmin(axis=1) if len(selected) else np.zeros(len(spec), int)
    same = separation.min(axis=1) < radius_arcsec if len(selected) else np.zeros(len(spec), bool)
    selected = selected.copy()
    conflicts = 0
    for spec_row, target in zip(np.flatnonzero(same), nearest[same]):
        index = selected.index[target]
        conflicts += int(selected.at[index, "label"] != spec["label"].iloc[spec_row])
        selected.at[index, "label"] = spec["label"].iloc[spec_row]
        selected.at[index, "z"] = spec["z"].iloc[spec_row]
        selected.at[index, "merged_id"] = spec["id"].iloc[spec_row]
    added = spec[~same].assign(merged_id="")
    return pd.concat([selected, added]), int(same.sum()), conflicts


def _independent(catalogue: pd.DataFrame, selected: pd.DataFrame, red: pd.Series,
                 selection: PerseusSelectionParams) -> pd.DataFrame:
    """Spectroscopic and independent-set objects with a cutout, red-filtered, one row per galaxy, none within
    the match radius of a training object."""
    pool = catalogue[catalogue["origin"].isin(["spec", "independent"]) & catalogue["label"].notna()
                     & catalogue["id"].isin(red.index)]
    pool = pool[pool["id"].map(red) <= selection.red_filter.max_fraction]
    if selection.drop_stars:
        pool = _without_stars(pool)
    pool = pool.drop_duplicates("objid", keep="first")  # an object in both searches
    if pool.empty:
        return pool.assign(merged_id="")
    near_training = _separations_arcsec(pool, selected).min(axis=1) < selection.match_radius_arcsec
    return pool[~near_training].assign(merged_id="")


def split_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, counts_path: Path) -> dict:
    """Select, split by object (stratified by label), and write the split (with the independent objects)
    and the counts of every step and subset."""
    from galzoo.splits import make_stratified_split

    _, index = load_perseus_store(store_dir)
    red = pd.Series(index["red_fraction"].to_numpy(), index=index["id"])
    selected, independent, steps = select_objects(read_perseus_raw(raw_dir), red, params.perseus.selection,
                                                  seed=params.seed)
    split = make_stratified_split(selected["id"], selected["label"].astype(int),
                                  test_fraction=params.perseus.split.test_fraction,
                                  val_fraction=params.perseus.split.val_fraction, seed=params.seed)
    split = pd.concat([split, pd.DataFrame({"id": independent["id"], "subset": "independent"})], ignore_index=True)
    labels = pd.concat([selected, independent]).set_index("id")["label"]
    # The label travels with the split: a merged galaxy's label is its spectrum's, not its catalogue row's.
    split["label"] = labels[split["id"]].astype(int).to_numpy()
    split_path.parent.mkdir(parents=True, exist_ok=True)
    split.to_csv(split_path, index=False)
    copies = len(params.perseus.rotations_deg)
    subsets = {subset: {"objects": int((split["subset"] == subset).sum()),
                        "member": int(labels[split.loc[split["subset"] == subset, "id"]].sum()),
                        "images": int((split["subset"] == subset).sum()) * (copies if subset != "independent" else 1)}
               for subset in SPLIT_SUBSETS}
    counts = {"task": TASK, "seed": params.seed, "selection": steps, "subsets": subsets,
              "rotations_per_object": copies}
    counts_path.parent.mkdir(parents=True, exist_ok=True)
    counts_path.write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def read_perseus_split(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise DataError(f"{path}: split file not found (run the split_task stage)")
    split = pd.read_csv(path, dtype={"id": str})
    if list(split.columns) != ["id", "subset", "label"] or set(split["subset"]) - set(SPLIT_SUBSETS) \
            or not split["label"].isin([0, 1]).all():
        raise DataError(f"{path}: expected columns id,subset,label with subsets {list(SPLIT_SUBSETS)} and labels "
                        f"0/1 (a Perseus split): re-run split_task")
    if split["id"].duplicated().any():
        twice = split["id"][split["id"].duplicated()].tolist()[:5]
        raise DataError(f"{path}: an object is listed in two subsets: {twice}")
    return split


# ---------------------------------------------------------------------------------------------------------
# Data for the network


class RotatedCopies(Dataset):
    """Every object of a subset at every angle of ``rotations_deg`` (object-major), scaled to [0, 1] as the
    authors' ``rescale=1/255``; rotated copies are made on the fly from the one stored cutout."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, labels: np.ndarray, angles: list[float], *,
                 border: str, greyscale: bool):
        if len(rows) != len(labels):
            raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
        self.images, self.rows, self.labels = images, np.asarray(rows), torch.tensor(np.array(labels, np.int64))
        self.angles, self.greyscale = list(angles), greyscale
        self.border = cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REFLECT_101

    def __len__(self) -> int:
        return len(self.rows) * len(self.angles)

    def __getitem__(self, index: int):
        item, copy = divmod(index, len(self.angles))
        image = rotate(np.asarray(self.images[self.rows[item]]), self.angles[copy], self.border)
        if self.greyscale:
            image = to_greyscale(image)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0
        return x, self.labels[item]


def rotate(image: np.ndarray, angle_deg: float, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """``image`` turned counter-clockwise by ``angle_deg`` about its centre (multiples of 90 degrees exactly)."""
    angle = angle_deg % 360
    if angle % 90 == 0:
        return np.rot90(image, k=int(angle // 90)).copy()
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


class PerseusData:
    """The stored cutouts, the catalogue rows of the selected and independent objects, and the split."""

    def __init__(self, raw_dir: Path, store_dir: Path, split_path: Path):
        self.images, index = load_perseus_store(store_dir)
        split = read_perseus_split(split_path)
        catalogue = read_perseus_raw(raw_dir).set_index("id")
        missing = split.loc[~split["id"].isin(index["id"]) | ~split["id"].isin(catalogue.index), "id"]
        if len(missing):
            raise DataError(f"{split_path}: {len(missing)} object(s) not in the store or the catalogue, e.g. "
                            f"{missing.tolist()[:5]}: re-run crop_task and split_task")
        row_of = pd.Series(index["row"].to_numpy(), index=index["id"])
        self.objects = catalogue.loc[split["id"]].assign(subset=split["subset"].to_numpy(),
                                                          label=split["label"].to_numpy(),
                                                          row=row_of[split["id"]].to_numpy())
        self.objects["region"] = colour_region(self.objects["r_sdss"], self.objects["g_z"])

    def subset(self, name: str) -> pd.DataFrame:
        return self.objects[self.objects["subset"] == name]

    def dataset(self, name: str, angles: list[float], *, border: str, greyscale: bool) -> RotatedCopies:
        part = self.subset(name)
        return RotatedCopies(self.images, part["row"].to_numpy(), part["label"].astype(int).to_numpy(), angles,
                             border=border, greyscale=greyscale)


# ---------------------------------------------------------------------------------------------------------
# Training, scoring, figures


def _lr_factor(recipe, step: int) -> float:
    """Keras' ExponentialDecay (not staircase): ``rate ** (step / decay_steps)``."""
    return recipe.lr_decay_rate ** (step / recipe.lr_decay_steps)


def predict_copies(model: nn.Module, dataset: RotatedCopies, *, batch_size: int, device: torch.device,
                   amp_dtype: torch.dtype | None) -> np.ndarray:
    """Softmax probabilities of every copy, ``objects x angles x classes``, in eval mode."""
    probs = predict_batches(model, DatasetBatches(dataset, batch_size), device=device, amp_dtype=amp_dtype,
                            softmax=True)
    if not len(probs):
        return np.zeros((0, len(dataset.angles), len(PERSEUS_CLASS_NAMES)))
    return probs.reshape(len(dataset.rows), len(dataset.angles), -1)


def train_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                  live_dir: Path, progress: bool = True) -> None:
    """Train ``params.model`` on the rotated copies of the training objects (SGD, Keras-style exponential lr
    decay per step); validation accuracy and loss on the validation objects' copies after every epoch; with
    ``restore_best`` the epoch of the lowest validation loss is the one saved.

    Under torchrun every process trains its share of each batch and rank 0 alone writes the outputs. The
    copies are always rotated per sample on the CPU: the study has no device data path.
    """
    from dvclive import Live

    s, recipe = params.perseus, params.perseus.recipe_for(params.budget)
    with training_runtime(params.runtime, params.seed, device_path=False) as rt:
        data = PerseusData(raw_dir, store_dir, split_path)
        if data.images.shape[1] != recipe.input_size:
            raise DataError(f"{store_dir}: cutouts stored at {data.images.shape[1]} px but the recipe's input_size "
                            f"is {recipe.input_size}: re-run crop_task")
        options = {"border": s.border, "greyscale": s.greyscale}
        train_set = data.dataset("train", s.rotations_deg, **options)
        validate = _copies_validation(data, s.rotations_deg, options, batch_size=params.evaluate.batch_size, rt=rt)
        model = create_model(params.model, num_outputs=len(PERSEUS_CLASS_NAMES), input_size=recipe.input_size)
        model.to(rt.device)
        rt.seed_per_process(params.seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                    weight_decay=recipe.weight_decay)
        batches = as_batches(train_set, recipe.batch_size, seed=params.seed, device=rt.device, dist=rt.dist)
        schedule = LrSchedule.per_step(optimizer, lambda done: _lr_factor(recipe, done))
        stopping = EarlyStopping("loss", recipe.early_stop_patience, restore_best=recipe.restore_best)
        if rt.dist.is_main:
            print(f"{params.model} on {TASK}, {rt.describe()}: {len(data.subset('train'))} train / "
                  f"{len(data.subset('val'))} val objects x {len(s.rotations_deg)} rotations, {recipe.input_size} px "
                  f"{'grey' if s.greyscale else 'RGB'}, {recipe.epochs} epochs of {len(batches)} batches of "
                  f"{recipe.batch_size}, budget {params.budget}", file=sys.stderr)
        with main_process_only(rt.dist, lambda: Live(str(live_dir), dvcyaml=False, save_dvc_exp=False,
                                                     report=None)) as live:
            log = train(model, batches, optimizer, nn.CrossEntropyLoss(), length=Epochs(recipe.epochs),
                        validate=validate, fix="lower perseus.recipe.lr", schedule=schedule, stopping=stopping,
                        device=rt.device, amp_dtype=rt.amp_dtype, accel=rt.accel, live=live, progress=progress,
                        label=f"[{params.model}]")
        if rt.dist.is_main:
            save_checkpoint(model_path, model, {
                "model": params.model, "task": TASK, "num_outputs": len(PERSEUS_CLASS_NAMES),
                "class_names": list(PERSEUS_CLASS_NAMES), "input_size": recipe.input_size, "output_layer": "linear",
                "scale": None, "mean": None, "std": None,
                "preprocessing": ResizeCutout(recipe.input_size, s.greyscale, 1 / 255).metadata(),
                "budget": params.budget, "seed": params.seed, "greyscale": s.greyscale,
                "rotations_deg": list(s.rotations_deg), "border": s.border,
                "epoch": stopping.best_at if recipe.restore_best else len(log), "val_loss": stopping.best,
            })


def _copies_validation(data: PerseusData, angles: list[float], options: dict, *, batch_size: int,
                       rt: TrainingRuntime) -> Callable[[nn.Module], dict[str, float]]:
    """The loop's ``validate``: Keras' val_loss (cross-entropy) and val_accuracy over every rotated copy of
    the validation objects. With several processes each predicts a share of the objects and the shares are
    gathered, so that every process takes the same decisions from the same figures."""
    part = data.subset("val")
    labels = part["label"].astype(int).to_numpy()
    shard = rt.dist.shard(len(part))
    copies = RotatedCopies(data.images, part["row"].to_numpy()[shard], labels[shard], angles, **options)
    truth = np.repeat(labels, len(angles))

    def validate(model: nn.Module) -> dict[str, float]:
        probs = predict_copies(model, copies, batch_size=batch_size, device=rt.device, amp_dtype=rt.amp_dtype)
        (probs,) = rt.dist.gather_rows(shard, probs, n=len(part))
        flat = probs.reshape(-1, probs.shape[-1])
        return {"loss": float(-np.log(np.clip(flat[np.arange(len(truth)), truth], 1e-12, None)).mean()),
                "accuracy": float((flat.argmax(1) == truth).mean())}

    return validate


def _scores(labels: np.ndarray, probs: np.ndarray) -> dict:
    if len(labels) == 0:
        return {"n": 0}
    scores = classification_scores(labels, probs, PERSEUS_CLASS_NAMES)
    return {"n": int(len(labels)), **scores, "member_f1": scores["per_class"]["member"]["f1"]}


def _by_region(objects: pd.DataFrame, probs: np.ndarray) -> dict:
    regions = {}
    for region in (*REGIONS, ""):
        pick = (objects["region"] == region).to_numpy()
        regions[region or "no_photometry"] = _scores(objects["label"].to_numpy()[pick].astype(int), probs[pick])
    return regions


def evaluate_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                     metrics_path: Path, predictions_path: Path, confusion_path: Path) -> dict:
    """Scores on the test split as the paper counts them (every rotated copy an image), per object (the
    copies' probabilities averaged), on the independent set (the cutouts as they are), and per colour region."""
    configure_threads(params.runtime.threads)
    seed_everything(params.seed)
    device = select_device(params.runtime.device)
    amp = autocast_dtype(params.runtime.precision, device)
    model, meta = load_checkpoint(model_path, device)
    if meta.get("task") != TASK:
        raise DataError(f"{model_path}: model was trained on task {meta.get('task')!r}, not {TASK}")
    data = PerseusData(raw_dir, store_dir, split_path)
    options = {"border": meta["border"], "greyscale": meta["greyscale"]}
    angles, batch = meta["rotations_deg"], params.evaluate.batch_size

    def probabilities(subset: str, subset_angles: list[float]) -> np.ndarray:
        return predict_copies(model, data.dataset(subset, subset_angles, **options), batch_size=batch,
                              device=device, amp_dtype=amp)

    test = data.subset("test")
    test_probs = probabilities("test", angles)
    test_labels = test["label"].to_numpy().astype(int)
    per_image = _scores(np.repeat(test_labels, len(angles)), test_probs.reshape(-1, test_probs.shape[-1]))
    per_object_probs = test_probs.mean(axis=1)
    independent = data.subset("independent")
    independent_probs = probabilities("independent", [0])[:, 0]
    independent_labels = independent["label"].to_numpy().astype(int)
    intervals = bootstrap_intervals(test_labels, per_object_probs, seed=params.seed) if len(test) else {}
    metrics = {
        "model": meta["model"], "task": TASK, "seed": params.seed, "budget": meta["budget"],
        "greyscale": bool(meta["greyscale"]), "input_size": meta["input_size"], "epoch": meta.get("epoch"),
        "accuracy": per_image.get("accuracy"), "macro_f1": per_image.get("macro_f1"),
        "member_f1": per_image.get("member_f1"),
        "independent_accuracy": _scores(independent_labels, independent_probs).get("accuracy"),
        "test_images": per_image,
        "test_objects": {**_scores(test_labels, per_object_probs),
                         "ci95": {k: {"low": lo, "high": hi} for k, (lo, hi) in intervals.items()}},
        "independent": _scores(independent_labels, independent_probs),
        "regions": {"test_objects": _by_region(test, per_object_probs),
                    "independent": _by_region(independent, independent_probs)},
    }
    if not len(independent):
        metrics["independent"]["note"] = ("no spectroscopic object with a cutout is left outside training: fetch the "
                                          "independent set's cutouts (data.perseus.mode: sdss), or train without "
                                          "the spectroscopic additions (perseus.selection.spec_additions: false)")
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    everything = data.objects  # every selected and independent object, unrotated, for the diagram
    unrotated = predict_copies(
        model, RotatedCopies(data.images, everything["row"].to_numpy(), everything["label"].to_numpy().astype(int),
                             [0], **options), batch_size=batch, device=device, amp_dtype=amp)[:, 0]
    predictions_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(predictions_path, ids=everything.index.to_numpy().astype(str),
                        subsets=everything["subset"].to_numpy().astype(str), labels=everything["label"].to_numpy(),
                        unrotated=unrotated, test_ids=test.index.to_numpy().astype(str),
                        test_copies=test_probs, angles=np.asarray(angles, np.float64),
                        r_sdss=everything["r_sdss"].to_numpy(np.float64), g_z=everything["g_z"].to_numpy(np.float64),
                        class_names=np.asarray(PERSEUS_CLASS_NAMES))
    names = np.asarray(PERSEUS_CLASS_NAMES)
    confusion_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"actual": names[np.repeat(test_labels, len(angles))],
                  "predicted": names[test_probs.reshape(-1, test_probs.shape[-1]).argmax(1)]}).to_csv(
        confusion_path, index=False)
    return metrics


def plot_perseus(params: Params, *, raw_dir: Path, store_dir: Path, split_path: Path, model_path: Path,
                 predictions_path: Path, out_dir: Path) -> list[Path]:
    """Confusion matrix and ROC of the test split (every copy an image), and the colour-magnitude diagram of
    the objects coloured by label and by whether the prediction on the unrotated cutout is right."""
    from galzoo.evaluation.classification import confusion_matrix
    from galzoo.plots.classification import plot_colour_magnitude, plot_confusion, plot_roc

    _, meta = load_checkpoint(model_path, "cpu")
    with np.load(predictions_path) as saved:
        p = {key: saved[key] for key in saved.files}
    copies = p["test_copies"].reshape(-1, p["test_copies"].shape[-1])
    test_labels = np.repeat(p["labels"][p["subsets"] == "test"].astype(int), len(p["angles"]))
    names = tuple(PERSEUS_CLASS_NAMES)
    title = (f"{meta['model']} on {TASK} ({'greyscale' if meta['greyscale'] else 'colour'}, seed {meta['seed']}, "
             f"budget {meta['budget']})")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_confusion(confusion_matrix(test_labels, copies.argmax(1), len(names)), names,
                       out_dir / "confusion_matrix.png", title=f"Test split, every rotated copy: {title}"),
        plot_roc(test_labels, copies, names, out_dir / "roc.png", title=f"ROC, test split: {title}"),
        plot_colour_magnitude(p["g_z"], p["r_sdss"], p["labels"].astype(int), p["unrotated"].argmax(1), p["subsets"],
                              names, RED_SEQUENCE_SLOPE, RED_SEQUENCE_INTERCEPTS, out_dir / "colour_magnitude.png",
                              title=title),
    ]


@register_model_input
@dataclass(frozen=True)
class ResizeCutout(ModelInput):
    """Pruitt's input: the whole cutout resized to ``size`` px, grey if trained so, times ``rescale`` (the
    Perseus store + ``RotatedCopies`` at angle 0). Any cutout size fits."""

    kind: ClassVar[str] = "resize"
    any_image_size: ClassVar[bool] = True
    size: int
    greyscale: bool
    rescale: float

    @classmethod
    def from_metadata(cls, meta: dict, settings: dict) -> ResizeCutout:
        return cls(int(settings["size"]), bool(settings["greyscale"]), float(settings["rescale"]))

    def metadata(self) -> dict:
        return {"kind": self.kind, "size": self.size, "greyscale": self.greyscale, "rescale": self.rescale}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        image = resize_cutout(rgb, self.size)
        image = to_greyscale(image) if self.greyscale else image
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)[None] * np.float32(self.rescale)


class PerseusStudy(Study):
    """Pruitt: ``model`` on Perseus cluster membership, from the study's own data source."""

    name = "perseus"
    title = "Perseus cluster membership (Pruitt 2024)"
    default_task = TASK
    data_sources = ("perseus",)
    run_plots = ("plots/model/confusion_matrix.png", "plots/model/roc.png", "plots/model/colour_magnitude.png")

    def build_store(self, params: Params, files: StageFiles) -> None:
        build_perseus_store(params, raw_dir=files.raw, out_dir=files.store)

    def split(self, params: Params, files: StageFiles) -> dict:
        return split_perseus(params, **files.kwargs("raw", "store", "split", "counts"))

    def train(self, params: Params, files: StageFiles) -> None:
        train_perseus(params, **files.kwargs("raw", "store", "split", "model", "live"))

    def evaluate(self, params: Params, files: StageFiles) -> dict:
        return evaluate_perseus(params, **files.kwargs(*EVALUATE_FILES))

    def plot(self, params: Params, files: StageFiles) -> list[Path]:
        return plot_perseus(params, **files.kwargs(*PLOT_FILES))

    def summary(self, metrics: dict) -> str:
        independent = metrics["independent"]
        beside = (f"independent accuracy {independent['accuracy']:.3f} on {independent['n']} objects"
                  if independent["n"] else "no independent objects")
        return (f"{metrics['model']} on {TASK} ({'grey' if metrics['greyscale'] else 'colour'}): test accuracy "
                f"{metrics['accuracy']:.3f} over {metrics['test_images']['n']} images (paper "
                f"{PERSEUS['test_accuracy']}), member F1 {metrics['member_f1']:.3f}, macro F1 "
                f"{metrics['macro_f1']:.3f}; {beside} (paper {PERSEUS['independent_accuracy']})")

    def variant(self, run: Run) -> str:
        """``colour`` or ``greyscale`` (the paper's ablation), with ``, no spectroscopic additions`` when the
        experiment switched them off (its independent set is then not empty)."""
        colour = "greyscale" if run.metrics.get("greyscale") else "colour"
        selection = (run.params.get(self.name) or {}).get("selection") or {}
        return f"{colour}, no spectroscopic additions" if selection.get("spec_additions") is False else colour

    def report(self, runs: list[Run]) -> list[str]:
        """Pruitt's headline scores, ours (mean ± std over seeds) beside the paper's, colour and greyscale as
        separate rows."""
        if not runs:
            return []
        lines = ["# Perseus cluster membership (Pruitt 2024)", "",
                 "Test split: every rotated copy of a test object counts as an image, as the paper's table 2. "
                 "Independent set: spectroscopic objects with a cutout that are not training objects, unrotated. "
                 f"Paper: {PERSEUS_SOURCE}.", "",
                 "| model | input | budget | seeds | test images | test accuracy | test macro F1 | test member F1 | "
                 "independent objects | independent accuracy | independent member F1 | independent macro F1 |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|"]

        def cell(members: list[Run], part: str, key: str) -> str:
            values = np.array([r.metrics[part].get(key, np.nan) for r in members], np.float64)
            if not np.isfinite(values).any():
                return "—"
            return f"{np.nanmean(values):.3f} ± {std(values[np.isfinite(values)]):.3f}"

        for (_, budget, model, variant), members in group_runs(runs, self.variant):
            m = members[0].metrics
            lines.append(
                f"| {model} | {m['input_size']} px {variant} | {budget} | {seeds_cell(members)} | "
                f"{m['test_images']['n']} | {cell(members, 'test_images', 'accuracy')} | "
                f"{cell(members, 'test_images', 'macro_f1')} | {cell(members, 'test_images', 'member_f1')} | "
                f"{m['independent']['n']} | {cell(members, 'independent', 'accuracy')} | "
                f"{cell(members, 'independent', 'member_f1')} | {cell(members, 'independent', 'macro_f1')} |")
        p = PERSEUS
        lines += [f"| paper (ResNet-50) | 200 px colour | 200 epochs | — | 1,840 | {p['test_accuracy']:.2f} | "
                  f"{p['test_macro_f1']:.2f} | {p['test_member_f1']:.2f} | 335 | {p['independent_accuracy']:.2f} | "
                  f"{p['independent_member_f1']:.2f} | {p['independent_macro_f1']:.2f} |", ""]
        return lines


register_study(PerseusStudy())
