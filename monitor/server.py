"""The daemon's optional HTTP endpoint: health, readiness, metrics and Atom feeds.

``/healthz`` answers while the process lives; ``/readyz`` when the database answers
and the scheduler runs; ``/metrics`` is the Prometheus exposition; ``/feeds/<name>.xml``
serves the file an ``atom`` channel writes. A standard-library threaded server in a
daemon thread: requests never wait on the event loop, and the loop never waits on
them. It binds where ``[server] listen`` says (loopback unless told otherwise).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor.metrics import Metrics

logger = logging.getLogger(__name__)


class StatusServer:
    def __init__(
        self,
        listen: tuple[str, int],
        metrics: Metrics,
        ready: Callable[[], tuple[bool, str]],
        feeds: Mapping[str, Path],
    ) -> None:
        handler = _handler(metrics, ready, feeds)
        self._server = ThreadingHTTPServer(listen, handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="news-monitor-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        logger.info("HTTP endpoint on http://%s:%d (/healthz /readyz /metrics)", *self.address)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(
    metrics: Metrics, ready: Callable[[], tuple[bool, str]], feeds: Mapping[str, Path]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "news-monitor"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("http %s", format % args)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                return self._send(200, b"ok\n", "text/plain; charset=utf-8")
            if path == "/readyz":
                ok, detail = ready()
                return self._send(200 if ok else 503, f"{detail}\n".encode(), "text/plain")
            if path == "/metrics":
                return self._send(200, metrics.exposition(), "text/plain; version=0.0.4")
            if path.startswith("/feeds/") and path.endswith(".xml"):
                feed = feeds.get(path.removeprefix("/feeds/").removesuffix(".xml"))
                if feed is not None and feed.is_file():
                    return self._send(200, feed.read_bytes(), "application/atom+xml")
            self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
