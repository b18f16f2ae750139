"""Parse stage, fast path: which entries of a feed are, byte for byte, the last poll's.

A feed that changed is usually the last one plus an entry or two. ``entry_chunks``
cuts the document's text into its entries (``<item>…</item>``, ``<entry>…</entry>``)
and hashes each, under a hash of what else decides how an entry reads: the base URL,
the root element and the namespace declarations. An entry whose hash was in the last
successful poll's list was read, stored and matched then, so the fast reader skips it.
What the rest of the read needs from it is stored with the hash: its date (for the
publishing pace) and whether it had a title (which decides whether a later channel
``<title>`` counts).

The cut is a text search, used only where it cannot mislead: not when a comment, CDATA
section or processing instruction mentions an entry tag; and the reader checks that
it met exactly one entry element per chunk, else it reads the document again in full.
A feed read by feedparser has no hashes (nothing is skipped the next time).

The entries to skip are not even parsed: ``without_children`` leaves their content
out of the text given to the XML parser (their tags stay, in place), which then
parses little more than the channel and the new entries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container, Sequence
from datetime import UTC, datetime

_START = re.compile(r"<(item|entry)(?:\s[^<>]*?)?(/?)>")
_END = {"item": re.compile(r"</item\s*>"), "entry": re.compile(r"</entry\s*>")}
# any start tag the reader could take for an entry: other case, or with a prefix
_ANY_START = re.compile(r"<(?:[\w.-]+:)?(?i:item|entry)[\s/>]")
_HIDDEN = {"<!--": "-->", "<![CDATA[": "]]>", "<?": "?>"}
_HIDDEN_START = re.compile(r"<!--|<!\[CDATA\[|<\?")
_ENTRY_TAG = re.compile(r"</?(?:item|entry)\b")
MAX_ENTRIES = 5000  # a longer feed is read in full each time (its hashes would be huge)

# entry hash -> (that entry's date, whether it had a title: the reader needs it to read
# a later channel <title> as feedparser does)
Unchanged = dict[str, tuple[datetime | None, bool]]


Span = tuple[int, int, int, int]  # an entry's start, end of its start tag, its end tag, end


def context_hash(base: str, root: str, decls: Sequence[tuple[str, str]]) -> str:
    """What else decides how an entry reads: the base URL, root element, namespaces."""
    return _hash(repr((base, root, *decls)))


def entry_chunks(
    text: str, decls: Sequence[tuple[str, str]]
) -> tuple[list[str], list[Span]] | None:
    """(a hash per entry, where each entry is), in document order; None when unsure.

    Unsure: a comment, CDATA section or processing instruction mentions an entry tag;
    an entry-like tag with a prefix or in another case (the reader may count it, the
    search does not see it); an entry inside an entry; a namespace prefix bound to two
    URIs (which one applies to an entry depends on where it sits); too many entries.
    Every entry the reader meets is then one of the chunks, in order, and the reader
    checks that the counts agree.
    """
    bound: dict[str, str] = {}
    for prefix, uri in decls:
        if bound.setdefault(prefix, uri) != uri:
            return None
    pos = 0
    while (hidden := _HIDDEN_START.search(text, pos)) is not None:
        end = text.find(_HIDDEN[hidden.group()], hidden.end())
        if end < 0 or _ENTRY_TAG.search(text, hidden.end(), end):
            return None
        pos = end
    hashes: list[str] = []
    spans: list[Span] = []
    pos = 0
    while (start := _START.search(text, pos)) is not None:
        if start.group(2):  # <item/>
            pos = closing_at = start.end()
        else:
            closing = _END[start.group(1)].search(text, start.end())
            if closing is None or _START.search(text, start.end(), closing.start()):
                return None  # no end, or an entry inside the entry
            pos, closing_at = closing.end(), closing.start()
        hashes.append(_hash(text[start.start() : pos]))
        spans.append((start.start(), start.end(), closing_at, pos))
        if len(hashes) > MAX_ENTRIES:
            return None
    if len(hashes) != len(_ANY_START.findall(text)):
        return None  # entry tags the search does not take for one
    return hashes, spans


def without_children(
    text: str, hashes: Sequence[str], spans: Sequence[Span], cut: Container[str]
) -> str:
    """``text`` with the content of each entry whose hash is in ``cut`` left out.

    The start and end tags stay, so the entries keep their places, names, attributes
    and namespaces; the reader skips these entries without looking inside. Only entries
    the last poll read whole (in a document that parsed) are cut: in the same context
    (the caller checks it, and parses the whole text when it differs) each is a
    well-formed element on its own, so the shorter text parses if and only if the
    whole text does. Parsing it costs a fraction of the whole (one new entry and the
    channel, where most polls of a changed feed find nothing else new).
    """
    pieces: list[str] = []
    pos = 0
    for digest, (_start, children, closing, _end) in zip(hashes, spans, strict=True):
        if digest in cut and children < closing:
            pieces.append(text[pos:children])
            pos = closing
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def read_stored(stored: str | None) -> tuple[str, Unchanged]:
    """(context hash, entries) of the last poll; they count only in the same context."""
    if not stored:
        return "", {}
    head, _, rest = stored.partition(" ")
    out: Unchanged = {}
    try:
        for entry in rest.split():
            digest, stamp, titled = entry.split(":")
            date = datetime.fromtimestamp(int(stamp), UTC) if stamp else None
            out[digest] = (date, titled == "t")
    except (ValueError, OverflowError, OSError):  # not what ``serialise`` writes: read it all
        return head, {}
    return head, out


def serialise(
    context_hash: str, hashes: Sequence[str], read: Sequence[tuple[datetime | None, bool]]
) -> str:
    """What ``sources.entry_hashes`` keeps for the next poll: ``hash:timestamp:t|-``."""
    entries = (
        f"{h}:{int(date.timestamp()) if date else ''}:{'t' if titled else '-'}"
        for h, (date, titled) in zip(hashes, read, strict=True)
    )
    return " ".join((context_hash, *entries))


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()
