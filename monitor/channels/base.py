"""The one protocol every delivery channel implements.

A channel takes a rendered digest and delivers it, or raises:

* ``TransientDeliveryError`` — worth retrying later (5xx, 408, 429, timeouts,
  connection failures, SMTP 4xx); ``retry_after`` carries the peer's wish;
* ``PermanentDeliveryError`` — retrying cannot help (401, 403, 404, 410, SMTP 5xx).

Returning normally means the service accepted the message. A channel must never
treat a 4xx/5xx answer as sent, must be safe to call again with the same digest
(webhooks carry ``Idempotency-Key``), and must not log secrets. Channels do not
touch storage: the outbox records every attempt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from monitor.render import RenderedDigest


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path``, then rename: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class Progress:
    """How many parts of a multi-part delivery the service has accepted.

    The outbox saves ``done`` as each part is accepted (``saved``), so a retry after
    part 3 of 5 failed, or a restart after a crash, resends parts 3 to 5 only. A
    channel that sends one message ignores it.
    """

    def __init__(self, done: int = 0, saved: Callable[[int], None] | None = None) -> None:
        self.done = done
        self._saved = saved

    def part_sent(self) -> None:
        self.done += 1
        if self._saved is not None:
            self._saved(self.done)


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What channels may use: a shared HTTP client and the config file's folder."""

    http: httpx.AsyncClient
    base_dir: Path


class Channel(Protocol):
    name: str

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        """Deliver ``digest`` or raise a ``DeliveryError`` subclass.

        A channel that splits a digest into several messages sends parts
        ``progress.done`` onwards and calls ``progress.part_sent()`` after each one the
        service accepted.
        """
