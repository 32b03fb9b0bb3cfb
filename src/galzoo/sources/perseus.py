"""The Perseus cluster-membership data (Pruitt 2024) into the raw layout, from a local folder or from SDSS.

Both ways in fill one :class:`PerseusCatalogues` (four tables with fixed columns, each row pointing at its
image file or at none) and :func:`write_perseus_raw` writes it as

* ``images/<id>.<jpg|png>``: one cutout per object that has one;
* ``catalogue.csv``: one row per object *per source table* (a galaxy that is both in the PCC and in the
  spectroscopic search has two rows; the selection merges them by position and says so), with its
  member/background ``label``, the photometry the study needs (``r_mag``: the PCC's r for PCC objects, SDSS
  modelMag_r otherwise; ``r_sdss`` and ``g_z``: SDSS modelMag r and g - z where known; ``z``), the
  PCC class, the distance from the cluster centre and the ``image`` file name (empty when there is none);
* ``source.json``: where it came from and the counts.

Nothing is selected here: the paper's cuts (class collapse, bright cut, red-image filter, balanced sample,
spectroscopic additions) are the ``perseus_member`` task's selection steps, so their counts can be reported.

The ``folder`` way reads a folder laid out like the study's data release (the layout of
``shared/data/perseus``): ``catalogs/wittmann2019_pcc.txt`` (the PCC, fixed-width text),
``catalogs/PCC_CrossMatch.csv`` (SDSS photometry of the bright PCC objects), ``catalogs/SpecSearchNoCuts.csv``
(the spectroscopic search within 45'), ``catalogs/IndependentTestSet_Cleaned.csv`` (the independent set within
90'), and ``images/pcc/``, ``images/labelled/``, ``images/radial_search/``.
"""
from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from galzoo.errors import ConfigError, DataError
from galzoo.progress import progress_bar
from galzoo.sources.archive import staged_directory
from galzoo.sources.layout import listed, output_suffix, report, write_source_record

_NAME = "perseus"
CATALOGUE_FILE = "catalogue.csv"

#: Pruitt (2024) sec. 3.2: the seven classes of Wittmann et al. (2019) as the paper numbers them, by the text
#: the PCC gives (dE/ETG candidates carry a nucleation note after it).
PCC_CLASSES = {
    1: "Cluster or background LTG",
    2: "Likely background ETG or unresolved source",
    3: "Likely cluster or background edge-on disk galaxy",
    4: "Likely dE/ETGcluster candidate",
    5: "Likely merging system",
    6: "Possible dE/ETGcluster candidate",
    7: "Cluster or background galaxy with possibly weak substructure",
}
#: Sec. 3.2: classes 1, 2, 3, 7 are background (0), 4 and 6 members (1), 5 (mergers) is left out.
MEMBER_CLASSES = frozenset({4, 6})
BACKGROUND_CLASSES = frozenset({1, 2, 3, 7})
#: Sec. 6: a spectroscopic object is a member when 0.01 < z < 0.033.
MEMBER_REDSHIFT = (0.01, 0.033)
#: Sec. 6: the cluster centre of the radial searches (degrees).
CLUSTER_CENTRE = (49.9467, 41.5131)

#: The columns of each table of :class:`PerseusCatalogues` (``image``: a file path, or "" when there is none).
PCC_COLUMNS = ("pcc_id", "ra", "dec", "r_mag", "pcc_class", "image")
PHOTOMETRY_COLUMNS = ("pcc_id", "objid", "r_sdss", "g_z")
SPEC_COLUMNS = ("objid", "ra", "dec", "r_mag", "g_z", "z", "spec_class", "distance_arcmin", "image")
INDEPENDENT_COLUMNS = ("objid", "ra", "dec", "r_mag", "g_z", "z", "distance_arcmin", "image")

CATALOGUE_COLUMNS = ("id", "origin", "ra", "dec", "objid", "pcc_id", "pcc_class", "label", "r_mag", "r_sdss", "g_z",
                     "z", "spec_class", "distance_arcmin", "image")
ORIGINS = ("pcc", "spec", "independent")


