"""Safe extraction of downloaded archives (zip, tar, tar.gz) and all-or-nothing output folders.

Archives come from the internet, so an entry is never trusted to say where it goes: absolute paths,
``..`` components, symbolic and hard links, devices and other special files are refused before a single
byte is written (Python's ``extractall`` follows such entries wherever they point). Extraction writes into
a staging folder beside the target and renames it into place only when every entry was written: a later
stage must never find, and trust, a half-extracted dataset.

Nor is an archive trusted to say how much it holds: a "zip bomb" of a few megabytes can expand to terabytes.
Before anything is written, the sizes the entries declare are checked against a limit on the bytes written
(:data:`DEFAULT_MAX_EXTRACT_BYTES`, or ``GALZOO_MAX_EXTRACT_BYTES``), a limit on the compression ratio
(:data:`DEFAULT_MAX_EXTRACT_RATIO`, or ``GALZOO_MAX_EXTRACT_RATIO``) and the free disk space; while writing,
no entry may yield more than its header declared, so the checks hold even when the headers lie.
"""
from __future__ import annotations

import contextlib
import errno
import io
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

from galzoo.errors import ConfigError, DataError
from galzoo.progress import progress_bar

#: Where a member goes, relative to the target, or None to leave it out.
Selector = Callable[[PurePosixPath], "PurePosixPath | str | None"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, zlib.error, EOFError)

#: Most bytes one archive may write (64 GiB). The largest archives galzoo reads hold about 2 GB (Kaggle's
#: images zip) and 3.7 GB (Galaxy Zoo 2's) of JPEGs; raise it with ``GALZOO_MAX_EXTRACT_BYTES`` (e.g. ``200G``).
DEFAULT_MAX_EXTRACT_BYTES = 64 * 2**30
#: Most uncompressed bytes per byte of archive (100:1). JPEG and PNG images do not compress (about 1:1) and
#: tables of numbers about 3-10:1, while a zip bomb reaches 1000:1 and more; raise it with
#: ``GALZOO_MAX_EXTRACT_RATIO``.
DEFAULT_MAX_EXTRACT_RATIO = 100.0
MAX_BYTES_VARIABLE = "GALZOO_MAX_EXTRACT_BYTES"
MAX_RATIO_VARIABLE = "GALZOO_MAX_EXTRACT_RATIO"
#: Archives declaring at most this much content are not held to the ratio: they cannot fill a disk.
_RATIO_FLOOR = 1 << 20
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


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
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; the published folder gets a normal folder's mode
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class _Member:
    name: str                    # as written in the archive, for messages
    path: PurePosixPath          # validated relative path
    is_dir: bool
    size: int                    # uncompressed size its header declares
    open: Callable[[], IO[bytes]]


