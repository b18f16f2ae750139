"""httpcore's locks, events and cancel shields on asyncio's own primitives, not anyio's.

Stage: fetch (HTTP client set-up). Must not: change what is sent or received.

httpcore (1.0) builds its synchronisation for asyncio from anyio: every connection's
request lock and HTTP/1.1 state lock is an ``anyio.Lock`` (whose acquire yields to
the loop even when nobody holds it), and every response closes inside an
``anyio.CancelScope(shield=True)``. The first of them imports anyio's asyncio
backend (~25 ms of CPU, in every pass that fetches), and each costs task and
scope bookkeeping per request. news-monitor runs on asyncio only, so ``install``
gives httpcore's classes asyncio's lock and event, and a shield that does nothing:
anyio's shield only holds off anyio's own cancel scopes, and nothing here uses
them; the cancellations that reach a request (``asyncio.timeout`` deadlines, a
stopping daemon) pass through anyio's shield all the same. Outside a running
asyncio loop (trio) httpcore's own set-up runs. A pool timeout is still
httpcore's ``PoolTimeout``.

Reached through httpcore's private module ``_synchronization``; ``install`` does
nothing unless it holds the classes and methods replaced here (another httpcore).
"""

from __future__ import annotations

import asyncio
import functools
from types import TracebackType
from typing import Any

import httpcore

try:
    from httpcore import _synchronization as _sync
except ImportError:  # pragma: no cover - another httpcore
    _sync = None  # type: ignore[assignment]

_NAMES = ("AsyncLock", "AsyncEvent", "AsyncShieldCancellation")


class _NoShield:
    """What anyio's shield does against asyncio's cancellation: nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoShield:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


_NO_SHIELD = _NoShield()


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@functools.cache
def install() -> bool:
    """Swap the primitives' set-up (once per process); whether it could."""
    if _sync is None or not httpcore.__version__.startswith("1.0."):
        return False
    lock, event, shield = (getattr(_sync, name, None) for name in _NAMES)
    if lock is None or event is None or shield is None:
        return False
    if not all(hasattr(cls, m) for cls, m in ((lock, "setup"), (event, "setup"), (event, "wait"))):
        return False
    lock_setup, event_setup, event_wait = lock.setup, event.setup, event.wait
    shield_init = shield.__init__

    def setup_lock(self: Any) -> None:
        if not _on_asyncio():
            lock_setup(self)
            return
        self._backend = "asyncio"  # httpcore then awaits acquire() and calls release()
        self._anyio_lock = asyncio.Lock()

    def setup_event(self: Any) -> None:
        if not _on_asyncio():
            event_setup(self)
            return
        self._backend = "asyncio"  # httpcore then calls set()
        self._anyio_event = asyncio.Event()

    async def wait_event(self: Any, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not self._backend:
            self.setup()
        if not isinstance(getattr(self, "_anyio_event", None), asyncio.Event):
            await event_wait(self, timeout)
            return
        try:
            async with asyncio.timeout(timeout):
                await self._anyio_event.wait()
        except TimeoutError:
            raise httpcore.PoolTimeout("no connection became free in time") from None

    def init_shield(self: Any) -> None:
        if not _on_asyncio():
            shield_init(self)
            return
        self._backend = "asyncio"  # httpcore then enters and exits it
        self._anyio_shield = _NO_SHIELD

    setattr(lock, "setup", setup_lock)  # noqa: B010 - a method of httpcore's class
    setattr(event, "setup", setup_event)  # noqa: B010
    setattr(event, "wait", wait_event)  # noqa: B010
    setattr(shield, "__init__", init_shield)  # noqa: B010
    return True
