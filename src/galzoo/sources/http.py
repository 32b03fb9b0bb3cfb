"""HTTP for every data source: one request with galzoo's User-Agent, what its failure means, and the retry loop.

The downloader (:mod:`galzoo.sources.download`) and the SDSS/VizieR client (:mod:`galzoo.sources.sdss`) meet
the same failures: a connection refused or broken, a timeout, a rate limit or server trouble (429, 5xx) are
worth another attempt after a pause (``data.download.backoff_s``, doubled for each further failure, longer
when the server asks for it in ``Retry-After``); any other HTTP error (401, 403, 404, ...) is an answer that
asking again will not change. Both sort failures and retry here, so they give up after the same
``data.download.retries``. Messages built here never name credentials: a network failure is described by its
kind (:func:`reason`), and the caller says which URL failed.
"""
from __future__ import annotations

import email.utils
import http.client
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from galzoo.config import DownloadParams
from galzoo.errors import GalzooError

#: Answers worth asking again: timeouts, rate limits and server-side trouble.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "galzoo-downloader/0.1 (+python-urllib)"
#: A Retry-After longer than this is not waited for: the run stops and says when to try again.
MAX_RETRY_AFTER_S = 600.0

T = TypeVar("T")


class DownloadError(GalzooError):
    """A file could not be downloaded; the message names the URL and what to do."""


class HTTPStatusError(DownloadError):
    """The server answered with an HTTP error that retrying will not fix (401, 403, 404, ...)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class Transient(Exception):
    """A failure worth another attempt, with the pause the server asked for (None: our own backoff)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def open_url(url: str, params: DownloadParams, *, headers: dict[str, str] | None = None,
             private: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET ``url`` within ``params.timeout_s``, as galzoo (User-Agent), with ``headers``.

    ``private`` headers (credentials) are not forwarded to the host a redirect leads to. An error answer is
    raised as :class:`urllib.error.HTTPError`, for the caller to read and pass to :func:`status_failure`; no
    answer at all (refused, timed out, host unknown) is :class:`Transient`.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    for name, value in (private or {}).items():
        request.add_unredirected_header(name, value)
    try:
        return urllib.request.urlopen(request, timeout=params.timeout_s)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise Transient(reason(exc)) from None


def read_body(response: http.client.HTTPResponse, size: int | None = None) -> bytes:
    """The next ``size`` bytes of an answer (None: the rest); a transfer that breaks off is :class:`Transient`."""
    try:
        return response.read(size)
    except (http.client.HTTPException, OSError) as exc:
        raise Transient(f"the transfer broke off ({reason(exc)})") from None


def error_body(error: urllib.error.HTTPError) -> bytes:
    """The body of an error answer (empty when it cannot be read), the connection closed."""
    try:
        return error.read()
    except (http.client.HTTPException, OSError):
        return b""
    finally:
        error.close()


def status_text(error: urllib.error.HTTPError) -> str:
    """"HTTP 404 Not Found": how messages name an error answer."""
    return f"HTTP {error.code} {error.reason}"


def status_failure(error: urllib.error.HTTPError, message: str) -> Exception:
    """What an error answer means: :class:`Transient` (with the server's Retry-After) for one worth asking
    again (:data:`RETRY_STATUS`), else a final :class:`HTTPStatusError` with ``message``."""
    if error.code in RETRY_STATUS:
        return Transient(status_text(error), retry_after_s(error.headers.get("Retry-After")))
    return HTTPStatusError(message, error.code)


def with_retries(attempt: Callable[[], T], params: DownloadParams, *, give_up: Callable[[str, int], Exception],
                 too_long: Callable[[float], Exception], progress: Callable[[], int] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``attempt()``, called again after each :class:`Transient` failure until it returns.

    The pause before a retry is ``params.backoff_s``, doubled for each further failure in a row, or the
    server's Retry-After when that is longer. ``progress`` (the bytes kept so far) makes an attempt that
    raised it past its maximum no failure, retried at once: a long download that breaks off but gets further
    each time goes on, one that restarts and breaks off at the same place still runs out of retries. More than
    ``params.retries`` failures in a row raise ``give_up(last reason, failures)``; a Retry-After over
    :data:`MAX_RETRY_AFTER_S` raises ``too_long(seconds)``. ``sleep`` is injectable for tests.
    """
    failures = 0
    furthest = progress() if progress else 0
    while True:
        try:
            return attempt()
        except Transient as transient:
            reached = progress() if progress else 0
            failures = 0 if reached > furthest else failures + 1
            furthest = max(furthest, reached)
            if failures > params.retries:
                raise give_up(transient.reason, failures) from None
            pause = params.backoff_s * 2 ** (failures - 1) if failures else 0.0
            if transient.retry_after is not None:
                if transient.retry_after > MAX_RETRY_AFTER_S:
                    raise too_long(transient.retry_after) from None
                pause = max(pause, transient.retry_after)
            sleep(pause)


def give_up_message(what: str, reason: str, failures: int, setting: str) -> str:
    """How every source says it gave up: "could not <what>: <last reason> (<n> attempt(s) ...). Check ...",
    ``setting`` being what to check besides the network (the URL's params.yaml key); callers add what was kept."""
    return (f"could not {what}: {reason} ({failures} attempt(s) in a row failed). Check the network connection, a "
            f"proxy (https_proxy) or {setting}, then run again")


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), None when absent or unreadable."""
    if not value or not value.strip():
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def reason(exc: BaseException) -> str:
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
