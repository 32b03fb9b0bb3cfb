"""The Perseus study's data fetched from SDSS SkyServer (DR16) and VizieR: the ``sdss`` way in.

:func:`fetch_perseus_sdss` fills the same :class:`~galzoo.sources.perseus.PerseusCatalogues` as the folder
reader, from four kinds of request:

* the PCC (Wittmann et al. 2019) from VizieR's tab-separated ASU service;
* SDSS photometry of the PCC objects brighter than the study's cut, cross-matched by position on the server;
* the paper's two radial searches (appendix B): spectroscopic objects within 45' and within 90';
* one 200x200 JPEG cutout (0.1"/pixel, sec. 3.1) per object from SkyServer's ``ImgCutout`` service.

Every answer is kept in ``cache_dir`` (``data/downloads/perseus``, not a DVC output) under a name derived from
the request, so a run interrupted half-way asks only for what it does not have yet. The client is polite: at
least ``request_interval_s`` between two requests to one service, retries with exponential backoff on
timeouts, broken connections, 429 and 5xx (honouring ``Retry-After``), a User-Agent naming galzoo.

What was verified about the services, and what is assumed (none of them is reachable from the machine this
was written on; the tests run against a local server answering in the formats described here):

* SkyServer: ``<skyserver_url>/SearchTools/SqlSearch?cmd=<sql>&format=csv`` answers a ``#Table1`` line, a
  header and comma-separated rows (SciServer's own client builds that URL and reads the answer so; the
  release's CSV files start the same way). ``<skyserver_url>/ImgCutout/getjpeg?ra=&dec=&scale=&width=&height=``
  answers a JPEG: the study's own code fetched its cutouts with exactly these parameters (scale 0.1,
  200x200, DR16). A failed query comes back as an HTML page in place of the table (as users of SkyServer's
  API report) or, assumed, as HTTP 500 with SQL Server's message: both are recognised, the first because the
  expected columns are missing. Assumed: the SQL search accepts a ``VALUES`` table with
  ``CROSS APPLY dbo.fGetNearestObjEq`` (standard T-SQL; the function is SkyServer's "nearest primary object
  within r arcmin", as ``fGetNearbyObjEq`` of appendix B is "all of them") and a GET query string of ~2 kB.
* VizieR: the PCC is Wittmann et al. 2019, ApJS 245, 10 (bibcode 2019ApJS..245...10W; GAVO Heidelberg,
  whose stamp URLs the release's PCC text carries, publishes the same 5,437 objects), so its VizieR id is
  ``J/ApJS/245/10`` by VizieR's naming rule (not checked against VizieR itself). The ``asu-tsv`` request
  (``-source``, ``-out.max=unlimited``, ``-out.all``, ``-out.add=_RAJ,_DEJ``, ``-oc.form=d``) and its answer
  (``#Table``/``#Name``/``#Column <label> (<format>) <text> [ucd=...]`` lines, then a header, a units row, a
  row of dashes and tab-separated rows; ``_RAJ2000``/``_DEJ2000`` the positions VizieR computes) are as
  VizieR's published outputs show. NOT verified: the PCC table's name and its column labels. They are
  therefore not hard-coded: the table is the one, of those the catalogue returns, that has an id column (UCD
  ``meta.id;meta.main``, label ``PCC``, or values ``PCC-<n>``), an r magnitude (UCD ``phot.mag;em.opt.R`` or
  label ``rmag``) and a column whose values are the seven class texts of
  :data:`~galzoo.sources.perseus.PCC_CLASSES` (as in the release's PCC text). An answer without exactly one
  such table is an error listing what VizieR returned.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from galzoo.config import DownloadParams, PerseusSdssParams
from galzoo.errors import DataError
from galzoo.progress import progress_bar
from galzoo.sources.http import (DownloadError, Transient, error_body, give_up_message, open_url, read_body,
                                 status_failure, status_text, with_retries)
from galzoo.sources.layout import listed, report
from galzoo.sources.perseus import CLUSTER_CENTRE, PCC_CLASSES, PerseusCatalogues

_NAME = "perseus"
SKYSERVER, VIZIER = "SkyServer", "VizieR"
#: The params.yaml key of each service's URL, named in error messages.
SERVICE_KEYS = {SKYSERVER: "data.perseus.sdss.skyserver_url", VIZIER: "data.perseus.sdss.vizier_url"}
#: PCC objects per cross-match query: keeps each GET URL near 2 kB (web servers refuse long query strings).
CROSSMATCH_BATCH = 50

# ---------------------------------------------------------------------------------------------------------
# The SQL. Pruitt (2024) appendix B gives two queries around the cluster centre (sec. 6: RA 49.9467, Dec
# 41.5131). Both select the photometry below; the centre and radius are filled in from
# PerseusSdssParams and CLUSTER_CENTRE.

#: Appendix B, the photometric columns of the 90' query (the 45' query's table in the release has the same).
_PHOTOMETRY_SELECT = """    p.objID, p.ra, p.dec,
    p.modelMag_r as R_mag,
    p.modelMag_r - p.extinction_r as r0,
    p.modelMag_g - p.extinction_g - p.modelMag_z + p.extinction_z as g_z0,
    p.modelMag_u - p.modelMag_g as u_g,
    p.modelMag_g - p.modelMag_z as g_z,
    p.modelMag_g - p.modelMag_r as g_r,
    p.modelMag_g - p.modelMag_i as g_i,
    p.modelMag_r - p.modelMag_i as r_i,
    p.modelMag_r - p.modelMag_z as r_z,
    p.petroRad_r"""
_RADIAL_FROM = """FROM
    photoObj as p