def extract_archive(archive: Path | str, target: Path | str, select: Selector | None = None,
                    *, progress: bool = True, max_bytes: int | None = None,
                    max_ratio: float | None = None) -> list[Path]:
    """Extract the regular files of a zip or tar archive into ``target`` (created or replaced atomically).

    ``select`` maps each file's validated relative path to where it goes under ``target`` (None leaves it
    out); by default every file keeps its path. Every entry, selected or not, is checked first: one unsafe
    entry rejects the whole archive, and so does a file whose name another entry needs as a folder. Returns
    the written files.

    Before a byte is written, the selected files' declared sizes must add up to at most ``max_bytes`` (default:
    environment variable ``GALZOO_MAX_EXTRACT_BYTES``, a number of bytes with an optional K, M, G or T suffix
    in powers of 1024, e.g. ``200G``; else :data:`DEFAULT_MAX_EXTRACT_BYTES`, 64 GiB) and must fit in the free
    space beside ``target``; all files' declared sizes over the archive's size must be at most ``max_ratio``
    (default: ``GALZOO_MAX_EXTRACT_RATIO``, else :data:`DEFAULT_MAX_EXTRACT_RATIO`, 100) unless they total at
    most 1 MiB. While writing, a file yielding more than its declared size stops the extraction. Any failure
    raises :class:`DataError` and leaves ``target`` as it was, with no partial folder beside it.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    limit, ratio = _limits(max_bytes, max_ratio)
    with _open_members(archive) as members:
        plan = _plan(archive, members, select)
        needed = sum(member.size for member, _ in plan)
        _check_size(archive, needed, limit)
        _check_ratio(archive, members, ratio)
        _check_free_space(archive, target, needed)
        with staged_directory(target) as staging:
            root = staging.resolve()
            written = []
            bar = progress_bar(plan, total=len(plan), desc=f"extract {archive.name}", unit="file",
                               enabled=progress)
            for member, destination in bar:
                out = staging / destination
                if not out.resolve().is_relative_to(root):  # belt and braces: _safe_path already refused it
                    raise DataError(f"{archive}: entry {member.name!r} would be written outside {target}")
                try:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with member.open() as src, open(out, "wb") as dst:
                        _copy(archive, member, src, dst)
                except _CORRUPT as exc:
                    raise _corrupt(archive, exc, member.name) from None
                except OSError as exc:
                    if exc.errno not in _DISK_FULL:
                        raise
                    raise DataError(f"{archive}: the disk filled up while extracting entry {member.name!r} to "
                                    f"{target}: {exc.strerror or exc}. Nothing was extracted; free some space "
                                    f"and run again") from None
                written.append(target / destination)
    return written


def archive_names(archive: Path | str) -> list[PurePosixPath]:
    """The validated relative paths of the regular files in an archive (raises on any unsafe entry)."""
    archive = Path(archive)
    with _open_members(archive) as members:
        return [m.path for m in members if not m.is_dir]


def read_member(archive: Path | str, path: PurePosixPath | str, *, max_bytes: int | None = None,
                max_ratio: float | None = None) -> bytes:
    """The content of one regular file of an archive (a small table), after the same safety checks.

    The file is read into memory, so it is held to the limits of :func:`extract_archive` (``max_bytes``,
    ``max_ratio``, their environment variables and defaults), the disk space aside.
    """
    archive, path = Path(archive), PurePosixPath(path)
    limit, ratio = _limits(max_bytes, max_ratio)
    with _open_members(archive) as members:
        for member in members:
            if member.path == path and not member.is_dir:
                _check_size(archive, member.size, limit)
                _check_ratio(archive, members, ratio)
                buffer = io.BytesIO()
                try:
                    with member.open() as stream:
                        _copy(archive, member, stream, buffer)
                except _CORRUPT as exc:
                    raise _corrupt(archive, exc, member.name) from None
                return buffer.getvalue()
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
    for destination, name in seen.items():
        for folder in destination.parents:
            if folder in seen:
                raise DataError(f"{archive}: entry {seen[folder]!r} is a file but entry {name!r} needs a folder "
                                f"of that name ({folder}); they cannot both be extracted. Nothing was extracted: the "
                                f"archive is not in the expected layout")
    return plan


def _limits(max_bytes: int | None, max_ratio: float | None) -> tuple[int, float]:
    """The limits in force: the arguments, else the environment variables, else the defaults."""
    if max_bytes is None:
        max_bytes = _variable(MAX_BYTES_VARIABLE, _parse_bytes, DEFAULT_MAX_EXTRACT_BYTES,
                              "a number of bytes, optionally with a K, M, G or T suffix (powers of 1024), e.g. 200G")
    if max_ratio is None:
        max_ratio = _variable(MAX_RATIO_VARIABLE, float, DEFAULT_MAX_EXTRACT_RATIO,
                              "a positive number, e.g. 1000")
    if not max_bytes > 0 or not max_ratio > 0:
        raise ValueError(f"extraction limits must be positive, not max_bytes={max_bytes}, max_ratio={max_ratio}")
    return int(max_bytes), float(max_ratio)


def _variable(name: str, parse: Callable[[str], float], default: float, expected: str) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        value = None
    if value is None or not value > 0 or value == float("inf"):
        raise ConfigError(f"environment variable {name}={raw!r}: expected {expected}")
    return value


def _parse_bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?", text.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(text)
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def _check_size(archive: Path, needed: int, limit: int) -> None:
    if needed > limit:
        raise DataError(f"{archive}: its entries declare {_size(needed)} to extract, more than the limit of "
                        f"{_size(limit)}. Nothing was extracted: the archive may be a zip bomb or not the published "
                        f"file; if you trust it and have the space, raise the limit with the environment variable "
                        f"{MAX_BYTES_VARIABLE} (e.g. {MAX_BYTES_VARIABLE}=200G)")


def _check_ratio(archive: Path, members: list[_Member], ratio: float) -> None:
    declared = sum(m.size for m in members if not m.is_dir)
    packed = max(archive.stat().st_size, 1)
    if declared > _RATIO_FLOOR and declared > ratio * packed:
        raise DataError(f"{archive}: its entries declare {_size(declared)} from {_size(packed)} of archive, a "
                        f"compression ratio of {declared / packed:.0f}:1, above the limit of {ratio:g}:1. Nothing "
                        f"was extracted: images and tables compress far less, so it looks like a zip bomb or not the "
                        f"published file; delete it and download it again, or, if you trust it, raise the limit "
                        f"with the environment variable {MAX_RATIO_VARIABLE}")


def _check_free_space(archive: Path, target: Path, needed: int) -> None:
    place = target.absolute().parent
    while not place.exists():
        place = place.parent
    free = shutil.disk_usage(place).free
    if needed > free:
        raise DataError(f"{archive}: extracting it needs {_size(needed)} but {place} has only {_size(free)} "
                        f"free. Nothing was extracted; free some space and run again")


def _copy(archive: Path, member: _Member, src: IO[bytes], dst: IO[bytes]) -> int:
    """Copy one entry, never writing more than its header declared (so the checks made on the headers hold)."""
    copied = 0
    while chunk := src.read(_CHUNK):
        copied += len(chunk)
        if copied > member.size:
            raise DataError(f"{archive}: entry {member.name!r} holds more than the {_size(member.size)} its "
                            f"header declares. Nothing was extracted: the archive may be malicious or not the "
                            f"published file; delete it and download it again from the source")
        dst.write(chunk)
    return copied


def _size(n: int) -> str:
    """A byte count for people: '1.0 GiB (1,073,741,824 bytes)', or '512 bytes'."""
    if n < 1024:
        return f"{n:,} bytes"
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit} ({n:,} bytes)"


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
    path = _safe_path(info.filename, archive, root_ok=info.is_dir())
    return _Member(info.filename, path, info.is_dir(), 0 if info.is_dir() else info.file_size,
                   lambda: zf.open(info))


def _tar_member(archive: Path, tf: tarfile.TarFile, info: tarfile.TarInfo) -> _Member:
    if info.issym():
        _refuse(archive, info.name, "a symbolic link")
    if info.islnk():
        _refuse(archive, info.name, "a hard link")
    if not (info.isreg() or info.isdir()):
        _refuse(archive, info.name, "a device or other special file")
    path = _safe_path(info.name, archive, root_ok=info.isdir())

    def opener() -> IO[bytes]:
        stream = tf.extractfile(info)
        if stream is None:  # pragma: no cover - only regular files reach here
            raise DataError(f"{archive}: entry {info.name!r} has no data")
        return stream

    return _Member(info.name, path, info.isdir(), 0 if info.isdir() else info.size, opener)


def _safe_path(name: str, archive: Path, what: str = "entry", root_ok: bool = False) -> PurePosixPath:
    """A relative path with no way out of the target: no absolute path, drive, ``..`` or NUL.

    ``.`` components are dropped (``./x.jpg`` is ``x.jpg``); a name that is nothing else (``.``, ``./``) is
    the target itself, allowed only for a folder (``root_ok``): ``tar -C dir -czf x.tar.gz .`` writes one.
    """
    if "\x00" in name:
        _refuse(archive, name, "a name with a NUL character", what)
    normalized = name.replace("\\", "/")  # archives made on Windows may use backslashes
    path = PurePosixPath(normalized)
    if path.is_absolute() or _DRIVE.match(normalized):
        _refuse(archive, name, "an absolute path", what)
    if ".." in path.parts:
        _refuse(archive, name, "a path with a '..' component", what)
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts and not root_ok:
        _refuse(archive, name, "an empty path", what)
    return PurePosixPath(*parts)


def _refuse(archive: Path, name: str, why: str, what: str = "entry") -> None:
    raise DataError(f"{archive}: unsafe {what} {name!r}: {why}. Nothing was extracted: the archive may be "
                    f"malicious or not the published file; delete it and download it again from the source")


def _corrupt(archive: Path, exc: BaseException, member: str | None = None) -> DataError:
    where = f" (entry {member!r})" if member else ""
    return DataError(f"{archive}: corrupt or truncated archive{where}: {exc}. Nothing was extracted; delete "
                     f"the file and run again to download it afresh")
