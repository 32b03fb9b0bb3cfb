"""Specification of what an archive may not do besides escaping its folder: expand without bound (zip bombs),
fill the disk, lie about its sizes, or hold a file where another entry needs a folder; and what it may do:
start its names with ``./`` as ``tar -C dir -czf x.tar.gz .`` writes them."""
from __future__ import annotations

import errno
import io
import os
import random
import shutil
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from galzoo.errors import ConfigError, DataError
from galzoo.sources import archive as archive_module
from galzoo.sources.archive import DEFAULT_MAX_EXTRACT_RATIO, extract_archive, read_member
from tests.sources.common import leftovers
from tests.sources.test_archive import make_tar, make_zip


@pytest.fixture(autouse=True)
def _no_limits_from_the_environment(monkeypatch):
    monkeypatch.delenv("GALZOO_MAX_EXTRACT_BYTES", raising=False)
    monkeypatch.delenv("GALZOO_MAX_EXTRACT_RATIO", raising=False)


def deflated_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def tar_of(path: Path, entries: dict[str, bytes]) -> Path:
    return make_tar(path, [tarfile.TarInfo(name) for name in entries], entries)


def declare_size(archive: Path, size: int) -> None:
    """Rewrite the uncompressed size the (single) central directory entry declares: a header that lies."""
    data = bytearray(archive.read_bytes())
    at = data.index(b"PK\x01\x02") + 24
    data[at:at + 4] = struct.pack("<I", size)
    archive.write_bytes(bytes(data))


BUILDERS = {"zip": deflated_zip, "tar.gz": tar_of}


# --- zip bombs: the total and the ratio ------------------------------------------------------------------

@pytest.mark.parametrize("kind", BUILDERS)
def test_an_archive_declaring_more_than_max_bytes_is_refused_before_writing(tmp_path, kind):
    archive = BUILDERS[kind](tmp_path / f"bomb.{kind}", {"a.jpg": bytes(3000), "b.jpg": bytes(2000)})
    with pytest.raises(DataError, match=rf"bomb\.{kind}: its entries declare 4\.9 KiB \(5,000 bytes\) to extract, "
                                        r"more than the limit of 1,000 bytes\. Nothing was extracted.*"
                                        r"GALZOO_MAX_EXTRACT_BYTES"):
        extract_archive(archive, tmp_path / "work" / "out", max_bytes=1000, progress=False)
    assert leftovers(tmp_path / "work") == []


@pytest.mark.parametrize("kind", BUILDERS)
def test_the_default_ratio_limit_refuses_a_few_megabytes_of_zeros(tmp_path, kind):
    archive = BUILDERS[kind](tmp_path / f"bomb.{kind}", {"zeros.jpg": bytes(4 << 20)})
    assert (4 << 20) / archive.stat().st_size > 5 * DEFAULT_MAX_EXTRACT_RATIO  # about 1000:1, deflate's most
    with pytest.raises(DataError, match=rf"bomb\.{kind}: its entries declare 4\.0 MiB .* a compression ratio of "
                                        r"\d+:1, above the limit of 100:1\. Nothing was extracted.*zip bomb.*"
                                        r"GALZOO_MAX_EXTRACT_RATIO"):
        extract_archive(archive, tmp_path / "work" / "out", progress=False)
    assert leftovers(tmp_path / "work") == []


