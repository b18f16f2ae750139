"""Markup the HTML parser would crawl through, and its text without the parser.

Stage: extract and normalise (before Lexbor parses a page or a feed summary). Must
not: change markup that parses in reasonable time.

Lexbor, like any HTML5 tree builder, scans the stack of open elements on every
block-level start tag ("close a p element in button scope"), so the time to parse
grows with the square of the nesting of such elements: a million nested <div> would
take hours, and 100,000 (500 KB) take 20-50 s. ``too_deep`` finds such markup (and
markup with an absurd number of tags) from the text alone; ``tag_runs_replaced``
turns it into text with one separator per run of tags, scripts and styles dropped.
Both are linear in the size of the markup: every search stops at the next ``>``
or closing tag, never rescans what it passed.
"""

from __future__ import annotations

import itertools
import re

_BLOCK_OPEN_CLOSE_RE = re.compile(
    r"<(/?)(?:div|section|article|aside|nav|header|footer|main|ul|ol|dl|"
    r"blockquote|center|figure|figcaption|details|summary|fieldset|address|menu|dir|"
    r"hgroup|dialog|search)[\s/>]",  # any case, and <div/> (HTML opens a div there too)
    re.IGNORECASE,
)
_STEP = {"": 1, "/": -1}
_FEW_TAGS = 4_000  # below this, even the worst nesting parses in a few milliseconds
_MAX_TAGS = 300_000
_MAX_DEPTH = 400
_MAX_DEPTH_WORK = 20_000_000  # sum over block tags of the block depth they open at
_SCRIPT_OPEN_RE = re.compile(r"<(script|style)\b", re.IGNORECASE)
_SCRIPT_CLOSE_RE = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style")
}
_TAG_RUN_RE = re.compile(r"(?:\s*</?[a-zA-Z][\w:-]*(?:[\s/][^>]*)?>)+")  # <br/> too
_WS_RE = re.compile(r"\s+")


def too_deep(html: str) -> bool:
    """True when the block-level nesting would make the parser crawl."""
    tags = html.count("<")
    if tags < _FEW_TAGS:
        return False
    if tags > _MAX_TAGS:
        return True
    steps = map(_STEP.__getitem__, _BLOCK_OPEN_CLOSE_RE.findall(html))
    depths = list(itertools.accumulate(steps))
    return bool(depths) and (max(depths) > _MAX_DEPTH or sum(depths) > _MAX_DEPTH_WORK)


def tag_runs_replaced(html: str, separator: str) -> str:
    """``html`` without scripts and styles, each run of tags replaced by ``separator``.

    Whitespace runs become one space first (a tag run may start with spaces: a long
    run would be rescanned from each of its positions), and no tag is looked for past
    the last ``>`` (an unclosed ``<a `` would be searched to the end for one).
    """
    text = _WS_RE.sub(" ", without_scripts(html))
    end = text.rfind(">") + 1
    return _TAG_RUN_RE.sub(separator, text[:end]) + text[end:]


def without_scripts(html: str) -> str:
    """``html`` without its script and style elements (each to its first closing tag).

    One scan: an element that is never closed stays (its tags go later), and once a
    name has no closing tag left, its later openings are not searched for one again.
    """
    pieces, at, unclosed = [], 0, set()
    for opening in _SCRIPT_OPEN_RE.finditer(html):
        name = opening[1].lower()
        if opening.start() < at or name in unclosed:
            continue
        closing = _SCRIPT_CLOSE_RE[name].search(html, opening.end())
        if closing is None:
            unclosed.add(name)
            continue
        pieces += [html[at : opening.start()], " "]
        at = closing.end()
    pieces.append(html[at:])
    return "".join(pieces)
