"""Specification of safe archive extraction: zip and tar members into place, or nothing at all."""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from galzoo.errors import DataError
from galzoo.sources.archive import extract_archive, staged_directory
from tests.sources.common import leftovers


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
    assert leftovers(tmp_path / "work") == []


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
    assert leftovers(tmp_path) == ["link.zip"]


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
    assert leftovers(tmp_path) == ["bad.tar.gz"]


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
    assert leftovers(tmp_path) == ["crc.zip"]


def test_extraction_replaces_an_existing_target_only_when_complete(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.jpg").write_bytes(b"old")
    bad = make_zip(tmp_path / "bad.zip", {"new.jpg": b"new", "../evil": b"x"})
    with pytest.raises(DataError):
        extract_archive(bad, target, progress=False)
    assert leftovers(target) == ["old.jpg"]
    extract_archive(make_zip(tmp_path / "good.zip", {"new.jpg": b"new"}), target, progress=False)
    assert leftovers(target) == ["new.jpg"]


def test_staged_directory_removes_staging_of_a_failed_run_and_keeps_no_partial_target(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_directory(tmp_path / "raw") as staging:
            (staging / "labels.csv").write_text("half")
            raise RuntimeError("killed")
    assert leftovers(tmp_path) == []


def test_two_entries_with_the_same_destination_are_an_error(tmp_path):
    archive = make_zip(tmp_path / "dup.zip", {"a/1.jpg": b"1", "b/1.jpg": b"2"})
    with pytest.raises(DataError, match="both be extracted to 1.jpg"):
        extract_archive(archive, tmp_path / "out", lambda p: PurePosixPath(p.name), progress=False)


def test_a_staged_folder_is_published_with_the_umask_s_mode_not_mkdtemp_s_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        with staged_directory(tmp_path / "out") as staging:
            (staging / "x.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