def test_a_refused_archive_leaves_an_existing_target_as_it_was(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.jpg").write_bytes(b"old")
    with pytest.raises(DataError, match="compression ratio"):
        extract_archive(deflated_zip(tmp_path / "bomb.zip", {"new.jpg": bytes(4 << 20)}), target, progress=False)
    assert leftovers(tmp_path) == ["bomb.zip", "out"] and leftovers(target) == ["old.jpg"]


def test_real_data_passes_the_default_limits(tmp_path):
    rng = random.Random(0)
    table = "".join(f"{100000 + i}," + ",".join(f"{rng.random():.6f}" for _ in range(37)) + "\n"
                    for i in range(1500)).encode()  # like training_solutions_rev1.csv: compresses about 2:1
    images = {f"{i}.jpg": os.urandom(50_000) for i in range(30)}  # JPEGs do not compress
    archive = deflated_zip(tmp_path / "real.zip", {"solutions.csv": table, **images})
    written = extract_archive(archive, tmp_path / "out", progress=False)
    assert len(written) == 31 and (tmp_path / "out" / "solutions.csv").read_bytes() == table
    assert read_member(archive, "solutions.csv") == table


def test_the_ratio_is_not_held_against_archives_of_a_megabyte_or_less(tmp_path):
    archive = deflated_zip(tmp_path / "small.zip", {"mask.bin": bytes(1 << 20)})  # 1000:1, but only 1 MiB
    extract_archive(archive, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "mask.bin").stat().st_size == 1 << 20


def test_a_header_declaring_gigabytes_is_refused_without_reading_the_data(tmp_path, monkeypatch):
    archive = deflated_zip(tmp_path / "liar.zip", {"a.jpg": b"tiny"})
    declare_size(archive, 0xFFFF_FFF0)  # ~4 GiB from a ~120-byte file
    with pytest.raises(DataError, match=r"liar\.zip: its entries declare 4\.0 GiB \(4,294,967,280 bytes\) from "
                                        r"\d+ bytes of archive.*above the limit of 100:1"):
        extract_archive(archive, tmp_path / "out", progress=False)
    monkeypatch.setenv("GALZOO_MAX_EXTRACT_BYTES", "1G")
    with pytest.raises(DataError, match=r"4\.0 GiB .* more than the limit of 1\.0 GiB \(1,073,741,824 bytes\)"):
        extract_archive(archive, tmp_path / "out", progress=False)
    with pytest.raises(DataError, match=r"more than the limit of 1\.0 GiB"):
        read_member(archive, "a.jpg")
    assert leftovers(tmp_path) == ["liar.zip"]


# --- headers that lie ---------------------------------------------------------------------------------------

def test_a_header_understating_the_size_is_caught_while_reading(tmp_path):
    archive = deflated_zip(tmp_path / "liar.zip", {"a.jpg": bytes(1 << 20)})
    declare_size(archive, 10)  # passes every check made on the headers; the data is 1 MiB
    with pytest.raises(DataError, match=r"liar\.zip: corrupt or truncated archive \(entry 'a\.jpg'\)"):
        extract_archive(archive, tmp_path / "work" / "out", max_bytes=100, progress=False)
    assert leftovers(tmp_path / "work") == []


def test_an_entry_yielding_more_than_declared_stops_the_extraction(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "liar.zip", {"a.jpg": b"abc", "b.jpg": b"def"})
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: io.BytesIO(bytes(3 << 20)))
    with pytest.raises(DataError, match=r"liar\.zip: entry 'a\.jpg' holds more than the 3 bytes its header "
                                        r"declares\. Nothing was extracted"):
        extract_archive(archive, tmp_path / "work" / "out", progress=False)
    assert leftovers(tmp_path / "work") == []
    with pytest.raises(DataError, match="holds more than the 3 bytes"):
        read_member(archive, "b.jpg")


# --- overriding the limits ----------------------------------------------------------------------------------

def test_the_environment_raises_the_limits_and_arguments_win_over_it(tmp_path, monkeypatch):
    archive = deflated_zip(tmp_path / "zeros.zip", {"zeros.jpg": bytes(2 << 20)})
    monkeypatch.setenv("GALZOO_MAX_EXTRACT_RATIO", "100000")
    extract_archive(archive, tmp_path / "out", progress=False)
    assert (tmp_path / "out" / "zeros.jpg").stat().st_size == 2 << 20
    with pytest.raises(DataError, match="above the limit of 50:1"):
        extract_archive(archive, tmp_path / "out2", max_ratio=50, progress=False)
    monkeypatch.setenv("GALZOO_MAX_EXTRACT_BYTES", "1M")
    with pytest.raises(DataError, match=r"more than the limit of 1\.0 MiB"):
        extract_archive(archive, tmp_path / "out3", progress=False)
    extract_archive(archive, tmp_path / "out4", max_bytes=3 << 20, progress=False)
    assert leftovers(tmp_path) == ["out", "out4", "zeros.zip"]


@pytest.mark.parametrize("variable, value", [("GALZOO_MAX_EXTRACT_BYTES", "lots"), ("GALZOO_MAX_EXTRACT_BYTES", "0"),
                                             ("GALZOO_MAX_EXTRACT_BYTES", "-5G"), ("GALZOO_MAX_EXTRACT_RATIO", "x"),
                                             ("GALZOO_MAX_EXTRACT_RATIO", "0"), ("GALZOO_MAX_EXTRACT_RATIO", "nan")])