JOIN SpecObjAll s ON p.objID = s.bestObjID
JOIN dbo.fGetNearbyObjEq({ra}, {dec}, {radius}) as N ON N.objID = p.objID
WHERE
    p.type = 3
ORDER BY distance"""

#: Appendix B, "Query for searching out 90 arcmins to acquire final independent test set", as printed.
INDEPENDENT_QUERY = ("SELECT TOP 1000\n" + _PHOTOMETRY_SELECT + ",\n    s.specObjID, s.z, s.zErr, s.zWarning,\n"
                     "    N.distance\n" + _RADIAL_FROM)

#: Appendix B, "Query for searching out 45 arcmins", as the release's ``SpecSearchNoCuts.csv`` was made: the
#: two red-sequence lines of its WHERE clause are left out (the red sequence is a selection step of the task,
#: not of the download) and so is TOP 100 (that table has 233 rows, out to 44.85'); ``p.type = 3`` is kept.
#: The select list is the table's columns: the photometry above, the flags, the spectrum and the distance.
SPEC_QUERY = ("SELECT\n" + _PHOTOMETRY_SELECT + ",\n    p.flags, dbo.fPhotoFlagsN(p.flags) as flag_text,\n"
              "    s.specObjID, s.z, s.zErr, s.zWarning, s.class, s.subClass,\n    N.distance\n" + _RADIAL_FROM)

#: Ours, not the paper's (the study matched the PCC in CasJobs): SDSS photometry of PCC positions, one row per
#: position that has a primary SDSS object within the match radius (the nearest one, matched by SkyServer).
#: A batch of positions per query rather than one query over the cluster region: that region, at galactic
#: latitude -13 deg, holds many thousands of SDSS objects (mostly stars) while the bright cut needs a few
#: hundred (270 PCC objects have r < 19.4 in the release), and SkyServer does the nearest-object match itself.
CROSSMATCH_QUERY = """SELECT u.n, p.objID, p.ra, p.dec, p.modelMag_r, p.modelMag_g - p.modelMag_z as g_z,
    nb.distance
