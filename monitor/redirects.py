"""Where a redirect leads, and whether two URLs share an origin.

Stage: fetch (URL checks between hops). Must not: fetch anything.

A URL that no parser accepts (a port out of range, a broken IPv6 host) is the
server's or the feed's fault: it fails the fetch as a ``FetchError``, not retried.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from monitor.errors import FetchError


def valid_url(url: str) -> str:
    """``url``, or FetchError when it cannot be parsed (a bad port, a broken IPv6 host)."""
    try:
        _ = urlsplit(url).port  # parses the host and port, which urlsplit alone defers
    except ValueError as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}") from None
    return url


def redirect_target(current: str, location: str) -> str:
    """Where a redirect leads; FetchError for a target that is not a valid HTTP(S) URL."""
    try:
        target = urljoin(current, location)
    except ValueError as exc:
        raise FetchError(f"invalid redirect target {location!r}: {exc}") from None
    if urlsplit(target).scheme not in ("http", "https"):
        raise FetchError(f"redirect to a non-HTTP URL: {target}")
    try:
        return valid_url(target)
    except FetchError:
        raise FetchError(f"invalid redirect target {location!r}") from None


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs have the same scheme, host and port."""
    if a == b:  # (every poll asks this of its source's own URL)
        return True
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, (pa.hostname or "").lower(), pa.port) == (
        pb.scheme, (pb.hostname or "").lower(), pb.port,
    )  # fmt: skip