@dataclass
class PerseusCatalogues:
    """What either way in delivers, before any selection.

    * ``pcc``: every object of the Perseus Cluster Catalogue: ``pcc_id`` ("PCC-0001"), ``ra``, ``dec``
      (degrees), ``r_mag`` (the PCC's r), ``pcc_class`` (1-7, :data:`PCC_CLASSES`), ``image``.
    * ``photometry``: SDSS photometry of PCC objects (cross-matched by position): ``pcc_id``, ``objid``,
      ``r_sdss`` (modelMag_r), ``g_z`` (modelMag_g - modelMag_z). Objects without a match are absent.
    * ``spec``: the spectroscopic objects within 45' of the centre (the paper's spectroscopic additions):
      ``objid``, ``ra``, ``dec``, ``r_mag`` (modelMag_r), ``g_z``, ``z``, ``spec_class`` (GALAXY/STAR/QSO),
      ``distance_arcmin``, ``image``.
    * ``independent``: the independent test set (spectroscopic objects within 90'), columns as ``spec``
      without ``spec_class``.
    """

    pcc: pd.DataFrame
    photometry: pd.DataFrame
    spec: pd.DataFrame
    independent: pd.DataFrame
    record: dict

    def __post_init__(self) -> None:
        for name, columns in (("pcc", PCC_COLUMNS), ("photometry", PHOTOMETRY_COLUMNS), ("spec", SPEC_COLUMNS),
                              ("independent", INDEPENDENT_COLUMNS)):
            table = getattr(self, name)
            missing = [c for c in columns if c not in table.columns]
            if missing:
                raise DataError(f"perseus: the {name} table lacks the column(s) {missing}")
            setattr(self, name, table[list(columns)].reset_index(drop=True))


def collapse_pcc_class(pcc_class: int) -> float:
    """The paper's label of a PCC class: 1 member, 0 background, NaN for the mergers it leaves out."""
    if pcc_class in MEMBER_CLASSES:
        return 1.0
    if pcc_class in BACKGROUND_CLASSES:
        return 0.0
    if pcc_class == 5:
        return math.nan
    raise DataError(f"perseus: unknown PCC class {pcc_class!r}; expected one of {sorted(PCC_CLASSES)}")


def redshift_label(z: float) -> float:
    """Member (1) when 0.01 < z < 0.033, else background (0); NaN without a redshift."""
    if z is None or not np.isfinite(z):
        return math.nan
    low, high = MEMBER_REDSHIFT
    return 1.0 if low < z < high else 0.0


def angular_distance_arcmin(ra, dec, centre=CLUSTER_CENTRE) -> np.ndarray:
    """Great-circle distance (haversine) from ``centre`` in arcminutes; inputs in degrees."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    ra0, dec0 = np.radians(centre[0]), np.radians(centre[1])
    h = np.sin((dec - dec0) / 2) ** 2 + np.cos(dec) * np.cos(dec0) * np.sin((ra - ra0) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(h))) * 60


# ---------------------------------------------------------------------------------------------------------
# The local folder


def read_perseus_folder(folder: Path | str) -> PerseusCatalogues:
    """Read a folder laid out like the study's data release (see the module docstring)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"data.perseus.path: {folder} is not a folder")
    catalogs, images = folder / "catalogs", folder / "images"
    pcc = read_pcc_text(_required(catalogs / "wittmann2019_pcc.txt"))
    pcc["image"] = [_existing(images / "pcc" / f"sdss_ra={ra}_dec={dec}.jpeg")
                    for ra, dec in zip(pcc.pop("ra_text"), pcc.pop("dec_text"))]

    crossmatch = _read_csv(_required(catalogs / "PCC_CrossMatch.csv"), ("name", "objID", "modelMag_r", "g_z"))
    photometry = pd.DataFrame({"pcc_id": crossmatch["name"].astype(str), "objid": _objids(crossmatch["objID"]),
                               "r_sdss": crossmatch["modelMag_r"].astype(float),
                               "g_z": crossmatch["g_z"].astype(float)})
    unknown = sorted(set(photometry["pcc_id"]) - set(pcc["pcc_id"]))
    if unknown:
        raise DataError(f"{catalogs / 'PCC_CrossMatch.csv'}: {len(unknown)} name(s) not in the PCC: {listed(unknown)}")

    labelled = _coordinate_images(images / "labelled")
    radial = _objid_images(images / "radial_search")
    spec_file = _required(catalogs / "SpecSearchNoCuts.csv")
    raw_spec = _read_csv(spec_file, ("objID", "ra", "dec", "R_mag", "g_z", "z", "class", "distance"))
    spec = pd.DataFrame({"objid": _objids(raw_spec["objID"]), "ra": raw_spec["ra"].astype(float),
                         "dec": raw_spec["dec"].astype(float), "r_mag": raw_spec["R_mag"].astype(float),
                         "g_z": raw_spec["g_z"].astype(float), "z": raw_spec["z"].astype(float),
                         "spec_class": raw_spec["class"].astype(str).str.strip(),
                         "distance_arcmin": raw_spec["distance"].astype(float)})
    spec["image"] = [radial.get(o) or _nearest_image(labelled, ra, dec)
                     for o, ra, dec in zip(spec["objid"], spec["ra"], spec["dec"])]

    indep_file = _required(catalogs / "IndependentTestSet_Cleaned.csv")
    raw_indep = _read_csv(indep_file, ("objID", "ra", "dec", "R_mag", "g_z", "z", "distance", "files"))
    independent = pd.DataFrame({"objid": _objids(raw_indep["objID"]), "ra": raw_indep["ra"].astype(float),
                                "dec": raw_indep["dec"].astype(float), "r_mag": raw_indep["R_mag"].astype(float),
                                "g_z": raw_indep["g_z"].astype(float), "z": raw_indep["z"].astype(float),
                                "distance_arcmin": raw_indep["distance"].astype(float)})
    independent["image"] = [radial.get(o) or _existing(images / "labelled" / str(f))
                            for o, f in zip(independent["objid"], raw_indep["files"])]
    # radial_search/ holds spectroscopic objects within 45' by objID; every one must be in the search table.
    strays = sorted(set(radial) - set(spec["objid"]) - set(independent["objid"]))
    if strays:
        raise DataError(f"{images / 'radial_search'}: {len(strays)} image(s) of objects in neither {spec_file.name} "
                        f"nor {indep_file.name}: {listed(strays)}")
    record = {"source": _NAME, "mode": "folder", "folder": str(folder.resolve())}
    return PerseusCatalogues(pcc=pcc, photometry=photometry, spec=spec, independent=independent, record=record)


