"""Galaxy Zoo 2 (Willett et al. 2013) in the Kaggle format: Zenodo images, Hart et al. (2016) vote fractions.

Three published files, cached in ``data.download_dir``:

* ``images_gz2.zip`` (Zenodo record 3565489): ``images_gz2/images/<asset_id>.jpg``, 424x424 SDSS gri
  colour images as shown to the volunteers;
* ``gz2_filename_mapping.csv`` (same record): ``objid`` (SDSS DR7 objid) -> ``asset_id`` (image name);
* ``gz2_hart16.csv.gz`` (data.galaxyzoo.org, Hart et al. 2016): per galaxy (``dr7objid``) and answer,
  ``<answer>_fraction`` (raw vote fraction) and ``<answer>_debiased`` (corrected for the redshift bias).

GZ2 fractions are *per question*: the answers of a question sum to 1 among the volunteers who reached it.
Kaggle's 37 columns are *cumulative* (Class2.1 = P(features) x P(edge-on | features)), so each question is
renormalised to sum to 1 and multiplied down the decision tree by :func:`galzoo.tree.cumulative_from_conditional`;
:mod:`galzoo.tree` says which answer leads to which question. A question nobody answered (possible only for
debiased fractions, whose parent answer can be above 0 when its raw count is 0) gets equal shares so the row
obeys the tree; such galaxies are counted in the report.

:data:`GZ2_TO_KAGGLE` maps each GZ2 answer to its Kaggle column. GZ2 numbers answers across the whole tree:
t01 smooth/features/star a01-a03 -> Class1.1-1.3, t02 edge-on yes/no a04-a05 -> Class2.1-2.2, t03 bar yes/no
a06-a07 -> Class3.1-3.2, t04 spiral yes/no a08-a09 -> Class4.1-4.2, t05 bulge none/just noticeable/obvious/
dominant a10-a13 -> Class5.1-5.4, t06 odd yes/no a14-a15 -> Class6.1-6.2, t07 completely round/in between/
cigar a16-a18 -> Class7.1-7.3, t08 ring/lens or arc/disturbed/irregular/other/merger a19-a24 and dust lane
a38 (added to the tree later, hence its number) -> Class8.1-8.7, t09 bulge rounded/boxy/none a25-a27 ->
Class9.1-9.3, t10 arms tight/medium/loose a28-a30 -> Class10.1-10.3, t11 arms 1/2/3/4/more than four/can't
tell a31-a34, a36, a37 (there is no a35) -> Class11.1-11.6.

Each galaxy's GalaxyID is its SDSS DR7 objid, so the labels can be matched with any other GZ2 or SDSS table.
A galaxy whose image is not in the archive (or has no row in the mapping) is left out and counted, in the
report and in ``source.json``.
"""
from __future__ import annotations

import gzip
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo import tree
from galzoo.config import DownloadParams, GZ2Params
from galzoo.errors import DataError
from galzoo.labels import ID_COLUMN
from galzoo.sources.archive import archive_names, extract_archive, staged_directory
from galzoo.sources.download import Remote, download
from galzoo.sources.layout import is_image_member, report, write_labels, write_source_record

GZ2_TO_KAGGLE: dict[str, str] = {
    "t01_smooth_or_features_a01_smooth": "Class1.1",
    "t01_smooth_or_features_a02_features_or_disk": "Class1.2",
    "t01_smooth_or_features_a03_star_or_artifact": "Class1.3",
    "t02_edgeon_a04_yes": "Class2.1",
    "t02_edgeon_a05_no": "Class2.2",
    "t03_bar_a06_bar": "Class3.1",
    "t03_bar_a07_no_bar": "Class3.2",
    "t04_spiral_a08_spiral": "Class4.1",
    "t04_spiral_a09_no_spiral": "Class4.2",
    "t05_bulge_prominence_a10_no_bulge": "Class5.1",
    "t05_bulge_prominence_a11_just_noticeable": "Class5.2",
    "t05_bulge_prominence_a12_obvious": "Class5.3",
    "t05_bulge_prominence_a13_dominant": "Class5.4",
    "t06_odd_a14_yes": "Class6.1",
    "t06_odd_a15_no": "Class6.2",
    "t07_rounded_a16_completely_round": "Class7.1",
    "t07_rounded_a17_in_between": "Class7.2",
    "t07_rounded_a18_cigar_shaped": "Class7.3",
    "t08_odd_feature_a19_ring": "Class8.1",
    "t08_odd_feature_a20_lens_or_arc": "Class8.2",
    "t08_odd_feature_a21_disturbed": "Class8.3",
    "t08_odd_feature_a22_irregular": "Class8.4",
    "t08_odd_feature_a23_other": "Class8.5",
    "t08_odd_feature_a24_merger": "Class8.6",
    "t08_odd_feature_a38_dust_lane": "Class8.7",
    "t09_bulge_shape_a25_rounded": "Class9.1",
    "t09_bulge_shape_a26_boxy": "Class9.2",
    "t09_bulge_shape_a27_no_bulge": "Class9.3",
    "t10_arms_winding_a28_tight": "Class10.1",
    "t10_arms_winding_a29_medium": "Class10.2",
    "t10_arms_winding_a30_loose": "Class10.3",
    "t11_arms_number_a31_1": "Class11.1",
    "t11_arms_number_a32_2": "Class11.2",
    "t11_arms_number_a33_3": "Class11.3",
    "t11_arms_number_a34_4": "Class11.4",
    "t11_arms_number_a36_more_than_4": "Class11.5",
    "t11_arms_number_a37_cant_tell": "Class11.6",
}