FROM (VALUES {rows}) AS u(n, ra, dec)
CROSS APPLY dbo.fGetNearestObjEq(u.ra, u.dec, {radius}) AS nb
JOIN PhotoObj AS p ON p.objID = nb.objID"""

_SPEC_COLUMNS = ("objID", "ra", "dec", "R_mag", "g_z", "z", "class", "distance")
_INDEPENDENT_COLUMNS = ("objID", "ra", "dec", "R_mag", "g_z", "z", "distance")
_CROSSMATCH_COLUMNS = ("n", "objID", "modelMag_r", "g_z")


class SdssClient:
    """Polite, cached access to SkyServer and VizieR for the Perseus study.

    ``clock`` and ``sleep`` (default: the real ones) are injectable so tests can check the pauses without
    waiting for them.
    """

    def __init__(self, params: PerseusSdssParams, download: DownloadParams, cache_dir: Path | str, *,
                 clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None):
        self.params, self.download = params, download
        self.cache_dir = Path(cache_dir)
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self._last: dict[str, float] = {}   # service -> when its last answer ended

    # --- HTTP ---------------------------------------------------------------------------------------

    def get(self, url: str, *, service: str, purpose: str, shown_url: str | None = None,
            check: Callable[[int, bytes], None] | None = None) -> bytes:
        """The body of ``url``, asked politely and again after transient failures.

        ``check(status, body)`` may raise :class:`DownloadError` (a final answer: an SQL error) or
        :class:`~galzoo.sources.http.Transient` (a truncated cutout: ask again); it sees error bodies too
        (status >= 400). ``shown_url`` is what error messages name instead of ``url`` (an SQL URL without its
        query).
        """
        shown = shown_url or url

        def attempt() -> bytes:
            self._wait_turn(service)
            try:
                return self._once(url, service=service, purpose=purpose, shown=shown, check=check)
            finally:
                self._last[service] = self.clock()

        def give_up(reason: str, failures: int) -> DownloadError:
            return DownloadError(
                give_up_message(f"get the {purpose} from {service} ({shown})", reason, failures,
                                f"{SERVICE_KEYS[service]} in params.yaml")
                + f": what was fetched so far is kept in {self.cache_dir} and is not asked for again. Without "
                  f"network access, use a local copy of the data instead (data.perseus.mode: folder).")

        def too_long(seconds: float) -> DownloadError:
            return DownloadError(f"{service} asks to wait {seconds:.0f} s before the next request (Retry-After, "
                                 f"answering the {purpose}, {shown}); run again later: what was fetched so far is "
                                 f"kept in {self.cache_dir}.")

        return with_retries(attempt, self.download, give_up=give_up, too_long=too_long, sleep=self.sleep)

    def _wait_turn(self, service: str) -> None:
        last = self._last.get(service)
        if last is not None:
            remaining = self.params.request_interval_s - (self.clock() - last)
            if remaining > 0:
                self.sleep(remaining)

    def _once(self, url: str, *, service: str, purpose: str, shown: str,
              check: Callable[[int, bytes], None] | None) -> bytes:
        try:
            with open_url(url, self.download) as response:
                body, status = read_body(response), response.status
        except urllib.error.HTTPError as error:
            body = error_body(error)
            if check is not None:
                check(error.code, body)
            hint = f"; check {SERVICE_KEYS[service]} in params.yaml" if error.code in (400, 404) else ""
            raise status_failure(error, f"{service} answered {status_text(error)} to the request for the {purpose} "
                                        f"({shown}){hint}") from None
        if check is not None:
            check(status, body)
        return body

    # --- SkyServer SQL ------------------------------------------------------------------------------

    def sql(self, sql: str, *, purpose: str, name: str, columns: Iterable[str]) -> pd.DataFrame:
        """The table SkyServer answers to ``sql``, from the cache when this exact query was answered before.

        ``columns``: those the answer must have; an answer without them is SkyServer's way of saying the query
        failed. The query text is kept beside the answer (``<name>-<hash>.sql``) for people to inspect.
        """
        sql = " ".join(sql.split())
        digest = hashlib.sha256(sql.encode()).hexdigest()[:12]
        folder = self.cache_dir / "sql"
        folder.mkdir(parents=True, exist_ok=True)
        answer, query_file = folder / f"{name}-{digest}.csv", folder / f"{name}-{digest}.sql"
        query_file.write_text(sql + "\n")
        columns = tuple(columns)
        endpoint = f"{self.params.skyserver_url.rstrip('/')}/SearchTools/SqlSearch"
        if answer.is_file():
            try:
                return parse_skyserver_csv(answer.read_bytes(), columns)
            except DataError:
                print(f"galzoo: {answer}: not a complete SkyServer answer; asking again", file=sys.stderr)
                answer.unlink()

        def check(status: int, body: bytes) -> None:
            if status >= 400 and not (status >= 500 and _looks_like_sql_error(body)):
                return   # an ordinary HTTP failure: retried or reported as such
            if status < 400:
                try:
                    parse_skyserver_csv(body, columns)
                    return
                except DataError:
                    pass
            raise DownloadError(
                f"SkyServer could not answer the {purpose} ({endpoint}, HTTP {status}): {_snippet(body)}. The "
                f"query is in {query_file}: run it in SkyServer's SQL search page to see the problem, and check "
                f"{SERVICE_KEYS[SKYSERVER]} in params.yaml (a DR16 SkyServerWS base URL, such as "
                f"https://skyserver.sdss.org/dr16/SkyServerWS).")

        url = endpoint + "?" + urllib.parse.urlencode({"cmd": sql, "format": "csv"})
        body = self.get(url, service=SKYSERVER, purpose=purpose, shown_url=endpoint, check=check)
        _write_atomically(answer, body)
        return parse_skyserver_csv(body, columns)

    # --- VizieR ---------------------------------------------------------------------------------------

    def pcc(self) -> pd.DataFrame:
        """The PCC from VizieR: ``pcc_id``, ``ra``, ``dec`` (degrees), ``r_mag``, ``pcc_class`` (1-7)."""
        catalogue = self.params.pcc_catalogue
        url = self.params.vizier_url + "?" + urllib.parse.urlencode(
            [("-source", catalogue), ("-out.max", "unlimited"), ("-out.all", ""), ("-out.add", "_RAJ,_DEJ"),
             ("-oc.form", "d")])
        folder = self.cache_dir / "vizier"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (re.sub(r"[^A-Za-z0-9]+", "_", catalogue).strip("_") + ".tsv")
        if path.is_file():
            try:
                return pcc_from_vizier(path.read_text(encoding="utf-8", errors="replace"), source=str(path))
            except DataError as error:
                print(f"galzoo: {path}: {error}; asking VizieR again", file=sys.stderr)
                path.unlink()
        body = self.get(url, service=VIZIER, purpose=f"PCC ({catalogue})")
        table = pcc_from_vizier(body.decode("utf-8", errors="replace"), source=f"VizieR's answer for {catalogue} "
                                f"({url})")
        _write_atomically(path, body)
        return table

    # --- cutouts --------------------------------------------------------------------------------------

    def cutout_path(self, ra: float, dec: float) -> Path:
        """Where the cutout at (ra, dec) is cached: one folder per scale and size, one file per position."""
        size, scale = self.params.cutout_size, self.params.cutout_scale
        return self.cache_dir / "cutouts" / f"scale{scale:g}_{size}px" / f"ra={ra:.6f}_dec={dec:.6f}.jpeg"

    def cutout(self, ra: float, dec: float) -> Path:
        """The cached cutout at (ra, dec), fetched first unless a complete one is already there."""
        path = self.cutout_path(ra, dec)
        if path.is_file():
            problem = jpeg_problem(path.read_bytes())
            if problem is None:
                return path
            print(f"galzoo: {path}: {problem}; fetching it again", file=sys.stderr)
            path.unlink()
        size, scale = self.params.cutout_size, self.params.cutout_scale
        query = urllib.parse.urlencode({"ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "scale": f"{scale:g}", "width": size,
                                        "height": size})
        url = f"{self.params.skyserver_url.rstrip('/')}/ImgCutout/getjpeg?{query}"
        purpose = f"cutout at RA {ra:.6f}, Dec {dec:.6f}"
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")

        def check(status: int, body: bytes) -> None:
            if status >= 400:
                return
            part.write_bytes(body)
            problem = jpeg_problem(part.read_bytes())
            if problem is None:
                return
            part.unlink()
            if problem.startswith("truncated"):
                raise Transient(f"a {problem}")
            raise DownloadError(f"SkyServer answered the {purpose} ({url}) with {problem}: {_snippet(body)}; check "
                                f"{SERVICE_KEYS[SKYSERVER]} and data.perseus.sdss.cutout_* in params.yaml")

        self.get(url, service=SKYSERVER, purpose=purpose, check=check)
        os.replace(part, path)
        return path

    def cutouts(self, positions: Iterable[tuple[float, float]], *, progress: bool = True) -> list[Path]:
        """One cached cutout per position (duplicates share one file); only the missing ones are fetched."""
        positions = list(positions)
        paths = [self.cutout_path(ra, dec) for ra, dec in positions]
        todo = {}
        for (ra, dec), path in zip(positions, paths):
            if path not in todo and not (path.is_file() and jpeg_problem(path.read_bytes()) is None):
                todo[path] = (ra, dec)
        if todo:
            report(_NAME, f"{len(todo)} of {len(set(paths))} SDSS cutouts to fetch into {paths[0].parent}")
        for ra, dec in progress_bar(todo.values(), total=len(todo), enabled=progress, desc="SDSS cutouts",
                                    unit="img"):
            self.cutout(ra, dec)
        return paths


# ---------------------------------------------------------------------------------------------------------
# The whole fetch


def fetch_perseus_sdss(params: PerseusSdssParams, cache_dir: Path | str, download: DownloadParams, *,
                       pcc_r_max: float | None, progress: bool = True) -> PerseusCatalogues:
    """The Perseus study's catalogues and cutouts from VizieR and SkyServer, through ``cache_dir``.

    ``pcc_r_max``: the study's bright cut (PCC r < 19.4); only those PCC objects are cross-matched and get a
    cutout (None: all of them). Every spectroscopic and independent object gets a cutout.
    """
    client = SdssClient(params, download, cache_dir)
    pcc = client.pcc()
    bright = pcc if pcc_r_max is None else pcc[pcc["r_mag"] <= pcc_r_max]  # the task applies the exact cut
    photometry = crossmatch_pcc(client, bright)
    spec = radial_search(client, SPEC_QUERY, params.spec_radius_arcmin, purpose="spectroscopic search within "
                         f"{params.spec_radius_arcmin:g}'", name="spec", columns=_SPEC_COLUMNS)
    spec["spec_class"] = spec.pop("class").astype(str).str.strip()
    independent = radial_search(client, INDEPENDENT_QUERY, params.independent_radius_arcmin,
                                purpose=f"independent set within {params.independent_radius_arcmin:g}'",
                                name="independent", columns=_INDEPENDENT_COLUMNS)

    positions = [*zip(bright["ra"], bright["dec"]), *zip(spec["ra"], spec["dec"]),
                 *zip(independent["ra"], independent["dec"])]
    paths = iter(str(p) for p in client.cutouts(positions, progress=progress))
    pcc["image"] = ""
    pcc.loc[bright.index, "image"] = [next(paths) for _ in range(len(bright))]
    spec["image"] = [next(paths) for _ in range(len(spec))]
    independent["image"] = [next(paths) for _ in range(len(independent))]

    record = {"source": _NAME, "mode": "sdss", "cache": str(Path(cache_dir).resolve()),
              "urls": {"skyserver": params.skyserver_url, "vizier": params.vizier_url},
              "pcc_catalogue": params.pcc_catalogue, "pcc_r_max": pcc_r_max,
              "cutouts": {"scale_arcsec_per_px": params.cutout_scale, "size_px": params.cutout_size},
              "fetched": {"pcc": len(pcc), "pcc_cross_matched": len(photometry), "spec": len(spec),
                          "independent": len(independent), "cutouts": len(set(positions))}}
    return PerseusCatalogues(pcc=pcc, photometry=photometry, spec=spec, independent=independent, record=record)


def crossmatch_pcc(client: SdssClient, pcc: pd.DataFrame) -> pd.DataFrame:
    """SDSS photometry (``pcc_id``, ``objid``, ``r_sdss``, ``g_z``) of the PCC objects that have an SDSS object
    within ``match_radius_arcsec``, :data:`CROSSMATCH_BATCH` positions per query."""
    radius_arcmin = client.params.match_radius_arcsec / 60
    frames = []
    ids = pcc["pcc_id"].tolist()
    for start in range(0, len(pcc), CROSSMATCH_BATCH):
        chunk = pcc.iloc[start:start + CROSSMATCH_BATCH]
        rows = ",".join(f"({start + i},{ra:.6f},{dec:.6f})"
                        for i, (ra, dec) in enumerate(zip(chunk["ra"], chunk["dec"])))
        sql = CROSSMATCH_QUERY.format(rows=rows, radius=f"{radius_arcmin:.6g}")
        table = client.sql(sql, purpose=f"cross-match of PCC objects {start + 1}-{start + len(chunk)} with SDSS",
                           name="crossmatch", columns=_CROSSMATCH_COLUMNS)
        frames.append(table)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(_CROSSMATCH_COLUMNS))
    numbers = pd.to_numeric(table["n"], errors="coerce")
    bad = table["n"][~numbers.isin([float(n) for n in range(len(ids))])].tolist()
    if bad:
        raise DataError(f"SkyServer's cross-match answer names row(s) that were not asked for: {listed(bad)}")
    return pd.DataFrame({"pcc_id": [ids[int(n)] for n in numbers], "objid": _objids(table["objID"]),
                         "r_sdss": pd.to_numeric(table["modelMag_r"], errors="coerce"),
                         "g_z": pd.to_numeric(table["g_z"], errors="coerce")})


def radial_search(client: SdssClient, query: str, radius_arcmin: float, *, purpose: str, name: str,
                  columns: tuple[str, ...]) -> pd.DataFrame:
    """One of appendix B's searches around :data:`CLUSTER_CENTRE`, in the columns of the Perseus tables."""
    ra, dec = CLUSTER_CENTRE
    table = client.sql(query.format(ra=ra, dec=dec, radius=f"{radius_arcmin:g}"), purpose=purpose, name=name,
                       columns=columns)
    out = pd.DataFrame({"objid": _objids(table["objID"]), "ra": pd.to_numeric(table["ra"], errors="coerce"),
                        "dec": pd.to_numeric(table["dec"], errors="coerce"), "r_mag": pd.to_numeric(table["R_mag"], errors="coerce"),
                        "g_z": pd.to_numeric(table["g_z"], errors="coerce"),
                        "z": pd.to_numeric(table["z"], errors="coerce"),
                        "distance_arcmin": pd.to_numeric(table["distance"], errors="coerce")})
    no_position = out["objid"][out["ra"].isna() | out["dec"].isna()].tolist()
    if no_position:
        raise DataError(f"SkyServer's answer to the {purpose} has object(s) without a position: "
                        f"{listed(no_position)}")
    if "class" in columns:
        out["class"] = table["class"]
    return out


