"""Real servers on 127.0.0.1 for end-to-end tests: a fixture web server, a webhook
receiver and an SMTP server (aiosmtpd). Each runs in a background thread so the
real CLI, started as a subprocess, can talk to it."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Route:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: bool = True
    last_modified: str | None = "Mon, 23 Nov 2026 10:00:00 GMT"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _record(self) -> Seen:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.lock:
            self.server.requests.append(seen)
        return seen

    def do_GET(self) -> None:
        seen = self._record()
        custom = self.server.handler
        if custom is not None:
            status, headers, body = custom(seen)
            return self._answer(status, headers, body)
        route = self.server.routes.get(self.path)
        if route is None:
            return self._answer(404, {"Content-Type": "text/plain"}, b"not found")
        if route.delay:
            time.sleep(route.delay)
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.status != 200:
            return self._answer(route.status, headers, route.body)
        etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
        if route.etag:
            headers["ETag"] = etag
            if self.headers.get("If-None-Match") == etag:
                return self._answer(304, {"ETag": etag}, b"")
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
            if not route.etag and self.headers.get("If-Modified-Since") == route.last_modified:
                return self._answer(304, {}, b"")
        self._answer(200, headers, route.body)

    def do_POST(self) -> None:
        seen = self._record()
        custom = self.server.handler
        if custom is not None:
            status, headers, body = custom(seen)
        else:
            status, headers, body = self.server.next_post_answer()
        self._answer(status, headers, body)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up early (timeouts, body caps) are part of the tests

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.post_answers: list[tuple[int, dict[str, str], bytes]] = []
        self.handler: Callable[[Seen], tuple[int, dict[str, str], bytes]] | None = None

    def next_post_answer(self) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if self.post_answers:
                return self.post_answers.pop(0)
        return 200, {"Content-Type": "application/json"}, b'{"ok": true}'


class HTTPFixture:
    """A web server on 127.0.0.1:<random port> serving ``routes`` and recording requests."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HTTPFixture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def routes(self) -> dict[str, Route]:
        return self._server.routes

    @property
    def requests(self) -> list[Seen]:
        with self._server.lock:
            return list(self._server.requests)

    def posts(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST"]

    def answer_posts(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        with self._server.lock:
            self._server.post_answers.extend(answers)

    def set_handler(self, handler: Callable[[Seen], tuple[int, dict[str, str], bytes]]) -> None:
        self._server.handler = handler


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class SMTPFixture:
    """aiosmtpd on 127.0.0.1; ``stop()``/``start()`` simulate an outage on the same port."""

    def __init__(self, port: int = 0, **controller_options: Any) -> None:
        self.collector = _Collector()
        self._options = controller_options
        self.port = port or _free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(
            self.collector, hostname="127.0.0.1", port=self.port, **self._options
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPFixture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.collector.lock:
            return list(self.collector.messages)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
