"""Specification of the Perseus study's sdss way in: its data from SDSS (SkyServer) and VizieR.

The SDSS way is tested end to end against a local HTTP server (``tests/fake_http.py``) that answers like the
real services: VizieR's ``asu-tsv`` text, SkyServer's ``#Table1`` CSV, JPEG cutouts. The recorded answers in
``tests/data/sdss/`` are hand-written in those formats (nothing here can reach the real services): a PCC of
five objects (three brighter than r = 19.4, one faint, one without a magnitude), three spectroscopic objects
within 45' and three independent ones within 90', one of them also in the 45' search.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galzoo.config import DataParams, DownloadParams, PerseusDataParams, PerseusSdssParams, SyntheticParams
from galzoo.errors import DataError
from galzoo.sources import fetch_source
from galzoo.sources.http import DownloadError
from galzoo.sources.perseus import PCC_CLASSES, read_perseus_raw, write_perseus_raw
from galzoo.sources.sdss import (SKYSERVER, VIZIER, SdssClient, fetch_perseus_sdss, jpeg_problem, parse_vizier_tsv,
                                 pcc_from_vizier)
from tests.fake_http import Answer, closed_port_url, fake_server  # noqa: F401 - fixture
from tests.sources.common import RECORDED_SDSS as RECORDED, jpeg, mean_colour

FAST = DownloadParams(retries=1, backoff_s=0.01, timeout_s=5.0)
SYNTHETIC = SyntheticParams(n_images=10, seed=1)
SQL_PATH, CUTOUT_PATH, VIZIER_PATH = ("/dr16/SkyServerWS/SearchTools/SqlSearch", "/dr16/SkyServerWS/ImgCutout/getjpeg",
                                      "/viz-bin/asu-tsv")
#: The fake SDSS photometric objects near the PCC positions: PCC-0001 and PCC-0002 have one, PCC-0004 none.
SDSS_NEAR_PCC = {(49.9, 41.5): ("1237661055281858001", 18.31, 1.92),
                 (49.95, 41.55): ("1237661055281858002", 19.12, 1.05)}
BRIGHT = {"PCC-0001": (49.9, 41.5), "PCC-0002": (49.95, 41.55), "PCC-0004": (49.88, 41.6)}


def colour(ra: float, dec: float) -> tuple[int, int, int]:
    """The fake cutout service paints each position in its own colour, so a test can tell cutouts apart."""
    digest = hashlib.md5(f"{ra:.6f},{dec:.6f}".encode()).digest()
    return digest[0], digest[1], digest[2]


class FakeSdss:
    """SkyServer's SQL search and cutout service and VizieR's asu-tsv, answering from ``tests/data/sdss``."""

    def __init__(self, server):
        self.server = server
        self.crossmatched: list[tuple[float, float]] = []
        self.sql: list[str] = []
        self.cutout_failures_after: int | None = None   # answer 503 to every cutout after this many
        self.cutouts_served = 0
        server.add(VIZIER_PATH, (RECORDED / "pcc_vizier.tsv").read_bytes())
        server.add_handler(SQL_PATH, self.answer_sql)
        server.add_handler(CUTOUT_PATH, self.answer_cutout)

    def params(self, **changes) -> PerseusSdssParams:
        return PerseusSdssParams(skyserver_url=self.server.url("/dr16/SkyServerWS"),
                                 vizier_url=self.server.url(VIZIER_PATH), request_interval_s=0.0, **changes)

    def answer_sql(self, query: dict) -> bytes | Answer:
        assert query["format"] == ["csv"]
        sql = query["cmd"][0]
        self.sql.append(sql)
        if "fGetNearestObjEq" in sql:
            lines = ["#Table1", "n,objID,ra,dec,modelMag_r,g_z,distance"]
            for n, ra, dec in re.findall(r"\((\d+),([-\d.]+),([-\d.]+)\)", sql):
                self.crossmatched.append((float(ra), float(dec)))
                if (float(ra), float(dec)) in SDSS_NEAR_PCC:
                    objid, r, gz = SDSS_NEAR_PCC[(float(ra), float(dec))]
                    lines.append(f"{n},{objid},{ra},{dec},{r},{gz},0.0002")
            return ("\n".join(lines) + "\n").encode()
        if "fGetNearbyObjEq(49.9467, 41.5131, 45)" in sql:
            return (RECORDED / "spec_45arcmin.csv").read_bytes()
        if "fGetNearbyObjEq(49.9467, 41.5131, 90)" in sql:
            return (RECORDED / "independent_90arcmin.csv").read_bytes()
        return Answer(500, b"Incorrect syntax near 'FROM'.")

    def answer_cutout(self, query: dict) -> bytes | Answer:
        if self.cutout_failures_after is not None and self.cutouts_served >= self.cutout_failures_after:
            return Answer(503, b"Service Unavailable")
        self.cutouts_served += 1
        ra, dec, size = float(query["ra"][0]), float(query["dec"][0]), int(query["width"][0])
        assert query["scale"] == ["0.1"] and query["height"] == query["width"]
        return jpeg(colour(ra, dec), size)


@pytest.fixture
def sdss(fake_server):
    return FakeSdss(fake_server)


# --- the whole fetch ----------------------------------------------------------------------------------


def test_fetch_source_sdss_mode_ends_in_the_perseus_raw_layout(sdss, tmp_path):
    data = DataParams(source="perseus", synthetic=SYNTHETIC, download_dir=str(tmp_path / "downloads"), download=FAST,
                      perseus=PerseusDataParams(mode="sdss", sdss=sdss.params()))
    out = fetch_source(data, tmp_path / "raw" / "perseus", perseus_r_max=19.4, progress=False)
    table = read_perseus_raw(out).set_index("id")

    pcc = table[table["origin"] == "pcc"]
    assert list(pcc.index) == ["PCC-0001", "PCC-0002", "PCC-0003", "PCC-0004", "PCC-0005"]
    assert pcc["pcc_class"].tolist() == [4, 1, 2, 5, 7]
    assert pcc["label"].tolist()[:3] == [1.0, 0.0, 0.0] and np.isnan(pcc.loc["PCC-0004", "label"])
    # Only the PCC objects brighter than r = 19.4 are cross-matched and get a cutout.
    assert sorted(sdss.crossmatched) == sorted(BRIGHT.values())
    assert [bool(pcc.loc[i, "image"]) for i in pcc.index] == [True, True, False, True, False]
    assert pcc.loc["PCC-0001", "objid"] == "1237661055281858001" and pcc.loc["PCC-0001", "g_z"] == 1.92
    assert pcc.loc["PCC-0004", "objid"] == "" and np.isnan(pcc.loc["PCC-0004", "g_z"])
    for pcc_id, (ra, dec) in BRIGHT.items():
        np.testing.assert_allclose(mean_colour(pcc.loc[pcc_id, "image"]), colour(ra, dec), atol=3)

    spec, independent = table[table["origin"] == "spec"], table[table["origin"] == "independent"]
    assert list(spec.index) == ["SDSS1237661059574334001", "SDSS1237661059574334002", "SDSS1237661059574334003"]
    assert spec["spec_class"].tolist() == ["GALAXY", "GALAXY", "STAR"]
    assert spec["label"].tolist() == [1.0, 0.0, 0.0]           # member when 0.01 < z < 0.033
    assert independent["label"].tolist() == [1.0, 1.0, 0.0]
    assert independent.index[0] == "SDSS1237661059574334001-indep"
    assert (spec["image"] != "").all() and (independent["image"] != "").all()
    np.testing.assert_allclose(mean_colour(independent["image"].iloc[1]), colour(49.2, 41.0), atol=3)

    # The paper's searches: p.type = 3 kept, the red-sequence cut of the 45' query left out.
    radial = [s for s in sdss.sql if "fGetNearbyObjEq" in s]
    assert len(radial) == 2 and all("p.type = 3" in s for s in radial) and not any("14.3" in s for s in radial)
    assert "TOP 1000" in radial[1] and "TOP" not in radial[0]

    record = json.loads((out / "source.json").read_text())
    assert record["mode"] == "sdss" and record["urls"]["skyserver"] == sdss.params().skyserver_url
    assert record["fetched"] == {"pcc": 5, "pcc_cross_matched": 2, "spec": 3, "independent": 3, "cutouts": 8}
    assert record["counts"]["pcc"] == {"objects": 5, "with_image": 3}
    cache = tmp_path / "downloads" / "perseus"
    assert len(list((cache / "cutouts" / "scale0.1_200px").glob("*.jpeg"))) == 8   # one shared by two tables
    assert not list(cache.rglob("*.part"))


def test_a_second_run_asks_the_services_nothing(sdss, tmp_path):
    first = fetch_perseus_sdss(sdss.params(), tmp_path / "cache", FAST, pcc_r_max=19.4, progress=False)
    before = len(sdss.server.requests)
    second = fetch_perseus_sdss(sdss.params(), tmp_path / "cache", FAST, pcc_r_max=19.4, progress=False)
    assert len(sdss.server.requests) == before
    pd.testing.assert_frame_equal(first.spec, second.spec)
    pd.testing.assert_frame_equal(first.pcc, second.pcc)


def test_without_a_bright_cut_every_pcc_object_is_matched_and_fetched(sdss, tmp_path):
    catalogues = fetch_perseus_sdss(sdss.params(), tmp_path / "cache", FAST, pcc_r_max=None, progress=False)
    assert len(sdss.crossmatched) == 5 and (catalogues.pcc["image"] != "").all()
    out = write_perseus_raw(catalogues, tmp_path / "raw", progress=False)
    assert len(list((out / "images").iterdir())) == 5 + 3 + 3


def test_an_interrupted_cutout_batch_resumes_with_only_what_is_missing(sdss, tmp_path, capsys):
    sdss.cutout_failures_after = 4
    fast = DownloadParams(retries=0, backoff_s=0.0, timeout_s=5.0)
    with pytest.raises(DownloadError, match=r"cutout at RA .*HTTP 503.*run again"):
        fetch_perseus_sdss(sdss.params(), tmp_path / "cache", fast, pcc_r_max=19.4, progress=False)
    cached = sorted((tmp_path / "cache" / "cutouts" / "scale0.1_200px").glob("*.jpeg"))
    assert len(cached) == 4
    cached[0].write_bytes(cached[0].read_bytes()[:300])            # a cutout cut short on disk

    sdss.cutout_failures_after, first_requests = None, len(sdss.server.requests)
    catalogues = fetch_perseus_sdss(sdss.params(), tmp_path / "cache", fast, pcc_r_max=19.4, progress=False)
    again = sdss.server.requests[first_requests:]
    assert [r.path for r in again] == [CUTOUT_PATH] * (8 - 4 + 1)   # the 4 missing and the truncated one
    assert "truncated JPEG" in capsys.readouterr().err
    assert all(jpeg_problem(Path(p).read_bytes()) is None for p in catalogues.spec["image"])


# --- the client: retries, Retry-After, the request interval, the cutouts ---------------------------------


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(tmp_path, params: PerseusSdssParams, download=FAST, clock=None) -> SdssClient:
    clock = clock or FakeClock()
    return SdssClient(params, download, tmp_path / "cache", clock=clock, sleep=clock.sleep)


def test_a_503_is_retried_after_the_backoff(fake_server, tmp_path):
    url = fake_server.add("/data", b"payload", statuses=[503])
    clock = FakeClock()
    body = client(tmp_path, PerseusSdssParams(request_interval_s=0.0),
                  DownloadParams(retries=2, backoff_s=1.5, timeout_s=5.0), clock).get(
        url, service=SKYSERVER, purpose="test file")
    assert body == b"payload" and len(fake_server.hits("/data")) == 2
    assert clock.sleeps == [1.5]


def test_retry_after_is_honoured_and_a_long_one_stops_the_run(fake_server, tmp_path):
    url = fake_server.add("/busy", b"ok", statuses=[429], headers={"Retry-After": "7"})
    clock = FakeClock()
    assert client(tmp_path, PerseusSdssParams(request_interval_s=0.0), clock=clock).get(
        url, service=VIZIER, purpose="test file") == b"ok"
    assert clock.sleeps == [7.0]

    url = fake_server.add("/later", b"ok", statuses=[503], headers={"Retry-After": "3600"})
    with pytest.raises(DownloadError, match=r"asks to wait 3600 s.*run again later"):
        client(tmp_path, PerseusSdssParams(request_interval_s=0.0)).get(url, service=VIZIER, purpose="test file")


def test_requests_to_one_service_are_at_least_the_interval_apart(fake_server, tmp_path):
    clock = FakeClock()
    seen: list[tuple[str, float]] = []
    sky = fake_server.add_handler("/sky", lambda query: seen.append(("sky", clock.now)) or b"s")
    viz = fake_server.add_handler("/viz", lambda query: seen.append(("viz", clock.now)) or b"v")
    polite = client(tmp_path, PerseusSdssParams(request_interval_s=2.5), clock=clock)
    for url, service in ((sky, SKYSERVER), (viz, VIZIER), (sky, SKYSERVER), (sky, SKYSERVER)):
        polite.get(url, service=service, purpose="test")
    sky_times = [t for name, t in seen if name == "sky"]
    assert np.all(np.diff(sky_times) >= 2.5) and len(sky_times) == 3
    assert seen[1] == ("viz", 100.0)            # another service is not kept waiting


@pytest.mark.parametrize("broken", [{"drop_after": 150}, {"cut": 150}], ids=["connection-drops", "jpeg-cut-short"])
def test_a_truncated_cutout_is_asked_for_again(fake_server, tmp_path, broken):
    answers = [Answer(body=jpeg(), drop_after=broken.get("drop_after")) if "drop_after" in broken
               else Answer(body=jpeg()[:broken["cut"]]), Answer(body=jpeg())]
    fake_server.add_handler("/dr16/SkyServerWS/ImgCutout/getjpeg", lambda query: answers.pop(0))
    params = PerseusSdssParams(skyserver_url=fake_server.url("/dr16/SkyServerWS"), request_interval_s=0.0)
    path = client(tmp_path, params).cutout(49.9, 41.5)
    assert path.name == "ra=49.900000_dec=41.500000.jpeg" and path.read_bytes() == jpeg()
    assert len(fake_server.hits(CUTOUT_PATH)) == 2 and not path.with_name(path.name + ".part").exists()
    assert client(tmp_path, params).cutout(49.9, 41.5) == path and len(fake_server.hits(CUTOUT_PATH)) == 2


def test_a_cutout_that_is_not_an_image_is_a_clear_error(fake_server, tmp_path):
    fake_server.add(CUTOUT_PATH, b"<html><body>Invalid parameter: scale</body></html>")
    params = PerseusSdssParams(skyserver_url=fake_server.url("/dr16/SkyServerWS"), request_interval_s=0.0)
    with pytest.raises(DownloadError, match=r"not a JPEG image: Invalid parameter: scale; check .*cutout_"):
        client(tmp_path, params).cutout(49.9, 41.5)
    assert len(fake_server.hits(CUTOUT_PATH)) == 1


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status,body", [
    (500, b"Incorrect syntax near the keyword 'FROM'."),
    (200, b"<!doctype html><html><head><title>SQL Search - SkyserverSDSS</title><script>x=1</script></head>"
          b"<body><h1>Error</h1><p>Invalid column name 'modelMag_q'.</p></body></html>"),
], ids=["http-500", "html-page"])
def test_a_skyserver_sql_error_is_a_clear_error_and_not_retried(fake_server, tmp_path, status, body):
    fake_server.add_handler(SQL_PATH, lambda query: Answer(status, body))
    params = PerseusSdssParams(skyserver_url=fake_server.url("/dr16/SkyServerWS"), request_interval_s=0.0)
    with pytest.raises(DownloadError) as caught:
        client(tmp_path, params).sql("SELECT p.objID, p.modelMag_q FROM PhotoObj AS p", purpose="test search",
                                     name="test", columns=("objID",))
    message = str(caught.value)
    assert "test search" in message and fake_server.url(SQL_PATH) in message
    assert ("Incorrect syntax" if status == 500 else "Invalid column name 'modelMag_q'") in message
    assert "SELECT" not in message and "<" not in message and "skyserver_url" in message
    saved = re.search(r"query is in (\S+\.sql)", message).group(1)
    assert Path(saved).read_text().startswith("SELECT p.objID")
    assert len(fake_server.hits(SQL_PATH)) == 1
    assert not list((tmp_path / "cache" / "sql").glob("*.csv"))    # an error is never cached as an answer


def test_an_unreachable_host_fails_fast_with_what_to_do(tmp_path):
    params = PerseusSdssParams(skyserver_url=closed_port_url("/dr16/SkyServerWS"),
                               vizier_url=closed_port_url("/viz-bin/asu-tsv"), request_interval_s=0.0)
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        fetch_perseus_sdss(params, tmp_path / "cache", FAST, pcc_r_max=19.4, progress=False)
    assert time.monotonic() - start < 2
    message = str(caught.value)
    assert "could not get the PCC (J/ApJS/245/10) from VizieR" in message and "refused" in message
    assert "data.perseus.sdss.vizier_url" in message and "data.perseus.mode: folder" in message
    assert "2 attempt(s)" in message


# --- VizieR's answer ----------------------------------------------------------------------------------


def test_the_pcc_table_is_found_by_ucd_and_its_class_texts_become_the_papers_numbers():
    tables = parse_vizier_tsv((RECORDED / "pcc_vizier.tsv").read_text())
    assert [t.name for t in tables] == ["J/ApJS/245/10/table2", "J/ApJS/245/10/table3"]
    pcc = pcc_from_vizier((RECORDED / "pcc_vizier.tsv").read_text(), source="recorded")
    assert pcc["pcc_id"].tolist() == ["PCC-0001", "PCC-0002", "PCC-0003", "PCC-0004", "PCC-0005"]
    assert pcc["r_mag"].tolist()[:4] == [18.2, 19.0, 20.5, 19.3] and np.isnan(pcc["r_mag"].iloc[4])   # not Vmag
    assert pcc["pcc_class"].tolist() == [4, 1, 2, 5, 7]
    assert pcc[["ra", "dec"]].iloc[0].tolist() == [49.9, 41.5]
    assert sorted(PCC_CLASSES) == list(range(1, 8))


def test_a_vizier_answer_without_the_pcc_says_what_it_found():
    text = (RECORDED / "pcc_vizier.tsv").read_text().replace("Likely merging system", "Some new class")
    with pytest.raises(DataError, match=r"no table with the PCC's .* found J/ApJS/245/10/table2: \['_RAJ2000'"):
        pcc_from_vizier(text, source="VizieR's answer")
    error = "#INFO\tqueryParameters\n#***** Error: J/ApJS/245/99 catalogue not found\n"
    with pytest.raises(DataError, match=r"no table.*VizieR says: Error: J/ApJS/245/99 catalogue not found.*"
                                        r"pcc_catalogue"):
        pcc_from_vizier(error, source="VizieR's answer")
