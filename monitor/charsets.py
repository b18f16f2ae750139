"""Charset names that name no character set: a fetched document is never decoded with one.

Stage: parse (feeds and pages, before any bytes are decoded). Must not: guess a
charset, or turn away a name merely unknown.

Python's codec registry holds, besides character sets, text codecs that are not one:
``idna`` and ``punycode`` (host names), ``unicode-escape`` and ``raw-unicode-escape``
(Python literals), ``charmap`` and ``undefined``. A document naming one of them is
hostile or broken, and decoding with it is worse than wrong: ``punycode`` decodes in
quadratic time (a 237 KB feed took 0.64 s, so 10 MB would take ~20 minutes, ad hoc),
and both ``punycode`` and ``idna`` raise a bare ``UnicodeError`` that is not a
``UnicodeDecodeError``, in feedparser too. Such a name in an HTTP header or an HTML
page counts as none at all; a feed whose XML declaration names one is refused. An
unknown name is left to the readers, which fall back from it as they always did.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping

NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "charmap", "undefined"}
)


def is_foreign(name: str) -> bool:
    """Whether ``name`` is a Python text codec that is no character set (an alias counts).

    An unknown name is not foreign: decoding with it fails as before (``LookupError``),
    and the readers fall back as they always did.
    """
    try:
        return codecs.lookup(name).name in NOT_CHARSETS
    except LookupError:
        return False
    except ValueError:  # a NUL in the name: no charset is spelled so
        return True


def without_foreign_charset(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """``headers`` with a ``charset`` parameter that names no character set left out
    of the Content-Type (as browsers ignore a label they do not know)."""
    content_type = headers.get("content-type") if headers else None
    if not headers or not content_type or "charset" not in content_type.lower():
        return headers
    parts = content_type.split(";")
    kept = [part for part in parts if not _names_foreign_charset(part)]
    if len(kept) == len(parts):
        return headers
    return {**headers, "content-type": ";".join(kept)}


def _names_foreign_charset(parameter: str) -> bool:
    key, _, value = parameter.partition("=")
    return key.strip().lower() == "charset" and is_foreign(value.strip().strip("\"'"))