def test_a_malformed_limit_in_the_environment_is_a_config_error_naming_it(tmp_path, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"{variable}='{value}': expected a"):
        extract_archive(make_zip(tmp_path / "a.zip", {"a.jpg": b"a"}), tmp_path / "out", progress=False)
    assert leftovers(tmp_path) == ["a.zip"]


# --- disk space ---------------------------------------------------------------------------------------------

def test_too_little_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "a.zip", {"a.jpg": bytes(3000)})
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.jpg").write_bytes(b"old")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(DataError, match=rf"a\.zip: extracting it needs 2\.9 KiB \(3,000 bytes\) but {tmp_path} has "
                                        r"only 1,000 bytes free\. Nothing was extracted"):
        extract_archive(archive, target, progress=False)
    assert leftovers(tmp_path) == ["a.zip", "out"] and leftovers(target) == ["old.jpg"]


def test_a_disk_filling_up_while_writing_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive_module, "_copy", full)
    with pytest.raises(DataError, match=r"a\.zip: the disk filled up while extracting entry 'a\.jpg'.*No space left"):
        extract_archive(make_zip(tmp_path / "a.zip", {"a.jpg": b"a"}), tmp_path / "out", progress=False)
    assert leftovers(tmp_path) == ["a.zip"]


# --- a file where a folder is needed ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("order", [["a", "a/b.jpg"], ["a/b.jpg", "a"]])
def test_a_file_and_a_folder_of_the_same_name_are_a_clear_error(tmp_path, kind, order):
    entries = {name: b"x" for name in order}
    archive = (make_zip if kind == "zip" else tar_of)(tmp_path / f"clash.{kind}", entries)
    with pytest.raises(DataError, match=rf"clash\.{kind}: entry 'a' is a file but entry 'a/b\.jpg' needs a folder of "
                                        r"that name \(a\).*Nothing was extracted"):
        extract_archive(archive, tmp_path / "work" / "out", progress=False)
    assert leftovers(tmp_path / "work") == []


# --- names starting with ./ ---------------------------------------------------------------------------------

def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "made"
    (folder / "sub").mkdir(parents=True)
    (folder / "x.jpg").write_bytes(b"x")
    (folder / "sub" / "y.jpg").write_bytes(b"y")
    return folder


def _extracted(target: Path) -> dict[str, bytes]:
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}


def test_a_tar_of_dot_extracts_its_files(tmp_path):
    archive = tmp_path / "dot.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(_folder(tmp_path), arcname=".")
    with tarfile.open(archive) as tf:
        assert {".", "./x.jpg", "./sub/y.jpg"} <= set(tf.getnames())
    written = extract_archive(archive, tmp_path / "out", progress=False)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["sub/y.jpg", "x.jpg"]
    assert _extracted(tmp_path / "out") == {"x.jpg": b"x", "sub/y.jpg": b"y"}


@pytest.mark.skipif(shutil.which("tar") is None, reason="needs the tar command")
def test_an_archive_made_by_tar_c_dir_dot_is_accepted(tmp_path):
    archive = tmp_path / "x.tar.gz"
    subprocess.run(["tar", "-C", str(_folder(tmp_path)), "-czf", str(archive), "."], check=True)
    extract_archive(archive, tmp_path / "out", progress=False)
    assert _extracted(tmp_path / "out") == {"x.jpg": b"x", "sub/y.jpg": b"y"}


def test_a_zip_with_dot_slash_names_is_accepted(tmp_path):
    archive = make_zip(tmp_path / "dot.zip", {"./": b"", "./x.jpg": b"x", "./sub/./y.jpg": b"y"})
    extract_archive(archive, tmp_path / "out", progress=False)
    assert _extracted(tmp_path / "out") == {"x.jpg": b"x", "sub/y.jpg": b"y"}


@pytest.mark.parametrize("name", [".", "./", "./."])
def test_a_regular_file_named_dot_is_still_refused(tmp_path, name):
    archive = tmp_path / "dotfile.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo(name)
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DataError, match="unsafe entry.*an empty path"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert leftovers(tmp_path) == ["dotfile.tar.gz"]


@pytest.mark.parametrize("name", ["./../evil", "./a/../../evil", "/./evil"])
def test_dot_slash_does_not_open_a_way_out(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", {"./ok.jpg": b"fine", name: b"pwned"})
    with pytest.raises(DataError, match="unsafe entry"):
        extract_archive(archive, tmp_path / "work" / "out", progress=False)
    assert leftovers(tmp_path / "work") == [] and not (tmp_path / "evil").exists()
