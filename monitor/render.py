"""Rendering: a frozen digest payload → subject, groups, plain text and HTML.

Pure functions over the payload. Items are grouped by watch (the first of an item's
watches, in the subscriber's order), one entry per story, newest first. Jinja2
autoescapes the HTML template and every piece of feed content is escaped; matched
words are marked with ``<mark>`` in HTML and ``**`` in text. The HTML gets its CSS
inlined (css-inline) for mail clients that drop ``<style>``, keeping the dark-mode
rules in the head for those that honour them. Chat channels build their own
markup from ``RenderedDigest.groups`` with ``mark``. Nothing here sends or stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from monitor.models import DigestEntry, DigestPayload

_env = Environment(
    loader=PackageLoader("monitor", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_inliner = css_inline.CSSInliner(keep_style_tags=True)


@dataclass(frozen=True, slots=True)
class RenderedEntry:
    """One story as every channel shows it."""

    title: str
    url: str | None
    source: str
    local_time: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    matched_terms: tuple[str, ...]
    watches: tuple[str, ...]
    also_reported_by: tuple[tuple[str, str, str | None], ...]  # source, title, url
    updated: bool

    @property
    def display_title(self) -> str:
        return f"Updated: {self.title}" if self.updated else self.title


@dataclass(frozen=True, slots=True)
class Group:
    watch: str
    entries: tuple[RenderedEntry, ...]


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    payload: DigestPayload
    subject: str
    groups: tuple[Group, ...]
    more: int
    text: str
    html: str

    @property
    def digest_id(self) -> str:
        return self.payload["digest_id"]

    @property
    def entries(self) -> list[RenderedEntry]:
        return [entry for group in self.groups for entry in group.entries]


def mark(
    snippet: str,
    highlights: Sequence[Sequence[int]],
    before: str,
    after: str,
    escape_text: Callable[[str], str] = str,
) -> str:
    """``snippet`` with each highlighted range wrapped in ``before``/``after``.

    ``escape_text`` escapes the pieces for the target format (HTML, Slack, Markdown);
    overlapping or out-of-range highlights are ignored rather than corrupting text.
    """
    out, last = [], 0
    for start, end in sorted((int(s), int(e)) for s, e in highlights):
        if start < last or end > len(snippet) or start >= end:
            continue
        out += [escape_text(snippet[last:start]), before, escape_text(snippet[start:end]), after]
        last = end
    out.append(escape_text(snippet[last:]))
    return "".join(out)


def mark_html(snippet: str, highlights: Sequence[Sequence[int]]) -> Markup:
    """Escaped snippet with ``<mark>`` around the highlighted ranges."""
    marked = mark(snippet, highlights, "<mark>", "</mark>", lambda s: str(escape(s)))
    return Markup(marked)  # noqa: S704 - every piece of feed text went through escape()


def subject_for(stories: int, watches: Sequence[str]) -> str:
    """``3 new stories for cuba-visas, migration``."""
    noun = "story" if stories == 1 else "stories"
    return f"{stories} new {noun} for {', '.join(watches)}" if watches else f"{stories} new {noun}"


def local_time(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)
    return f"{moment:%d %b %Y %H:%M} {moment.tzname()}"


def group_entries(
    payload: DigestPayload, zone: ZoneInfo, watch_order: Sequence[str] = ()
) -> tuple[Group, ...]:
    """Entries grouped under their first watch (subscriber's order), newest first."""
    rank = {name: i for i, name in enumerate(watch_order)}

    def primary(entry: DigestEntry) -> str:
        watches = entry["watches"] or ["(no watch)"]
        return min(watches, key=lambda w: (rank.get(w, len(rank)), watches.index(w)))

    grouped: dict[str, list[RenderedEntry]] = {}
    for entry in payload["items"]:
        grouped.setdefault(primary(entry), []).append(_entry(entry, zone))
    order = sorted(grouped, key=lambda w: (rank.get(w, len(rank)), list(grouped).index(w)))
    return tuple(Group(w, tuple(grouped[w])) for w in order)


def web_link(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None: a feed's ``javascript:``
    or ``data:`` link is never rendered as a link."""
    url = (url or "").strip()
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        return None
    return url


def _entry(entry: DigestEntry, zone: ZoneInfo) -> RenderedEntry:
    return RenderedEntry(
        title=" ".join(entry["title"].split()),  # no newlines: titles end up in one line
        url=web_link(entry["url"]),
        source=entry["source"],
        local_time=local_time(entry["published_at"], zone),
        snippet=entry["snippet"],
        highlights=tuple((int(s), int(e)) for s, e in entry.get("highlights", [])),
        matched_terms=tuple(entry["matched_terms"]),
        watches=tuple(entry["watches"]),
        also_reported_by=tuple(
            (other["source"], other["title"], web_link(other["url"]))
            for other in entry["also_reported_by"]
        ),
        updated=bool(entry.get("updated")),
    )


def render_digest(
    payload: DigestPayload, zone: ZoneInfo, watch_order: Sequence[str] = ()
) -> RenderedDigest:
    groups = group_entries(payload, zone, watch_order)
    subject = subject_for(len(payload["items"]), [g.watch for g in groups])
    more = payload.get("more", 0)
    context = {
        "headline": subject,
        "groups": groups,
        "more": more,
        "subscriber": payload["subscriber"],
        "digest_id": payload["digest_id"],
        "mark_text": lambda e: mark(e.snippet, e.highlights, "**", "**"),
        "mark_html": lambda e: mark_html(e.snippet, e.highlights),
    }
    text = _env.get_template("digest.txt.j2").render(context)
    html = _inliner.inline(_env.get_template("digest.html.j2").render(context))
    return RenderedDigest(payload, subject, groups, more, text, html)
