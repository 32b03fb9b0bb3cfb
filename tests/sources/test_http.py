"""Specification of the HTTP layer every source shares: which failures are retried, how long it waits, when it
gives up. Against a local fake server; the pauses are recorded by an injected ``sleep``, never waited for."""
from __future__ import annotations

import email.utils
import socket
import time
import urllib.error

import pytest

from galzoo.config import DownloadParams
from galzoo.sources.http import (MAX_RETRY_AFTER_S, DownloadError, HTTPStatusError, Transient, error_body,
                                 give_up_message, open_url, read_body, reason, retry_after_s, status_failure,
                                 status_text, with_retries)
from tests.fake_http import closed_port_url, fake_server  # noqa: F401 - fixture

FAST = DownloadParams(retries=2, backoff_s=0.01, timeout_s=5.0)


def get(url: str, params: DownloadParams = FAST, sleeps: list[float] | None = None) -> bytes:
    """The body of ``url``, asked for as the sources do: one attempt from this module's pieces, retried."""

    def attempt() -> bytes:
        try:
            with open_url(url, params) as response:
                return read_body(response)
        except urllib.error.HTTPError as error:
            error_body(error)
            raise status_failure(error, f"{url}: the server answered {status_text(error)}") from None

    def too_long(seconds: float) -> DownloadError:
        return DownloadError(f"{url} asks to wait {seconds:.0f} s (Retry-After)")

    return with_retries(attempt, params, sleep=(sleeps if sleeps is not None else []).append, too_long=too_long,
                        give_up=lambda why, failures: DownloadError(give_up_message(f"get {url}", why, failures,
                                                                                    "the URL")))


def test_a_503_is_retried_after_the_backoff_and_then_succeeds(fake_server):
    url = fake_server.add("/flaky", b"payload", statuses=[503, 503])
    sleeps: list[float] = []
    assert get(url, sleeps=sleeps) == b"payload"
    assert len(fake_server.hits("/flaky")) == 3
    assert sleeps == [0.01, 0.02]                   # doubled for each further failure


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_when_longer_than_the_backoff(fake_server, status):
    url = fake_server.add("/busy", b"ok", statuses=[status], headers={"Retry-After": "7"})
    sleeps: list[float] = []
    assert get(url, sleeps=sleeps) == b"ok"
    assert sleeps == [7.0]


def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it(fake_server):
    url = fake_server.add("/busy", b"ok", statuses=[503], headers={"Retry-After": "0"})
    sleeps: list[float] = []
    assert get(url, DownloadParams(retries=1, backoff_s=1.5, timeout_s=5.0), sleeps) == b"ok"
    assert sleeps == [1.5]


def test_a_retry_after_too_long_to_wait_for_stops_at_once(fake_server):
    url = fake_server.add("/later", b"ok", status=503, headers={"Retry-After": f"{MAX_RETRY_AFTER_S + 1:.0f}"})
    sleeps: list[float] = []
    with pytest.raises(DownloadError, match=f"{url} asks to wait 601 s"):
        get(url, sleeps=sleeps)
    assert sleeps == [] and len(fake_server.hits("/later")) == 1


def test_a_permanent_404_is_not_retried(fake_server):
    url = fake_server.url("/nothing")
    sleeps: list[float] = []
    with pytest.raises(HTTPStatusError, match="HTTP 404") as caught:
        get(url, sleeps=sleeps)
    assert caught.value.status == 404 and url in str(caught.value)
    assert len(fake_server.hits("/nothing")) == 1 and sleeps == []


def test_it_gives_up_after_the_retries_naming_the_url_and_the_last_failure(fake_server):
    url = fake_server.add("/down", status=503)
    sleeps: list[float] = []
    with pytest.raises(DownloadError) as caught:
        get(url, sleeps=sleeps)
    message = str(caught.value)
    assert message.startswith(f"could not get {url}: HTTP 503") and "3 attempt(s)" in message
    assert "run again" in message
    assert len(fake_server.hits("/down")) == FAST.retries + 1 and sleeps == [0.01, 0.02]


def test_a_refused_connection_is_transient_and_named_without_the_request():
    url = closed_port_url("/file")
    with pytest.raises(DownloadError, match=r"connection refused \(3 attempt\(s\)"):
        get(url)


def test_a_transfer_that_breaks_off_is_transient(fake_server):
    url = fake_server.add("/big", b"x" * 10_000, drop_after=100, drops=1)
    assert get(url) == b"x" * 10_000
    assert len(fake_server.hits("/big")) == 2


def test_progress_makes_a_failure_no_failure_and_retries_at_once():
    received, sleeps = [0], []

    def attempt() -> str:
        received[0] += 100 if len(sleeps) < 5 else 0     # five attempts that get further, then none that do
        raise Transient("broke off")

    with pytest.raises(DownloadError, match="gave up after 2"):
        with_retries(attempt, DownloadParams(retries=1, backoff_s=0.01, timeout_s=5.0), sleep=sleeps.append,
                     progress=lambda: received[0], too_long=DownloadError,
                     give_up=lambda why, failures: DownloadError(f"gave up after {failures}"))
    assert sleeps == [0.0] * 5 + [0.01]


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_s("7") == 7.0 and retry_after_s(" 1.5 ") == 1.5
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 50 < retry_after_s(in_a_minute) <= 60
    assert retry_after_s(email.utils.formatdate(time.time() - 60, usegmt=True)) == 0.0


def test_reasons_name_the_kind_of_failure():
    assert reason(socket.timeout("timed out")) == "timed out"
    assert reason(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))) == "connection refused"
    assert reason(socket.gaierror(-2, "Name or service not known")).startswith("host name not resolved")