#: Key columns of the label table and of the mapping.
TABLE_ID = "dr7objid"
MAPPING_ID, MAPPING_ASSET = "objid", "asset_id"
_NAME = "gz2"


def _check_mapping() -> None:
    """Every Kaggle column is the image of exactly one GZ2 answer of the same question; fails at import."""
    targets = list(GZ2_TO_KAGGLE.values())
    if sorted(targets) != sorted(tree.ANSWER_COLUMNS):
        raise RuntimeError("GZ2_TO_KAGGLE must map onto each of the 37 Kaggle columns exactly once")
    for gz2, kaggle in GZ2_TO_KAGGLE.items():
        if int(gz2[1:3]) != int(kaggle[len("Class"):].split(".")[0]):
            raise RuntimeError(f"GZ2 answer {gz2} is mapped onto {kaggle}, a column of another question")


_check_mapping()


def kaggle_labels(table: pd.DataFrame, fractions: str = "debiased", *, source: str = "table") -> tuple[np.ndarray, int]:
    """The 37 cumulative Kaggle columns from GZ2's per-question ``<answer>_<fractions>`` columns.

    Returns the (N, 37) array and how many galaxies had a reached question without any answer (those get
    equal shares there). Missing values count as 0 and negative ones (debiasing can undershoot) are clipped.
    """
    columns = [f"{answer}_{fractions}" for answer in GZ2_TO_KAGGLE]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                        f" ({len(missing)} of the 37 '_{fractions}' columns); is it the Hart et al. (2016) table "
                        f"gz2_hart16.csv? (data.gz2.fractions chooses the suffix)")
    conditional = np.zeros((len(table), tree.N_ANSWERS))
    for answer, column in GZ2_TO_KAGGLE.items():
        values = pd.to_numeric(table[f"{answer}_{fractions}"], errors="coerce").to_numpy(np.float64)
        conditional[:, tree.COLUMN_INDEX[column]] = values
    conditional = np.clip(np.nan_to_num(conditional, nan=0.0, posinf=0.0, neginf=0.0), 0.0, None)
    unanswered = np.zeros((len(table), tree.N_QUESTIONS), dtype=bool)
    for i, q in enumerate(tree.QUESTIONS):
        part = conditional[:, tree.question_slice(q)]
        total = part.sum(axis=1, keepdims=True)
        unanswered[:, i] = total[:, 0] <= 0
        conditional[:, tree.question_slice(q)] = np.where(total > 0, part / np.where(total > 0, total, 1.0),
                                                          1.0 / len(q.answers))
    cumulative = tree.cumulative_from_conditional(conditional)
    reached = tree.expected_totals(cumulative) > 0
    return cumulative, int((unanswered & reached).any(axis=1).sum())


