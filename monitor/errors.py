"""One error tree for news-monitor.

Every error the package raises on purpose derives from ``NewsMonitorError``::

    NewsMonitorError
    ├── ConfigError            config.load: the file, a key or a reference is wrong (exit 2)
    ├── StorageError           store: the database cannot be opened or queried (exit 3)
    ├── FetchError             fetch: a source or page could not be fetched
    │   ├── FetchTimeout           the whole-request deadline passed
    │   ├── FetchConnectError      DNS, refused, reset, TLS
    │   ├── HTTPStatusError        the server answered 4xx/5xx (``status`` holds it)
    │   └── BodyTooLarge           the body exceeded ``http.max_bytes`` while streaming
    ├── ParseError             feeds: the body is not a feed we can read
    └── DeliveryError          channels: a digest could not be delivered
        ├── TransientDeliveryError   try again later (``retry_after`` seconds when the peer said)
        └── PermanentDeliveryError   retrying will not help (401/403/404, bad address)

Errors carry a message meant for an operator: it names the source, key or channel.
Nothing here knows about exit codes except ``exit_code`` on the two top-level
kinds the CLI maps directly.
"""

from __future__ import annotations


class NewsMonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""

    exit_code = 1


class ConfigError(NewsMonitorError):
    """Raised by ``config.load`` when the file, a key or a reference is invalid."""

    exit_code = 2


class StorageError(NewsMonitorError):
    """Raised by ``store`` when the database cannot be opened or used."""

    exit_code = 3


class FetchError(NewsMonitorError):
    """Raised by ``fetch`` when a URL could not be fetched."""


class FetchTimeout(FetchError):
    """Raised by ``fetch`` when the whole-request deadline passed."""


class FetchConnectError(FetchError):
    """Raised by ``fetch`` on DNS, connection, reset and TLS failures."""


class HTTPStatusError(FetchError):
    """Raised by ``fetch`` when the server answered with an error status."""

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class BodyTooLarge(FetchError):
    """Raised by ``fetch`` when a body passes ``http.max_bytes`` while streaming."""


class ParseError(NewsMonitorError):
    """Raised by ``feeds`` when a body is not a readable feed."""


class DeliveryError(NewsMonitorError):
    """Raised by a channel when a digest could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Raised by a channel for failures worth retrying (5xx, 429, timeouts, SMTP 4xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Raised by a channel when retrying cannot help (401/403/404, SMTP 5xx)."""
