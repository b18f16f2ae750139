"""The ``news-monitor`` script and ``python -m monitor``: start-up without garbage collection.

Start-up imports SQLAlchemy, pydantic and httpx and builds the config models: hundreds
of thousands of objects that live as long as the process. The cyclic garbage
collector walks them over and over while they are being created (about a tenth of
start-up), then again in every full collection of the pass, in this process and in
the forked parse workers, where each walk also copies the pages it touches.

``entry`` turns collection off for the imports. ``main`` calls ``started`` once the
config is loaded: what exists then is frozen (moved where no collection looks) and
collection is turned back on for the command's own work. Before exit the same freeze
skips the interpreter's last walk over everything; atexit handlers, log flushing and
module teardown still run. Code that calls ``monitor.cli.main`` itself (the tests)
never pauses collection, and ``started`` does nothing there.
"""

from __future__ import annotations

import gc
import sys

_paused = False


def entry() -> None:
    """Run the command line (``monitor.cli.main``) and exit with its code."""
    global _paused
    gc.disable()
    _paused = True
    from monitor.cli import main

    code = main()
    gc.freeze()
    sys.exit(code)


def started() -> None:
    """Start-up is over: freeze what it built and collect garbage again (if paused)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
