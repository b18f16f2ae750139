"""Atom channel: the subscriber's alerts as an Atom feed file, for any feed reader.

Each delivered digest adds one entry per story at the top of the feed; the newest
``max_entries`` are kept. The file is rewritten atomically (temporary file and
rename) under an exclusive lock, so concurrent deliveries never lose an entry and a
reader never sees half a file. Entries are kept in a JSON file next to the feed so
the feed is rebuilt without parsing XML. ElementTree escapes every piece of feed
content. The daemon's HTTP endpoint serves the file when one is configured.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from monitor.channels.base import ChannelContext, Progress, write_atomically
from monitor.config import AtomChannelConfig
from monitor.errors import TransientDeliveryError
from monitor.render import RenderedDigest, mark_html

ATOM = "http://www.w3.org/2005/Atom"


class AtomChannel:
    def __init__(self, config: AtomChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        path = Path(config.path).expanduser()
        self.path = path if path.is_absolute() else context.base_dir / path

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        try:
            await asyncio.to_thread(self._write, digest)
        except OSError as exc:
            raise TransientDeliveryError(
                f"channel {self.name}: cannot write {self.path}: {exc.strerror}"
            ) from None

    def _write(self, digest: RenderedDigest) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        store = self.path.with_suffix(self.path.suffix + ".entries.json")
        with open(self.path.with_suffix(self.path.suffix + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries: list[dict[str, Any]] = []
            if store.exists():
                entries = json.loads(store.read_text(encoding="utf-8"))
            known = {e["id"] for e in entries}
            fresh = [e for e in entries_of(digest) if e["id"] not in known]
            entries = (fresh + entries)[: self._config.max_entries]
            write_atomically(store, json.dumps(entries, ensure_ascii=False).encode("utf-8"))
            write_atomically(
                self.path, feed_xml(self._config, digest.payload["subscriber"], entries)
            )


def entries_of(digest: RenderedDigest) -> list[dict[str, Any]]:
    """One Atom entry per story of the digest (ids stable across repeated deliveries)."""
    created = digest.payload["created_at"]
    out = []
    for n, entry in enumerate(digest.entries):
        also = ", ".join(source for source, _, _ in entry.also_reported_by)
        html = f"<p>{mark_html(entry.snippet, entry.highlights)}</p>"
        if also:
            html += f"<p>Also reported by: {mark_html(also, [])}</p>"
        out.append(
            {
                "id": f"urn:news-monitor:{digest.digest_id}:{n}",
                "title": entry.display_title,
                "url": entry.url,
                "source": entry.source,
                "published": created,
                "updated": created,
                "watches": list(entry.watches),
                "summary": entry.snippet,
                "html": html,
            }
        )
    return out


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def feed_xml(config: AtomChannelConfig, subscriber: str, entries: list[dict[str, Any]]) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = config.title or f"news-monitor: {subscriber}"
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"urn:news-monitor:feed:{config.name}"
    updated = entries[0]["updated"] if entries else "1970-01-01T00:00:00Z"
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    ET.SubElement(feed, f"{{{ATOM}}}generator").text = "news-monitor"
    if config.link:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=config.link)
    for item in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = item["id"]
        ET.SubElement(entry, f"{{{ATOM}}}title").text = item["title"]
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = item["updated"]
        ET.SubElement(entry, f"{{{ATOM}}}published").text = item["published"]
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        ET.SubElement(author, f"{{{ATOM}}}name").text = item["source"]
        if item["url"]:
            ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=item["url"])
        for watch in item["watches"]:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=watch)
        ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = item["summary"]
        ET.SubElement(entry, f"{{{ATOM}}}content", type="html").text = item["html"]
    # a feed's text may hold characters XML 1.0 forbids (C0 controls): they would make
    # the whole feed unreadable, so they go; markup never contains them
    text = _NOT_XML.sub("", ET.tostring(feed, encoding="unicode"))
    return ("<?xml version='1.0' encoding='utf-8'?>\n" + text).encode("utf-8")
