"""Remote text that made a pattern or a loop backtrack for minutes: each case runs the
real function in a child process with a CPU limit of LIMIT seconds, a wide margin over
the milliseconds it takes now (before, each took minutes or hours). This guards
against a hang coming back; it is not a speed measurement (``bench/`` does those)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMIT = 20  # seconds of CPU


def bounded(code: str) -> str:
    """Run ``code`` in a child interpreter killed after LIMIT s of CPU; its stdout."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (LIMIT, LIMIT))

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=10 * LIMIT, preexec_fn=limit, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, f"killed or failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def test_a_one_line_feed_with_encoding_in_its_text_and_many_quotes() -> None:
    """feedparser's declared-encoding pattern backtracked over every quote after an
    ``encoding="`` it could not use (quadratic: ~8 minutes here)."""
    out = bounded("""
        from monitor.feeds import parse_feed, parse_feed_reference
        body = (b'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel>'
                b'<title>t</title><item><title>Base64 encoding="base64" \\xe9</title>'
                b'<link>http://x.org/1</link><description>' + b'&quot; "' * 500_000
                + b'</description></item></channel></rss>')
        fast, reference = parse_feed(body, "u"), parse_feed_reference(body, "u")
        assert [i.title for i in fast.items] == [i.title for i in reference.items]
        print(fast.items[0].title)
    """)
    assert out.strip() == 'Base64 encoding="base64" é'


def test_an_unclosed_declaration_repeating_encoding() -> None:
    """The same pattern on ``<?encoding='encoding='...`` with no ``?>``: cubic (hours)."""
    out = bounded("""
        from monitor.errors import ParseError
        from monitor.feeds import parse_feed, parse_feed_reference
        for parse in (parse_feed, parse_feed_reference):
            try:
                parse(b"<?" + b"encoding='" * 100_000, "u")
            except ParseError as exc:
                print(str(exc)[:21])
    """)
    assert out.split("\n")[:2] == ["not an RSS or Atom fe"] * 2