# ---------------------------------------------------------------------------------------------------------
# Reading the services' answers


def parse_skyserver_csv(body: bytes, columns: Iterable[str] = ()) -> pd.DataFrame:
    """A SkyServer CSV answer (``#Table1``, header, rows) as strings; DataError when ``columns`` are missing.

    Only the leading ``#`` lines are skipped (a value may contain ``#``); an empty table is a valid answer.
    """
    text = body.decode("utf-8", errors="replace")
    lines = text.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    if not lines:
        raise DataError("the answer holds no table")
    try:
        table = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"the answer is not a CSV table ({error})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"the answer lacks the column(s) {missing}")
    return table


@dataclass
class VizierTable:
    """One table of a VizieR ``asu-tsv`` answer: its name, its columns' UCDs and its rows (as strings)."""

    name: str
    ucds: dict[str, str]
    rows: pd.DataFrame


def parse_vizier_tsv(text: str) -> list[VizierTable]:
    """The tables of an ``asu-tsv`` answer: ``#Table``/``#Name``/``#Column`` comment lines, then per table a
    header row, a units row, a row of dashes and the tab-separated rows, up to a blank or comment line."""
    tables, name, ucds = [], "", {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#Table"):
            name, ucds = line[len("#Table"):].strip().rstrip(":"), {}
        elif line.startswith("#Name:") and name:
            name = line[len("#Name:"):].strip()
        elif line.startswith("#Column"):
            fields = line.split("\t")
            match = re.search(r"\[ucd=([^\]]*)\]", line)
            if len(fields) > 1:
                ucds[fields[1].strip()] = match.group(1) if match else ""
        elif line.strip() and not line.startswith("#"):
            header = [c.strip() for c in line.split("\t")]
            dashes = next((j for j in range(i + 1, min(i + 3, len(lines))) if re.fullmatch(r"[-\t ]+", lines[j])),
                          i)   # after the units row
            rows = []
            i = dashes + 1
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("#"):
                values = [v.strip() for v in lines[i].split("\t")]
                rows.append((values + [""] * len(header))[:len(header)])
                i += 1
            tables.append(VizierTable(name or f"table {len(tables) + 1}", ucds,
                                      pd.DataFrame(rows, columns=header, dtype=str)))
            name, ucds = "", {}
            continue
        i += 1
    return tables


def pcc_from_vizier(text: str, *, source: str) -> pd.DataFrame:
    """The PCC (``pcc_id``, ``ra``, ``dec``, ``r_mag``, ``pcc_class``) from VizieR's ``asu-tsv`` answer; the
    table and its columns are found as the module docstring says."""
    tables = parse_vizier_tsv(text)
    found = [(t, columns) for t in tables if (columns := _pcc_columns(t)) is not None]
    if len(found) != 1:
        seen = "; ".join(f"{t.name}: {list(t.rows.columns)} ({len(t.rows)} rows)" for t in tables) or "no table"
        messages = [line.strip("#* ") for line in text.splitlines()
                    if line.startswith("#") and re.search(r"error|not found|unknown", line, re.I)]
        why = (f" VizieR says: {listed(messages)}." if messages else "")
        what = "no table" if not found else f"{len(found)} tables"
        raise DataError(f"{source}: {what} with the PCC's id, position, r magnitude and class text columns; found "
                        f"{seen}.{why} Check data.perseus.sdss.pcc_catalogue (Wittmann et al. 2019, J/ApJS/245/10; "
                        f"name one table as J/ApJS/245/10/<table> if several qualify) and "
                        f"data.perseus.sdss.vizier_url")
    table, columns = found[0]
    rows = table.rows
    ids = [_pcc_id(v) for v in rows[columns["id"]]]
    bad = [v for v, i in zip(rows[columns["id"]], ids) if i is None]
    if bad:
        raise DataError(f"{source}: PCC id(s) that are neither PCC-<n> nor a number: {listed(bad)}")
    pcc = pd.DataFrame({"pcc_id": ids, "ra": pd.to_numeric(rows["_RAJ2000"], errors="coerce"),
                        "dec": pd.to_numeric(rows["_DEJ2000"], errors="coerce"),
                        "r_mag": pd.to_numeric(rows[columns["r_mag"]], errors="coerce"),
                        "pcc_class": [_pcc_class(v) for v in rows[columns["class"]]]})
    unclassified = pcc["pcc_id"][pcc["pcc_class"].isna()].tolist()
    if unclassified:
        raise DataError(f"{source}: {len(unclassified)} object(s) whose class is not one of the seven PCC classes: "
                        f"{listed(unclassified)}")
    no_position = pcc["pcc_id"][pcc["ra"].isna() | pcc["dec"].isna()].tolist()
    if no_position:
        raise DataError(f"{source}: {len(no_position)} object(s) without a position: {listed(no_position)}")
    duplicated = pcc["pcc_id"][pcc["pcc_id"].duplicated()].tolist()
    if duplicated:
        raise DataError(f"{source}: PCC id(s) listed twice: {listed(duplicated)}")
    pcc["pcc_class"] = pcc["pcc_class"].astype(int)
    return pcc


def _pcc_columns(table: VizierTable) -> dict[str, str] | None:
    """The id, r magnitude and class columns of a VizieR table, None unless it has all of them (and positions)."""
    names = list(table.rows.columns)
    if "_RAJ2000" not in names or "_DEJ2000" not in names:
        return None
    by_ucd = {ucd.lower(): name for name, ucd in reversed(list(table.ucds.items())) if name in names}
    id_column = (by_ucd.get("meta.id;meta.main") or ("PCC" if "PCC" in names else None)
                 or next((n for n in names if _is_id_column(table.rows[n])), None))
    r_column = by_ucd.get("phot.mag;em.opt.r") or ("rmag" if "rmag" in names else None)
    class_column = next((n for n in names if _is_class_column(table.rows[n])), None)
    if not (id_column and r_column and class_column):
        return None
    return {"id": id_column, "r_mag": r_column, "class": class_column}


def _is_id_column(values: pd.Series) -> bool:
    return len(values) > 0 and bool(values.str.fullmatch(r"PCC-\d+").all())


def _is_class_column(values: pd.Series) -> bool:
    present = [v for v in values if v]
    return bool(present) and all(_pcc_class(v) is not None for v in present)


def _pcc_class(text: str) -> int | None:
    """The paper's class number of a PCC class text (dE/ETG candidates carry a nucleation note after it)."""
    matches = [number for number, name in PCC_CLASSES.items() if name in text]
    return matches[0] if len(matches) == 1 else None


def _pcc_id(value: str) -> str | None:
    if re.fullmatch(r"PCC-\d+", value):
        return value
    if re.fullmatch(r"\d+", value):
        return f"PCC-{int(value):04d}"
    return None


def _objids(column: pd.Series) -> pd.Series:
    text = column.astype(str).str.strip()
    bad = text[~text.str.fullmatch(r"\d+")].tolist()
    if bad:
        raise DataError(f"SkyServer answered SDSS objID(s) that are not integers: {listed(bad)}")
    return text.reset_index(drop=True)


def jpeg_problem(data: bytes) -> str | None:
    """What is wrong with a cutout: not a JPEG at all, or cut short (no end-of-image marker); None if complete."""
    if not data.startswith(b"\xff\xd8"):
        return "not a JPEG image"
    if not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return f"truncated JPEG ({len(data)} bytes, no end-of-image marker)"
    return None


_SQL_ERROR = re.compile(r"syntax|invalid (column|object)|sqlexception|must declare|conversion failed|"
                        r"ambiguous column|error_message|query error", re.I)


def _looks_like_sql_error(body: bytes) -> bool:
    """SkyServer answers a query it cannot run with HTTP 500 and SQL Server's message: not worth retrying."""
    return bool(_SQL_ERROR.search(body[:4000].decode("utf-8", errors="replace")))


def _snippet(body: bytes, limit: int = 300) -> str:
    """A short, one-line version of an error body (an HTML page without its markup)."""
    text = body[:20000].decode("utf-8", errors="replace")
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.I | re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split()) or "an empty answer"
    return text if len(text) <= limit else text[:limit] + "..."


def _write_atomically(path: Path, body: bytes) -> None:
    part = path.with_name(path.name + ".part")
    part.write_bytes(body)
    os.replace(part, path)
