"""The Perseus study's selection and split (the ``split_task`` stage): the paper's steps, each counted, then
a split by object, so that the rotated copies of one galaxy never straddle two subsets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo.config import Params, PerseusSelectionParams
from galzoo.errors import DataError
from galzoo.sources.perseus import angular_distance_arcmin, read_perseus_raw
from galzoo.studies.perseus.store import _bright, load_perseus_store

TASK = "perseus_member"
SPLIT_SUBSETS = ("train", "val", "test", "independent")


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
