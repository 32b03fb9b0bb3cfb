"""Specification of the resumable, verified downloader, against a local fake server (never the internet)."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from galzoo.config import DownloadParams
from galzoo.sources.download import ChecksumError, DownloadError, Remote, download
from tests.fake_http import closed_port_url, fake_server  # noqa: F401 - fixture
from tests.sources.common import leftovers

FAST = DownloadParams(retries=1, backoff_s=0.01, timeout_s=5.0)
BODY = os.urandom(300_000)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_verifies_md5_and_keeps_only_the_final_file(fake_server, tmp_path):
    url = fake_server.add("/data/archive.zip", BODY)
    path = download(Remote(url, "archive.zip", size=len(BODY), md5=md5(BODY)), tmp_path, FAST, progress=False)
    assert path == tmp_path / "archive.zip" and path.read_bytes() == BODY
    assert leftovers(tmp_path) == ["archive.zip"]


def test_interrupted_transfer_resumes_with_a_range_request_and_is_byte_identical(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY, drop_after=100_000, drops=2)
    path = download(Remote(url, "big.zip", md5=md5(BODY)), tmp_path, FAST, progress=False)
    assert path.read_bytes() == BODY
    assert [r.range for r in fake_server.hits("/big.zip")] == [None, "bytes=100000-", "bytes=200000-"]


def test_a_part_file_left_by_a_killed_run_is_resumed_not_restarted(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY)
    (tmp_path / "big.zip.part").write_bytes(BODY[:123_456])
    path = download(Remote(url, "big.zip", sha256=hashlib.sha256(BODY).hexdigest()), tmp_path, FAST, progress=False)
    assert path.read_bytes() == BODY
    assert [r.range for r in fake_server.hits("/big.zip")] == ["bytes=123456-"]


def test_a_server_that_ignores_range_restarts_the_file_from_the_beginning(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY, ignore_range=True, drop_after=50_000, drops=1)
    path = download(Remote(url, "big.zip", md5=md5(BODY)), tmp_path, FAST, progress=False)
    assert path.read_bytes() == BODY
    assert [r.range for r in fake_server.hits("/big.zip")] == [None, "bytes=50000-"]


def test_a_complete_part_file_is_finished_when_the_server_answers_416(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY)
    (tmp_path / "big.zip.part").write_bytes(BODY)
    assert download(Remote(url, "big.zip", md5=md5(BODY)), tmp_path, FAST, progress=False).read_bytes() == BODY


def test_a_cached_file_is_reused_without_contacting_the_server(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY)
    (tmp_path / "big.zip").write_bytes(BODY)
    download(Remote(url, "big.zip", md5=md5(BODY)), tmp_path, FAST, progress=False)
    assert fake_server.requests == []


def test_a_cached_file_with_the_wrong_checksum_is_downloaded_again(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY)
    (tmp_path / "big.zip").write_bytes(b"stale")
    assert download(Remote(url, "big.zip", md5=md5(BODY)), tmp_path, FAST, progress=False).read_bytes() == BODY


def test_a_bad_checksum_deletes_the_file_and_names_file_expected_and_actual_digest(fake_server, tmp_path):
    corrupted = BODY[:1000] + b"X" + BODY[1001:]
    url = fake_server.add("/big.zip", corrupted)
    remote = Remote(url, "big.zip", md5=md5(BODY), key="data.gz2.images_url")
    with pytest.raises(ChecksumError) as error:
        download(remote, tmp_path, FAST, progress=False)
    message = str(error.value)
    assert "big.zip" in message and md5(BODY) in message and md5(corrupted) in message
    assert "run again" in message and "data.gz2.images_md5" in message
    assert leftovers(tmp_path) == []


def test_a_size_other_than_the_published_one_is_refused_before_downloading(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY)
    with pytest.raises(DownloadError, match=f"offers {len(BODY)} bytes but 10 are expected"):
        download(Remote(url, "big.zip", size=10), tmp_path, FAST, progress=False)


def test_an_unreachable_host_fails_fast_naming_the_url_and_what_to_do(tmp_path):
    url = closed_port_url("/images_gz2.zip")
    started = time.monotonic()
    with pytest.raises(DownloadError) as error:
        download(Remote(url, "images_gz2.zip", key="data.gz2.images_url"), tmp_path, FAST, progress=False)
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert url in message and "refused" in message and "run again" in message and "data.gz2.images_url" in message
    assert leftovers(tmp_path) == []


def test_a_transfer_that_keeps_breaking_without_progress_gives_up_and_keeps_the_part_file(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY, drop_after=0, drops=100)
    (tmp_path / "big.zip.part").write_bytes(BODY[:1000])
    with pytest.raises(DownloadError, match="1000 bytes received so far are kept in .*big.zip.part"):
        download(Remote(url, "big.zip"), tmp_path, FAST, progress=False)
    assert [r.range for r in fake_server.hits("/big.zip")] == ["bytes=1000-"] * (FAST.retries + 1)
    assert (tmp_path / "big.zip.part").read_bytes() == BODY[:1000]


def test_a_server_that_restarts_and_breaks_off_at_the_same_place_runs_out_of_retries(fake_server, tmp_path):
    url = fake_server.add("/big.zip", BODY, ignore_range=True, drop_after=50_000, drops=100)
    with pytest.raises(DownloadError, match="closed after 50000 of 300000 bytes"):
        download(Remote(url, "big.zip"), tmp_path, FAST, progress=False)
    assert len(fake_server.hits("/big.zip")) == FAST.retries + 2  # one that got further, then the retries


def test_a_url_that_is_not_http_says_where_a_local_copy_goes(tmp_path):
    with pytest.raises(DownloadError, match=f"data.gz2.images_url.*put it at {tmp_path / 'images_gz2.zip'}"):
        download(Remote("/home/me/images_gz2.zip", "images_gz2.zip", key="data.gz2.images_url"), tmp_path, FAST)


def test_a_missing_file_is_an_error_without_retries(fake_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404.*data.gz2.labels_url"):
        download(Remote(fake_server.url("/nothing.csv.gz"), "x.csv.gz", key="data.gz2.labels_url"), tmp_path, FAST,
                 progress=False)
    assert len(fake_server.hits("/nothing.csv.gz")) == 1


def test_server_errors_are_retried(fake_server, tmp_path):
    fake_server.add("/flaky.zip", status=503)
    with pytest.raises(DownloadError, match="HTTP 503"):
        download(Remote(fake_server.url("/flaky.zip"), "flaky.zip"), tmp_path, FAST, progress=False)
    assert len(fake_server.hits("/flaky.zip")) == FAST.retries + 1


def test_a_retry_after_is_waited_for_and_one_too_long_stops_the_download(fake_server, tmp_path):
    url = fake_server.add("/busy.zip", BODY, statuses=[503], headers={"Retry-After": "0.3"})
    started = time.monotonic()
    assert download(Remote(url, "busy.zip", md5=md5(BODY)), tmp_path, FAST, progress=False).read_bytes() == BODY
    assert time.monotonic() - started >= 0.3 and len(fake_server.hits("/busy.zip")) == 2

    url = fake_server.add("/later.zip", status=503, headers={"Retry-After": "3600"})
    with pytest.raises(DownloadError, match=f"could not download {url}: .*wait 3600 s.*run again later"):
        download(Remote(url, "later.zip"), tmp_path, FAST, progress=False)
    assert len(fake_server.hits("/later.zip")) == 1