def fetch_gz2(params: GZ2Params, out_dir: Path | str, cache_dir: Path | str, download_params: DownloadParams,
              *, progress: bool = True) -> Path:
    """Download (or reuse) the three GZ2 files and write the raw layout to ``out_dir``, all or nothing."""
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    table_path, mapping_path, images_path = (download(_remote(params, key), cache_dir, download_params,
                                                      progress=progress) for key in ("labels", "mapping", "images"))

    table = _read_table(table_path, params.fractions)
    labels, unanswered = kaggle_labels(table, params.fractions, source=str(table_path))
    ids = table[TABLE_ID].to_numpy()
    duplicated = pd.Index(ids).duplicated()
    if duplicated.any():
        report(_NAME, f"{int(duplicated.sum())} repeated {TABLE_ID}(s) in {table_path.name}: the first row of each "
                      f"is used")
        ids, labels = ids[~duplicated], labels[~duplicated]

    present = _archive_assets(images_path)
    asset_of, several = _choose_assets(_read_mapping(mapping_path), present)
    has_image = np.array([i in asset_of for i in ids], dtype=bool)
    counts = {"galaxies_in_table": int(len(ids)), "galaxies": int(has_image.sum()),
              "left_out_no_image": int((~has_image).sum()), "reached_question_without_votes": unanswered,
              "objects_with_several_images": several, "images_in_archive": len(present),
              "images_unused": len(present) - int(has_image.sum())}
    if not has_image.any():
        raise DataError(f"{images_path}: none of the {len(ids)} galaxies of {table_path.name} has an image in "
                        f"the archive (through {mapping_path.name}); are these the published files?")
    frame = pd.DataFrame(labels[has_image], columns=list(tree.ANSWER_COLUMNS))
    frame.insert(0, ID_COLUMN, ids[has_image])
    wanted = {asset_of[i]: i for i in ids[has_image]}

    with staged_directory(out_dir) as staging:
        write_labels(frame, staging, source=f"{table_path} (converted to cumulative fractions)")
        extract_archive(images_path, staging / "images",
                        lambda p: f"{wanted[p.stem]}.jpg" if is_image_member(p) and p.stem in wanted else None,
                        progress=progress)
        write_source_record(staging, {"source": _NAME, "fractions": params.fractions, **counts,
                                      "files": {"images": params.images_url, "mapping": params.mapping_url,
                                                "labels": params.labels_url}})
    if counts["left_out_no_image"]:
        report(_NAME, f"{counts['left_out_no_image']} of {len(ids)} galaxies of {table_path.name} have no image in "
                      f"{images_path.name} (or no row in {mapping_path.name}) and were left out")
    if several:
        report(_NAME, f"{several} galaxies have several images in {images_path.name}; the lowest asset_id is used")
    if unanswered:
        report(_NAME, f"{unanswered} galaxies had a reached question without '_{params.fractions}' votes; its "
                      f"answers got equal shares")
    report(_NAME, f"{counts['galaxies']} galaxies written to {out_dir}")
    return out_dir


def _remote(params: GZ2Params, key: str) -> Remote:
    url, md5 = getattr(params, f"{key}_url"), getattr(params, f"{key}_md5")
    filename = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    if not filename:
        raise DataError(f"data.gz2.{key}_url: {url!r} does not end in a file name")
    return Remote(url, filename, md5=md5, key=f"data.gz2.{key}_url")


def _read_table(path: Path, fractions: str) -> pd.DataFrame:
    """The Hart et al. table, only the id and the 37 columns in use (the full table is ~1 GB in memory).

    The 18-digit objids are read as text: a float column (one empty cell suffices) would round them.
    """
    wanted = {TABLE_ID, *(f"{answer}_{fractions}" for answer in GZ2_TO_KAGGLE)}
    try:
        header = pd.read_csv(path, nrows=0).columns
        if TABLE_ID not in header:
            raise DataError(f"{path}: no {TABLE_ID} column; is it the Hart et al. (2016) table gz2_hart16.csv?")
        table = pd.read_csv(path, usecols=[c for c in header if c in wanted], dtype={TABLE_ID: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, gzip.BadGzipFile, EOFError,
            zlib.error) as exc:
        raise DataError(f"{path}: not a readable (gzipped) CSV file: {exc}; delete it and run again to download "
                        f"it afresh") from None
    ids = _integer_ids(table[TABLE_ID])
    if ids.isna().any():
        report(_NAME, f"{int(ids.isna().sum())} row(s) of {path.name} have no valid {TABLE_ID} and were left out")
    table = table[ids.notna()].copy()
    table[TABLE_ID] = ids[ids.notna()].astype(np.int64)
    return table


def _read_mapping(path: Path) -> pd.DataFrame:
    """objid and asset_id as int64, rows without both left out."""
    try:
        mapping = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file: {exc}") from None
    missing = [c for c in (MAPPING_ID, MAPPING_ASSET) if c not in mapping.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected the Zenodo "
                        f"gz2_filename_mapping.csv ({MAPPING_ID}, sample, {MAPPING_ASSET})")
    rows = pd.DataFrame({"objid": _integer_ids(mapping[MAPPING_ID]), "asset": _integer_ids(mapping[MAPPING_ASSET])})
    return rows.dropna().astype(np.int64)


def _integer_ids(column: pd.Series) -> pd.Series:
    """Digit strings as Python ints (exact at 18 digits), anything else as NaN (object dtype)."""
    text = column.astype(str).str.strip()
    return text.where(text.str.fullmatch(r"\d+")).map(int, na_action="ignore")


def _archive_assets(path: Path) -> set[str]:
    """Image names (asset_ids) present in the archive; resource forks and non-images are ignored."""
    return {p.stem for p in archive_names(path) if is_image_member(p)}


def _choose_assets(mapping: pd.DataFrame, present: set[str]) -> tuple[dict[int, str], int]:
    """objid -> asset_id of its image in the archive, and how many objects have several images there.

    An object with several images (a rare repeat observation) keeps the lowest asset_id.
    """
    rows = mapping[mapping["asset"].astype(str).isin(present)].sort_values(["objid", "asset"])
    first = rows.drop_duplicates("objid")
    several = int(rows["objid"].duplicated().groupby(rows["objid"]).any().sum())
    return dict(zip(first["objid"].tolist(), first["asset"].astype(str).tolist())), several
