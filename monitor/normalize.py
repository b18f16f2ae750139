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

# raw-text and template elements whose content is not visible text
_HIDDEN = re.compile(r"<(?:script|style|noscript|template)\b", re.IGNORECASE)


def html_to_text(fragment: str) -> str:
    """Visible text of an HTML fragment (a feed summary), whitespace collapsed."""
    if "<" not in fragment and "&" not in fragment:
        return collapse_space(fragment)
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    if _HIDDEN.search(fragment) is not None:
        for node in tree.css("script, style, noscript, template"):
            node.decompose()
    body = tree.body
    return collapse_space(body.text(separator=" ") if body is not None else "")


def collapse_space(text: str) -> str:
    """Runs of whitespace (``str.isspace``, as ``\\s`` in a regex) become one space; trimmed."""
    return " ".join(text.split())
