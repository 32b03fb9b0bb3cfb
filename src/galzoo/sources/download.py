"""Resumable, verified HTTP downloads into a cache folder (standard library only).

The real datasets are gigabytes behind links that drop. A file is written to ``<name>.part`` and resumed
with an HTTP ``Range`` request after an interruption, in this run (retries with exponential backoff) or the
next one (the ``.part`` file stays in the cache, which is not a DVC output, so an interrupted ``dvc repro``
resumes). Only a file whose size and checksum check out is renamed to its final name, so a file under its
final name is always complete.

Credentials travel only in an ``Authorization`` header that is not forwarded to the host a download is
redirected to, and no message ever names them: errors name the URL as configured, never a redirect target.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from galzoo.config import DownloadParams
from galzoo.errors import DataError, GalzooError
from galzoo.progress import progress_bar

_CHUNK = 1 << 20
#: Answers worth asking again: timeouts, rate limits and server-side trouble.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
USER_AGENT = "galzoo-downloader/0.1 (+python-urllib)"


class DownloadError(GalzooError):
    """A file could not be downloaded; the message names the URL and what to do."""


class HTTPStatusError(DownloadError):
    """The server answered with an HTTP error that retrying will not fix (401, 403, 404, ...)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


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


class _Retry(Exception):
    """A transient failure: try again, at once if the part file grew, else after a pause."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
        raise DownloadError(f"{remote.url!r}{f' ({remote.key})' if remote.key else ''}: expected an http(s) URL; "
                            f"to use a copy you already have, put it at {final}")
    part = final.with_name(final.name + ".part")
    failures, furthest = 0, _size(part)
    while True:
        try:
            total = _transfer(remote, part, params, auth, progress)
            break
        except _Retry as retry:
            # Only a part file longer than ever before is progress: a server that restarts the file at
            # every attempt and breaks off at the same place must still run out of retries.
            failures = 0 if _size(part) > furthest else failures + 1
            furthest = max(furthest, _size(part))
            if failures > params.retries:
                kept = (f" The {part.stat().st_size} bytes received so far are kept in {part}; the next run "
                        f"resumes from there." if part.is_file() and part.stat().st_size else "")
                raise DownloadError(
                    f"could not download {remote.url}: {retry.reason} ({failures} attempt(s) in a row failed). "
                    f"Check the network connection, a proxy (https_proxy) or the URL"
                    f"{f' ({remote.key})' if remote.key else ''}, then run again.{kept}") from None
            time.sleep(params.backoff_s * 2 ** (failures - 1) if failures else 0)
    problem = _problem(part, remote, total)
    if problem is not None:
        part.unlink()
        where = (f" (if the publisher has changed the file on purpose, update {remote.checksum_key} in "
                 f"params.yaml)" if "checksum" in problem and remote.checksum_key else "")
        raise ChecksumError(f"{final}: {problem}. The download was corrupted or the published file has changed; "
                            f"the file was deleted: run again to download it afresh{where}")
    os.replace(part, final)
    return final


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
    request = urllib.request.Request(remote.url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    if auth is not None:
        # Unredirected: the Kaggle API answers with a redirect to a storage host that must not see it.
        request.add_unredirected_header("Authorization", auth.header())
    try:
        response = urllib.request.urlopen(request, timeout=params.timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            total = _content_range_total(exc.headers.get("Content-Range", ""))
            if total == offset:  # the previous run had received everything
                return total
            part.unlink()
            raise _Retry("the server refused to resume the partial file; starting over") from None
        if exc.code in RETRY_STATUS:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise HTTPStatusError(f"could not download {remote.url}: the server answered HTTP {exc.code} {exc.reason}"
                              f"{_status_hint(exc.code, remote)}", exc.code) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _Retry(_reason(exc)) from None
    with response:
        if response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or int(match.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise _Retry("the server resumed at the wrong position; starting over")
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
                                f"the published file has changed or the URL{f' ({remote.key})' if remote.key else ''}"
                                f" points to another file")
        if total is not None:
            _check_free_space(part, total - offset)
        received = 0
        bar = progress_bar(total=total, initial=offset, desc=part.name.removesuffix(".part"), unit="B",
                           unit_scale=True, unit_divisor=1024, enabled=progress)
        with open(part, mode) as out, bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    raise _Retry(f"the transfer broke off ({_reason(exc)})") from None
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise DownloadError(f"could not write {part}: {exc.strerror or exc}") from None
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and offset + received < total:
        raise _Retry(f"the connection closed after {offset + received} of {total} bytes")
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


def _reason(exc: BaseException) -> str:
    """A short, credential-free description of a network failure."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        if not isinstance(exc.reason, BaseException):
            return str(exc.reason)
        exc = exc.reason
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[0].isupper() else exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
