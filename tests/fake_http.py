"""A local stand-in for the servers the real sources download from (Kaggle's API, Zenodo, S3).

It runs on 127.0.0.1 in a thread and can misbehave on purpose: break a transfer off half-way, ignore
``Range`` headers, require HTTP basic auth, redirect to a storage path, or answer with an error status.
Every request is logged, so tests can assert what the downloader sent (a ``Range`` header on resume, no
``Authorization`` header after a redirect).
"""
from __future__ import annotations

import base64
import re
import socket
import threading
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


@dataclass
class Logged:
    path: str
    range: str | None
    authorization: str | None


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

    def hits(self, path: str) -> list[Logged]:
        return [r for r in self.requests if r.path == path]


def _handler(server: FakeServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            server.requests.append(Logged(path, self.headers.get("Range"), self.headers.get("Authorization")))
            route = server.routes.get(path)
            if route is None:
                return self.send_error(404)
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
                return self.send_error(route.status)
            self._serve(route)

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
