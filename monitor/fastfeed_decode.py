"""Parse stage, fast path: the text feedparser would parse, from the body's bytes.

``decode`` repeats the first choice of feedparser's ``convert_to_utf8`` (RFC 3023:
the HTTP charset, the XML declaration, UTF-8 or ISO-8859-1 by media type) and its
rewrite of the XML declaration, and returns None when feedparser would go further:
byte-order marks other than UTF-8's, a BOM or an HTTP charset that disagrees with the
declared one, bytes that do not decode (feedparser then tries other charsets), and a
DOCTYPE (feedparser rewrites it and its entities).  Must not: guess a charset.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

_ENCODING = re.compile(rb"""^<\?.*encoding=['"](.*?)['"].*\?>""")  # feedparser's own
_XML_DECL = re.compile(r"^<\?xml[^>]*?>")
_XML_TYPES = ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity")
_OTHER_BOMS = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00", b"\x4c\x6f", b"\x00\x3c", b"\x3c\x00")


def decode(body: bytes, headers: Mapping[str, str] | None) -> str | None:
    """The text feedparser parses (its first choice of charset), or None."""
    bom = body.startswith(codecs.BOM_UTF8)
    data = body[3:] if bom else body
    if data[:2] in _OTHER_BOMS:
        return None
    declared = declared_encoding(data)
    if declared is None:
        return None
    content_type = (headers.get("content-type") if headers else None) or ""
    mime, charset = _content_type(content_type)
    if mime in _XML_TYPES or (mime.startswith("application/") and mime.endswith("+xml")):
        encoding = charset or declared or "utf-8"
    elif mime.startswith("text/"):
        encoding = charset or "us-ascii"
    else:
        encoding = declared or ("utf-8" if content_type else "iso-8859-1")
    encoding = "gb18030" if encoding.lower() == "gb2312" else encoding
    if (bom and not _same(encoding, "utf-8")) or (
        charset and declared and not _same(charset, declared)
    ):
        return None  # feedparser has its own rules for disagreeing charsets
    try:
        text = data.decode(encoding)
    except (ValueError, LookupError):  # UnicodeError; a name with a NUL in it
        return None
    if _XML_DECL.match(text):
        text = _XML_DECL.sub("<?xml version='1.0' encoding='utf-8'?>", text)
    else:
        text = "<?xml version='1.0' encoding='utf-8'?>\n" + text
    # A DOCTYPE (feedparser rewrites it and its entities; expat would expand them) can
    # only be spelled this way; one inside CDATA or text falls back too, harmlessly.
    return None if "<!DOCTYPE" in text else text


def declared_encoding(body: bytes) -> str | None:
    """The encoding the XML declaration names, lower-case ("" if none; None: not UTF-8)."""
    data = body[3:] if body.startswith(codecs.BOM_UTF8) else body
    match = _ENCODING.match(declaration_line(data))
    try:
        return match.group(1).decode("utf-8").lower() if match else ""
    except UnicodeDecodeError:
        return None


def declaration_line(data: bytes) -> bytes:
    """The first line of ``data`` up to its first ``?>``: all that ``_ENCODING`` is given.

    On a whole first line the pattern backtracks over every ``encoding="`` and every
    quote after it (a one-line feed that mentions ``encoding="base64"`` in its text
    costs minutes per megabyte); on the declaration alone it is instant. A first line
    without ``?>`` cannot match at all. ``feed_guard.cut_after_declaration`` gives
    feedparser, which runs the same pattern, the same line.
    """
    end = data.find(b"\n")
    line = data if end < 0 else data[:end]
    close = line.find(b"?>")
    return line[: close + 2] if close >= 0 else b""


def _content_type(value: str) -> tuple[str, str]:
    """feedparser's reading of Content-Type: the media type as sent, and the charset."""
    chunks = value.split(";")
    charset = ""
    for chunk in chunks[1:]:
        key, _, val = chunk.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'")
    return chunks[0].strip(), charset


def _same(a: str, b: str) -> bool:
    try:
        return codecs.lookup(a).name == codecs.lookup(b).name
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        return False