def read_pcc_text(path: Path) -> pd.DataFrame:
    """The PCC as Wittmann et al. publish it: fixed-width text, no header; column 1 the id, 2-3 RA/Dec,
    4 the r magnitude, then photometric and structural columns, the class text and a stamp URL.

    RA and Dec are also returned as written (``ra_text``, ``dec_text``): the cutouts are named by them.
    """
    rows, problems = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        classes = [k for k, text in PCC_CLASSES.items() if text in line]
        try:
            if len(classes) != 1:
                raise ValueError(f"expected one of the seven class texts, found {len(classes)}")
            if not re.fullmatch(r"PCC-\d+", fields[1]):
                raise ValueError(f"expected a PCC id in column 2, got {fields[1]!r}")
            rows.append((fields[1], float(fields[2]), float(fields[3]), float(fields[4]), classes[0],
                         fields[2], fields[3]))
        except (ValueError, IndexError) as error:
            problems.append(f"line {number}: {error}")
    if problems:
        raise DataError(f"{path}: {len(problems)} unreadable line(s): {listed(problems)}")
    if not rows:
        raise DataError(f"{path}: no objects")
    table = pd.DataFrame(rows, columns=["pcc_id", "ra", "dec", "r_mag", "pcc_class", "ra_text", "dec_text"])
    duplicated = table["pcc_id"][table["pcc_id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{path}: PCC id(s) listed twice: {listed(duplicated)}")
    return table


def _required(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: not found; the Perseus folder must be laid out like the study's data release "
                        f"(catalogs/ and images/, see galzoo.sources.perseus)")
    return path


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    # Some of the published tables start with a "#Table1" comment line (SkyServer's CSV output).
    try:
        table = pd.read_csv(path, comment="#", dtype={"objID": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    return table


def _objids(column: pd.Series) -> pd.Series:
    text = column.astype(str).str.strip()
    bad = text[~text.str.fullmatch(r"\d+")].tolist()
    if bad:
        raise DataError(f"perseus: SDSS objIDs must be integers, got {listed(bad)}")
    return text


def _existing(path: Path) -> str:
    return str(path) if path.is_file() else ""


_COORDINATE_NAME = re.compile(r"sdss_ra=(-?[\d.]+)_dec=(-?[\d.]+)(?:-label=[01])?\.(?:png|jpe?g)", re.I)


def _coordinate_images(directory: Path) -> pd.DataFrame:
    """Images named ``sdss_ra=<RA>_dec=<Dec>[-label=<0|1>].<ext>``, with the coordinates parsed."""
    rows = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        match = _COORDINATE_NAME.fullmatch(path.name)
        if match:
            rows.append((float(match.group(1)), float(match.group(2)), str(path)))
    return pd.DataFrame(rows, columns=["ra", "dec", "path"])


def _objid_images(directory: Path) -> dict[str, str]:
    """Images named ``<objID>-label=<0|1>.png`` by objID."""
    found = {}
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        match = re.fullmatch(r"(\d+)(?:-label=[01])?\.(?:png|jpe?g)", path.name, re.I)
        if match:
            found[match.group(1)] = str(path)
    return found


#: Two positions closer than this are the same object (SDSS astrometry is good to ~0.1").
MATCH_RADIUS_ARCSEC = 1.0


def _nearest_image(images: pd.DataFrame, ra: float, dec: float) -> str:
    if images.empty:
        return ""
    separation = _separation_arcsec(images["ra"].to_numpy(), images["dec"].to_numpy(), ra, dec)
    best = int(np.argmin(separation))
    return images["path"].iloc[best] if separation[best] < MATCH_RADIUS_ARCSEC else ""


def _separation_arcsec(ra, dec, ra0, dec0) -> np.ndarray:
    return angular_distance_arcmin(ra, dec, centre=(ra0, dec0)) * 60


# ---------------------------------------------------------------------------------------------------------
# The raw layout


def write_perseus_raw(catalogues: PerseusCatalogues, out_dir: Path | str, *, progress: bool = True) -> Path:
    """Write ``catalogues`` as ``images/`` + ``catalogue.csv`` + ``source.json``, all or nothing."""
    out_dir = Path(out_dir)
    table = catalogue_table(catalogues)
    with staged_directory(out_dir) as staging:
        images = staging / "images"
        images.mkdir()
        names = []
        bar = progress_bar(zip(table["id"], table.pop("source_image")), total=len(table), enabled=progress,
                           desc="perseus images", unit="img")
        for object_id, source in bar:
            if not source:
                names.append("")
                continue
            suffix = output_suffix(source)
            if suffix is None:
                raise DataError(f"{source}: not a JPEG or PNG image")
            shutil.copyfile(source, images / f"{object_id}{suffix}")
            names.append(f"{object_id}{suffix}")
        table["image"] = names
        table.to_csv(staging / CATALOGUE_FILE, index=False)
        counts = {origin: {"objects": int((table["origin"] == origin).sum()),
                           "with_image": int(((table["origin"] == origin) & (table["image"] != "")).sum())}
                  for origin in ORIGINS}
        write_source_record(staging, {**catalogues.record, "counts": counts})
    summary = ", ".join(f"{origin} {c['objects']} ({c['with_image']} with an image)" for origin, c in counts.items())
    report(_NAME, f"{summary} written to {out_dir}")
    return out_dir


def catalogue_table(c: PerseusCatalogues) -> pd.DataFrame:
    """One row per object per source table, in the columns of ``catalogue.csv`` (``source_image``: where its
    image is now)."""
    photometry = c.photometry.drop_duplicates("pcc_id").set_index("pcc_id")
    pcc = pd.DataFrame({
        "id": c.pcc["pcc_id"], "origin": "pcc", "ra": c.pcc["ra"], "dec": c.pcc["dec"],
        "objid": c.pcc["pcc_id"].map(photometry["objid"]).fillna(""), "pcc_id": c.pcc["pcc_id"],
        "pcc_class": c.pcc["pcc_class"].astype(int),
        "label": c.pcc["pcc_class"].map(collapse_pcc_class), "r_mag": c.pcc["r_mag"],
        "r_sdss": c.pcc["pcc_id"].map(photometry["r_sdss"]), "g_z": c.pcc["pcc_id"].map(photometry["g_z"]),
        "z": math.nan, "spec_class": "",
        "distance_arcmin": angular_distance_arcmin(c.pcc["ra"], c.pcc["dec"]), "source_image": c.pcc["image"],
    })
    frames = [pcc]
    for origin, table in (("spec", c.spec), ("independent", c.independent)):
        frames.append(pd.DataFrame({
            "id": "SDSS" + table["objid"] + ("" if origin == "spec" else "-indep"), "origin": origin,
            "ra": table["ra"], "dec": table["dec"], "objid": table["objid"], "pcc_id": "", "pcc_class": 0,
            "label": table["z"].map(redshift_label), "r_mag": table["r_mag"], "r_sdss": table["r_mag"],
            "g_z": table["g_z"], "z": table["z"],
            "spec_class": table["spec_class"] if "spec_class" in table else "",
            "distance_arcmin": table["distance_arcmin"], "source_image": table["image"].fillna(""),
        }))
    table = pd.concat(frames, ignore_index=True)
    duplicated = table["id"][table["id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"perseus: object(s) listed twice in one table: {listed(duplicated)}")
    return table[[*CATALOGUE_COLUMNS[:-1], "source_image"]]


def read_perseus_raw(raw_dir: Path | str) -> pd.DataFrame:
    """``catalogue.csv`` of the raw layout, checked against its images (``image``: a path, or "")."""
    raw_dir = Path(raw_dir)
    path = raw_dir / CATALOGUE_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found; the perseus_member task needs data.source: perseus (run the download "
                        f"stage)")
    table = pd.read_csv(path, dtype={"id": str, "objid": str, "pcc_id": str, "image": str, "spec_class": str},
                        keep_default_na=False, na_values={c: [""] for c in ("label", "r_mag", "r_sdss", "g_z", "z",
                                                                              "distance_arcmin")})
    missing = [c for c in CATALOGUE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    absent = [name for name in table["image"] if name and not (raw_dir / "images" / name).is_file()]
    if absent:
        raise DataError(f"{path}: {len(absent)} image(s) listed but not in {raw_dir / 'images'}: {listed(absent)}")
    table["image"] = [str(raw_dir / "images" / name) if name else "" for name in table["image"]]
    return table
