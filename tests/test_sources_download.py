"""Specification of the shared download machinery: resumable verified downloads and safe archive extraction."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zipfile
from pathlib import Path, PurePosixPath

import pytest
import yaml

from galzoo.config import DataParams, DownloadParams, _build
from galzoo.errors import ConfigError, DataError
from galzoo.sources.archive import extract_archive, staged_directory
from galzoo.sources.download import ChecksumError, DownloadError, Remote, download
from tests.conftest import REPO_ROOT
from tests.fake_http import closed_port_url, fake_server  # noqa: F401 - fixture

FAST = DownloadParams(retries=1, backoff_s=0.01, timeout_s=5.0)
BODY = os.urandom(300_000)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- downloads --------------------------------------------------------------------------------------


def test_download_verifies_md5_and_keeps_only_the_final_file(fake_server, tmp_path):
    url = fake_server.add("/data/archive.zip", BODY)
    path = download(Remote(url, "archive.zip", size=len(BODY), md5=md5(BODY)), tmp_path, FAST, progress=False)
    assert path == tmp_path / "archive.zip" and path.read_bytes() == BODY
    assert _leftovers(tmp_path) == ["archive.zip"]


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
    assert _leftovers(tmp_path) == []


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
    assert _leftovers(tmp_path) == []


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


# --- archives ---------------------------------------------------------------------------------------


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info in members:
            payload = (data or {}).get(info.name)
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, kind: bytes, target: str = "/etc/passwd") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_zip_and_tar_extract_into_place_with_selected_and_renamed_members(tmp_path):
    entries = {"imgs/1.jpg": b"one", "imgs/2.jpg": b"two", "README.txt": b"read me"}
    zipped = make_zip(tmp_path / "a.zip", entries)
    tarred = make_tar(tmp_path / "a.tar.gz", [_file(n) for n in entries], entries)
    for archive in (zipped, tarred):
        target = tmp_path / f"out_{archive.name}"
        extract_archive(archive, target, lambda p: p.name if p.suffix == ".jpg" else None, progress=False)
        assert sorted(p.name for p in target.iterdir()) == ["1.jpg", "2.jpg"]
        assert (target / "2.jpg").read_bytes() == b"two"


@pytest.mark.parametrize("name", ["../evil", "imgs/../../evil", "/tmp/evil", "..\\evil", "C:/evil"])
def test_a_zip_entry_pointing_outside_the_target_rejects_the_whole_archive(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", {"ok.jpg": b"fine", name: b"pwned"})
    target = tmp_path / "work" / "out"
    with pytest.raises(DataError, match="unsafe entry.*Nothing was extracted"):
        extract_archive(archive, target, progress=False)
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()
    assert _leftovers(tmp_path / "work") == []


def test_a_zip_symlink_entry_rejects_the_archive(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.jpg", b"fine")
        link = zipfile.ZipInfo("images/evil.jpg")
        link.create_system = 3
        link.external_attr = (0o120777 << 16)  # S_IFLNK
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert _leftovers(tmp_path) == ["link.zip"]


@pytest.mark.parametrize("member, why", [
    (_link("images/evil.jpg", tarfile.SYMTYPE), "symbolic link"),
    (_link("images/evil.jpg", tarfile.LNKTYPE, "ok.jpg"), "hard link"),
    (_link("dev/null", tarfile.CHRTYPE, ""), "device"),
    (_file("../evil"), r"'\.\.' component"),
    (_file("/abs/evil"), "absolute path"),
])
def test_a_tar_with_links_devices_or_escaping_paths_is_rejected(tmp_path, member, why):
    archive = make_tar(tmp_path / "bad.tar.gz", [_file("ok.jpg"), member], {"ok.jpg": b"fine", "../evil": b"x",
                                                                               "/abs/evil": b"x"})
    with pytest.raises(DataError, match=why):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert _leftovers(tmp_path) == ["bad.tar.gz"]


def test_a_truncated_archive_is_a_clear_error_and_writes_nothing(tmp_path):
    whole = make_zip(tmp_path / "whole.zip", {f"{i}.jpg": os.urandom(20_000) for i in range(5)}).read_bytes()
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cut.zip.*(corrupt|not a zip)"):
        extract_archive(truncated, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_member_with_bad_data_leaves_neither_target_nor_staging(tmp_path):
    archive = make_zip(tmp_path / "crc.zip", {"a.jpg": b"A" * 5000, "b.jpg": b"B" * 5000})
    data = bytearray(archive.read_bytes())
    data[data.index(b"B" * 100)] = ord("C")  # stored, not deflated: flips one byte of b.jpg, its CRC no longer fits
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert _leftovers(tmp_path) == ["crc.zip"]


def test_extraction_replaces_an_existing_target_only_when_complete(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.jpg").write_bytes(b"old")
    bad = make_zip(tmp_path / "bad.zip", {"new.jpg": b"new", "../evil": b"x"})
    with pytest.raises(DataError):
        extract_archive(bad, target, progress=False)
    assert _leftovers(target) == ["old.jpg"]
    extract_archive(make_zip(tmp_path / "good.zip", {"new.jpg": b"new"}), target, progress=False)
    assert _leftovers(target) == ["new.jpg"]


def test_staged_directory_removes_staging_of_a_failed_run_and_keeps_no_partial_target(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_directory(tmp_path / "raw") as staging:
            (staging / "labels.csv").write_text("half")
            raise RuntimeError("killed")
    assert _leftovers(tmp_path) == []


def test_two_entries_with_the_same_destination_are_an_error(tmp_path):
    archive = make_zip(tmp_path / "dup.zip", {"a/1.jpg": b"1", "b/1.jpg": b"2"})
    with pytest.raises(DataError, match="both be extracted to 1.jpg"):
        extract_archive(archive, tmp_path / "out", lambda p: PurePosixPath(p.name), progress=False)


# --- params -----------------------------------------------------------------------------------------


def _data_section() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["data"]


def test_params_yaml_defaults_keep_the_synthetic_source_and_match_the_dataclass_defaults():
    data = _build(DataParams, _data_section(), "data")
    assert data.source == "synthetic"
    assert data == DataParams(source="synthetic", synthetic=data.synthetic)


@pytest.mark.parametrize("change, key", [
    ({"download": {"retries": -1}}, "data.download.retries"),
    ({"gz2": {"images_md5": "not-a-digest"}}, "data.gz2.images_md5"),
    ({"gz2": {"fractions": "weighted"}}, "data.gz2.fractions"),
    ({"source": "folder"}, "data.folder.path"),
    ({"kaggle": {"typo": 1}}, "data.kaggle.typo"),
])
def test_bad_data_params_are_errors_naming_the_key(change, key):
    section = _data_section()
    for name, value in change.items():
        section[name] = {**section[name], **value} if isinstance(value, dict) else value
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _build(DataParams, section, "data")
