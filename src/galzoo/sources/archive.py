"""Safe extraction of downloaded archives (zip, tar, tar.gz) and all-or-nothing output folders.

Archives come from the internet, so an entry is never trusted to say where it goes: absolute paths,
``..`` components, symbolic and hard links, devices and other special files are refused before a single
byte is written (Python's ``extractall`` follows such entries wherever they point). Extraction writes into
a staging folder beside the target and renames it into place only when every entry was written: a later
stage must never find, and trust, a half-extracted dataset.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterator

from galzoo.errors import DataError
from galzoo.progress import progress_bar

#: Where a member goes, relative to the target, or None to leave it out.
Selector = Callable[[PurePosixPath], "PurePosixPath | str | None"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, EOFError)


@contextlib.contextmanager
def staged_directory(target: Path | str) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; on success it replaces ``target`` in one rename.

    On any exception the staging folder is removed and ``target`` is left as it was, so a folder at
    ``target`` is always a complete one. Staging folders of earlier runs that were killed are removed first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.staging"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        yield staging
        if target.exists() or target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@dataclass(frozen=True)
class _Member:
    name: str                    # as written in the archive, for messages
    path: PurePosixPath          # validated relative path
    is_dir: bool
    open: Callable[[], IO[bytes]]


def extract_archive(archive: Path | str, target: Path | str, select: Selector | None = None,
                    *, progress: bool = True) -> list[Path]:
    """Extract the regular files of a zip or tar archive into ``target`` (created or replaced atomically).

    ``select`` maps each file's validated relative path to where it goes under ``target`` (None leaves it
    out); by default every file keeps its path. Every entry, selected or not, is checked first: one unsafe
    entry rejects the whole archive. Returns the written files.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    with _open_members(archive) as members:
        plan = _plan(archive, members, select)
        with staged_directory(target) as staging:
            root = staging.resolve()
            written = []
            bar = progress_bar(plan, total=len(plan), desc=f"extract {archive.name}", unit="file",
                               enabled=progress)
            for member, destination in bar:
                out = staging / destination
                if not out.resolve().is_relative_to(root):  # belt and braces: _safe_path already refused it
                    raise DataError(f"{archive}: entry {member.name!r} would be written outside {target}")
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with member.open() as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
                except _CORRUPT as exc:
                    raise _corrupt(archive, exc, member.name) from None
                written.append(target / destination)
    return written


def archive_names(archive: Path | str) -> list[PurePosixPath]:
    """The validated relative paths of the regular files in an archive (raises on any unsafe entry)."""
    archive = Path(archive)
    with _open_members(archive) as members:
        return [m.path for m in members if not m.is_dir]


def read_member(archive: Path | str, path: PurePosixPath | str) -> bytes:
    """The content of one regular file of an archive (a small table), after the same safety checks."""
    archive, path = Path(archive), PurePosixPath(path)
    with _open_members(archive) as members:
        for member in members:
            if member.path == path and not member.is_dir:
                try:
                    with member.open() as stream:
                        return stream.read()
                except _CORRUPT as exc:
                    raise _corrupt(archive, exc, member.name) from None
    raise DataError(f"{archive}: no entry {str(path)!r} in the archive")


def _plan(archive: Path, members: list[_Member], select: Selector | None) -> list[tuple[_Member, PurePosixPath]]:
    plan, seen = [], {}
    for member in members:
        if member.is_dir:
            continue
        chosen = member.path if select is None else select(member.path)
        if chosen is None:
            continue
        destination = _safe_path(str(chosen), archive, f"destination of {member.name!r}")
        if destination in seen:
            raise DataError(f"{archive}: entries {seen[destination]!r} and {member.name!r} would both be "
                            f"extracted to {destination}; the archive is not in the expected layout")
        seen[destination] = member.name
        plan.append((member, destination))
    return plan


@contextlib.contextmanager
def _open_members(archive: Path) -> Iterator[list[_Member]]:
    """Open the archive and list its entries, refusing any unsafe one before anything is extracted."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                yield [_zip_member(archive, zf, info) for info in zf.infolist()]
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                yield [_tar_member(archive, tf, info) for info in tf.getmembers()]
        else:
            raise DataError(f"{archive}: not a zip or tar archive (an interrupted or failed download?); "
                            f"delete it and run again to download it afresh")
    except _CORRUPT as exc:
        raise _corrupt(archive, exc) from None


def _zip_member(archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # Unix attributes with a file type (else: a plain file)
        if stat.S_ISLNK(mode):
            _refuse(archive, info.filename, "a symbolic link")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            _refuse(archive, info.filename, "a device or other special file")
    path = _safe_path(info.filename, archive)
    return _Member(info.filename, path, info.is_dir(), lambda: zf.open(info))


def _tar_member(archive: Path, tf: tarfile.TarFile, info: tarfile.TarInfo) -> _Member:
    if info.issym():
        _refuse(archive, info.name, "a symbolic link")
    if info.islnk():
        _refuse(archive, info.name, "a hard link")
    if not (info.isreg() or info.isdir()):
        _refuse(archive, info.name, "a device or other special file")
    path = _safe_path(info.name, archive)

    def opener() -> IO[bytes]:
        stream = tf.extractfile(info)
        if stream is None:  # pragma: no cover - only regular files reach here
            raise DataError(f"{archive}: entry {info.name!r} has no data")
        return stream

    return _Member(info.name, path, info.isdir(), opener)


def _safe_path(name: str, archive: Path, what: str = "entry") -> PurePosixPath:
    """A relative path with no way out of the target: no absolute path, drive, ``..`` or NUL."""
    if "\x00" in name:
        _refuse(archive, name, "a name with a NUL character", what)
    normalized = name.replace("\\", "/")  # archives made on Windows may use backslashes
    path = PurePosixPath(normalized)
    if path.is_absolute() or _DRIVE.match(normalized):
        _refuse(archive, name, "an absolute path", what)
    if ".." in path.parts:
        _refuse(archive, name, "a path with a '..' component", what)
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        _refuse(archive, name, "an empty path", what)
    return PurePosixPath(*parts)


def _refuse(archive: Path, name: str, why: str, what: str = "entry") -> None:
    raise DataError(f"{archive}: unsafe {what} {name!r}: {why}. Nothing was extracted: the archive may be "
                    f"malicious or not the published file; delete it and download it again from the source")


def _corrupt(archive: Path, exc: BaseException, member: str | None = None) -> DataError:
    where = f" (entry {member!r})" if member else ""
    return DataError(f"{archive}: corrupt or truncated archive{where}: {exc}. Nothing was extracted; delete "
                     f"the file and run again to download it afresh")
