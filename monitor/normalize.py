"""Normalisation: canonical URLs, plain text from HTML fragments, item keys.

Pure functions over strings. Nothing here fetches, stores or logs. The URL rules
live in ``monitor.urls`` and are re-exported here, where the rest of the package
imports them from.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from monitor.urls import (
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonical_from_page,
    canonical_url,
    is_tracking_param,
)

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_from_page",
    "canonical_url",
    "collapse_space",
    "html_to_text",
    "is_tracking_param",
]

_SPACE = re.compile(r"\s+")


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed summary), whitespace collapsed."""
    if "<" not in fragment and "&" not in fragment:
        return _SPACE.sub(" ", fragment).strip()
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body
    text = body.text(separator=" ") if body is not None else ""
    return _SPACE.sub(" ", text).strip()


def collapse_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
