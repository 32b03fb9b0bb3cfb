"""A local stand-in for the servers the real sources download from (Kaggle's API, Zenodo, S3, SkyServer, VizieR).

It runs on 127.0.0.1 in a thread and can misbehave on purpose: break a transfer off half-way, ignore
``Range`` headers, require HTTP basic auth, redirect to a storage path, or answer with an error status
(a fixed one, or a sequence such as 503 then 200, with extra headers such as ``Retry-After``). A route can
also be a function of the query string (``add_handler``), for services that answer many questions at one
path (SkyServer's SQL search, its cutout service). Every request is logged, so tests can assert what the
downloader sent (a ``Range`` header on resume, no ``Authorization`` header after a redirect, the query).
"""
from __future__ import annotations

import base64
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes = b""
    #: Break the connection after this many body bytes, for the first ``drops`` requests.
    drop_after: int | None = None
    drops: int = 0
    #: Answer 200 with the whole body even when asked for a range (servers that cannot resume).
    ignore_range: bool = False
    #: (username, key) that HTTP basic auth must carry.
    auth: tuple[str, str] | None = None
    #: Answer 302 to this path instead of serving a body.
    redirect: str | None = None
    #: Answer with this error status instead of serving a body.
    status: int = 200
    #: Statuses answered in turn, one per request, before the route behaves as above (e.g. [503] then 200).
    statuses: list[int] = field(default_factory=list)
    #: Extra headers sent with every answer of this route (e.g. {"Retry-After": "7"}).
    headers: dict[str, str] = field(default_factory=dict)
    #: The body of error answers, instead of the standard HTML error page.
    error_body: bytes | None = None
    #: Answer from the query string instead: called with the parsed query (``parse_qs``), returns the body
    #: (status 200) or an :class:`Answer`.
    handler: Callable[[dict[str, list[str]]], "bytes | Answer"] | None = None


@dataclass
class Answer:
    """What a route handler answers: a status, a body and extra headers; ``drop_after`` breaks it off."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None


@dataclass
class Logged:
    path: str
    range: str | None
    authorization: str | None
    #: The raw query string ("" when there is none).
    query: str = ""


@dataclass
class FakeServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Logged] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes = b"", **options) -> str:
        """Serve ``body`` at ``path`` (with the misbehaviour in ``options``) and return its URL."""
        self.routes[path] = Route(body, **options)
        return self.url(path)

    def add_handler(self, path: str, handler: Callable[[dict[str, list[str]]], "bytes | Answer"]) -> str:
        """Answer requests for ``path`` with ``handler(query)`` and return its URL."""
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def hits(self, path: str) -> list[Logged]:
        return [r for r in self.requests if r.path == path]


def _handler(server: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            server.requests.append(Logged(path, self.headers.get("Range"), self.headers.get("Authorization"),
                                          query))
            route = server.routes.get(path)
            if route is None:
                return self.send_error(404)
            if route.statuses:
                status = route.statuses.pop(0)
                if status != 200:
                    return self._answer(Answer(status, route.error_body or b"", route.headers))
            if route.handler is not None:
                answer = route.handler(urllib.parse.parse_qs(query, keep_blank_values=True))
                return self._answer(answer if isinstance(answer, Answer) else Answer(body=answer))
            if route.auth is not None:
                expected = "Basic " + base64.b64encode(":".join(route.auth).encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
            if route.redirect is not None:
                self.send_response(302)
                self.send_header("Location", server.url(route.redirect))
                self.send_header("Content-Length", "0")
                return self.end_headers()
            if route.status != 200:
                if route.error_body is not None or route.headers:
                    return self._answer(Answer(route.status, route.error_body or b"", route.headers))
                return self.send_error(route.status)
            self._serve(route)

        def _answer(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.drop_after is not None:
                self.wfile.write(answer.body[:answer.drop_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(answer.body)

        def _serve(self, route: Route) -> None:
            body, start = route.body, 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and not route.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if route.drops > 0 and route.drop_after is not None:
                route.drops -= 1
                self.wfile.write(body[start:start + route.drop_after])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the transfer breaks off mid-body
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def fake_server(monkeypatch):
    """A FakeServer listening on 127.0.0.1 for the duration of one test (never through a proxy)."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    server = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def closed_port_url(path: str = "/file.zip") -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
