"""Resumable, verified HTTP downloads into a cache folder (standard library only).

The real datasets are gigabytes behind links that drop. A file is written to ``<name>.part`` and resumed
with an HTTP ``Range`` request after an interruption, in this run (retries with exponential backoff, see
:mod:`galzoo.sources.http`) or the next one (the ``.part`` file stays in the cache, which is not a DVC output,
so an interrupted ``dvc repro`` resumes). Only a file whose size and checksum check out is renamed to its final
name, so a file under its final name is always complete.

Credentials travel only in an ``Authorization`` header that is not forwarded to the host a download is
redirected to, and no message ever names them: errors name the URL as configured, never a redirect target.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import sys
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from galzoo.config import DownloadParams
from galzoo.errors import DataError
from galzoo.progress import progress_bar
from galzoo.sources.http import (DownloadError, Transient, give_up_message, open_url, read_body, status_failure,
                                 status_text, with_retries)

_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class ChecksumError(DataError):
    """A downloaded file has the wrong size or digest; it has been deleted."""


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic-auth credentials; the secret never appears in ``repr`` (and so in no traceback)."""

    username: str
    secret: str = field(repr=False)

    def header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode("ascii")
        return f"Basic {token}"


@dataclass(frozen=True)
class Remote:
    """One file to download: where from, its cache name and what it must be (None = not published)."""

    url: str
    filename: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    #: The params.yaml key that sets the URL, named in error messages ("data.gz2.images_url").
    key: str = ""

    @property
    def checksum_key(self) -> str:
        """The params.yaml key of the published checksum ("data.gz2.images_md5"), "" when there is none."""
        if not self.key.endswith("_url") or not (self.md5 or self.sha256):
            return ""
        return self.key.removesuffix("_url") + ("_md5" if self.md5 else "_sha256")


def download(remote: Remote, cache_dir: Path | str, params: DownloadParams, *, auth: BasicAuth | None = None,
             progress: bool = True) -> Path:
    """Return ``cache_dir / remote.filename``, downloading (or resuming) it first unless it is already there.

    A cached file is re-checked against the known size and checksum; a mismatch downloads it again.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / remote.filename
    if final.is_file():
        problem = _problem(final, remote, None)
        if problem is None:
            return final
        print(f"galzoo: {final}: {problem}; downloading it again", file=sys.stderr)
        final.unlink()
    if urllib.parse.urlsplit(remote.url).scheme not in ("http", "https"):
        raise DownloadError(f"{remote.url!r}{_key(remote)}: expected an http(s) URL; "
                            f"to use a copy you already have, put it at {final}")
    part = final.with_name(final.name + ".part")

    def kept() -> str:
        return (f" The {part.stat().st_size} bytes received so far are kept in {part}; the next run resumes from "
                f"there." if part.is_file() and part.stat().st_size else "")

    def give_up(reason: str, failures: int) -> DownloadError:
        return DownloadError(give_up_message(f"download {remote.url}", reason, failures, f"the URL{_key(remote)}")
                             + f".{kept()}")

    def too_long(seconds: float) -> DownloadError:
        return DownloadError(f"could not download {remote.url}: the server asks to wait {seconds:.0f} s before the "
                             f"next request (Retry-After); run again later.{kept()}")

    # Only a part file longer than ever before is progress (see with_retries).
    total = with_retries(lambda: _transfer(remote, part, params, auth, progress), params, give_up=give_up,
                         too_long=too_long, progress=lambda: _size(part))
    problem = _problem(part, remote, total)
    if problem is not None:
        part.unlink()
        where = (f" (if the publisher has changed the file on purpose, update {remote.checksum_key} in "
                 f"params.yaml)" if "checksum" in problem and remote.checksum_key else "")
        raise ChecksumError(f"{final}: {problem}. The download was corrupted or the published file has changed; "
                            f"the file was deleted: run again to download it afresh{where}")
    os.replace(part, final)
    return final


def _key(remote: Remote) -> str:
    """" (data.gz2.images_url)": the params.yaml key a message names beside the URL, "" when there is none."""
    return f" ({remote.key})" if remote.key else ""


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def file_digest(path: Path | str, algorithm: str) -> str:
    """Hex digest of a file, read in chunks (the archives do not fit in memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _problem(path: Path, remote: Remote, server_size: int | None) -> str | None:
    """What is wrong with a (fully downloaded) file, or None when its size and digests check out."""
    size = path.stat().st_size
    for expected, source in ((remote.size, "expected"), (server_size, "announced by the server")):
        if expected is not None and size != expected:
            return f"size mismatch: {size} bytes, {expected} {source}"
    for algorithm in ("md5", "sha256"):
        expected = getattr(remote, algorithm)
        if expected:
            actual = file_digest(path, algorithm)
            if actual.lower() != expected.lower():
                return f"{algorithm} checksum mismatch: expected {expected.lower()}, got {actual}"
    return None


def _transfer(remote: Remote, part: Path, params: DownloadParams, auth: BasicAuth | None,
              progress: bool) -> int | None:
    """One attempt: fetch what ``part`` lacks. Returns the full size the server announced (None if unknown)."""
    offset = _size(part)
    if remote.size is not None and offset > remote.size:
        part.unlink()
        offset = 0
    try:
        # Private: the Kaggle API answers with a redirect to a storage host that must not see the credentials.
        response = open_url(remote.url, params, headers={"Range": f"bytes={offset}-"} if offset else None,
                            private={"Authorization": auth.header()} if auth is not None else None)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            total = _content_range_total(exc.headers.get("Content-Range", ""))
            if total == offset:  # the previous run had received everything
                return total
            part.unlink()
            raise Transient("the server refused to resume the partial file; starting over") from None
        raise status_failure(exc, f"could not download {remote.url}: the server answered {status_text(exc)}"
                                  f"{_status_hint(exc.code, remote)}") from None
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise Transient("the server resumed at the wrong position; starting over")
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        elif response.status == 200:
            offset, mode = 0, "wb"  # the server ignored the Range header: start over
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise DownloadError(f"could not download {remote.url}: unexpected HTTP status {response.status}")
        if remote.size is not None and total is not None and total != remote.size:
            raise DownloadError(f"{remote.url}: the server offers {total} bytes but {remote.size} are expected; "
                                f"the published file has changed or the URL{_key(remote)} points to another file")
        if total is not None:
            _check_free_space(part, total - offset)
        received = 0
        bar = progress_bar(total=total, initial=offset, desc=part.name.removesuffix(".part"), unit="B",
                           unit_scale=True, unit_divisor=1024, enabled=progress)
        with open(part, mode) as out, bar:
            while chunk := read_body(response, _CHUNK):
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise DownloadError(f"could not write {part}: {exc.strerror or exc}") from None
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and offset + received < total:
        raise Transient(f"the connection closed after {offset + received} of {total} bytes")
    return total


def _content_range_total(value: str) -> int | None:
    match = re.fullmatch(r"bytes\s+\*/(\d+)", value.strip())
    return int(match.group(1)) if match else None


def _check_free_space(path: Path, needed: int) -> None:
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise DownloadError(f"{path.parent}: {needed / 2**30:.1f} GiB needed for {path.name} but only "
                            f"{free / 2**30:.1f} GiB free; free some space or set data.download_dir elsewhere")


def _status_hint(status: int, remote: Remote) -> str:
    if status == 404:
        return f"; check the URL{f' ({remote.key} in params.yaml)' if remote.key else ''}"
    return ""

