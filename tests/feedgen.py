"""Build realistic RSS 2.0 and Atom documents for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Entry:
    title: str
    link: str
    description: str = ""
    guid: str | None = None
    published: datetime | None = None


def hours_ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def rss(title: str, entries: list[Entry], *, link: str = "https://news.example.org/") -> bytes:
    items = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>", f"<link>{escape(e.link)}</link>"]
        if e.guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.guid)}</guid>')
        if e.description:
            parts.append(f"<description>{escape(e.description)}</description>")
        if e.published:
            parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        "<description>Fixture feed</description><language>en-us</language>"
        + "\n".join(items)
        + "</channel></rss>"
    ).encode()


def atom(title: str, entries: list[Entry]) -> bytes:
    items = []
    for e in entries:
        when = (e.published or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        items.append(
            "<entry>"
            f"<title>{escape(e.title)}</title>"
            f'<link rel="alternate" href="{escape(e.link)}"/>'
            f"<id>{escape(e.guid or e.link)}</id>"
            f"<updated>{when}</updated>"
            f'<summary type="html">{escape(e.description)}</summary>'
            "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:fixture:{escape(title)}</id>"
        f"<updated>{datetime.now(UTC).isoformat().replace('+00:00', 'Z')}</updated>"
        + "\n".join(items)
        + "</feed>"
    ).encode()
