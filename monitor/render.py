"""Rendering: a frozen digest payload → subject, plain text, HTML and an email message.

Pure functions over the payload. Jinja2 autoescapes the HTML template, so every
piece of feed content is escaped; matched words are marked with ``<mark>`` in HTML
and ``**`` in text. Nothing here sends or stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from monitor.models import DigestPayload

_env = Environment(
    loader=PackageLoader("monitor", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    payload: DigestPayload
    subject: str
    text: str
    html: str

    @property
    def digest_id(self) -> str:
        return self.payload["digest_id"]


def mark(snippet: str, highlights: list[list[int]], before: str, after: str) -> str:
    """Wrap each highlighted range of ``snippet`` in ``before``/``after`` (no escaping)."""
    out, last = [], 0
    for start, end in sorted(highlights):
        if start < last or end > len(snippet) or start >= end:
            continue
        out += [snippet[last:start], before, snippet[start:end], after]
        last = end
    out.append(snippet[last:])
    return "".join(out)


def mark_html(snippet: str, highlights: list[list[int]]) -> Markup:
    """Escaped snippet with ``<mark>`` around the highlighted ranges."""
    out, last = Markup(), 0
    for start, end in sorted(highlights):
        if start < last or end > len(snippet) or start >= end:
            continue
        out += escape(snippet[last:start]) + Markup("<mark>") + escape(snippet[start:end])
        out += Markup("</mark>")
        last = end
    return out + escape(snippet[last:])


def watch_names(payload: DigestPayload) -> list[str]:
    names: list[str] = []
    for item in payload["items"]:
        names.extend(w for w in item["watches"] if w not in names)
    return names


def subject_for(payload: DigestPayload) -> str:
    """``3 new stories for cuba-visas, migration``."""
    count = len(payload["items"])
    noun = "story" if count == 1 else "stories"
    watches = ", ".join(watch_names(payload))
    return f"{count} new {noun} for {watches}" if watches else f"{count} new {noun}"


def local_time(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone)
    return f"{moment:%d %b %Y %H:%M} {moment.tzname()}"


def render_digest(payload: DigestPayload, zone: ZoneInfo) -> RenderedDigest:
    subject = subject_for(payload)
    items: list[dict[str, Any]] = []
    for entry in payload["items"]:
        highlights = entry.get("highlights", [])
        items.append(
            {
                **entry,
                "local_time": local_time(entry["published_at"], zone),
                "snippet_text": mark(entry["snippet"], highlights, "**", "**"),
                "snippet_html": mark_html(entry["snippet"], highlights),
            }
        )
    context = {
        "headline": subject,
        "items": items,
        "more": payload.get("more", 0),
        "subscriber": payload["subscriber"],
        "digest_id": payload["digest_id"],
    }
    text = _env.get_template("digest.txt.j2").render(context)
    html = _env.get_template("digest.html.j2").render(context)
    return RenderedDigest(payload=payload, subject=subject, text=text, html=html)


def email_message(rendered: RenderedDigest, *, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """A ``multipart/alternative`` message with a stable Message-ID per digest."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    created = datetime.fromisoformat(rendered.payload["created_at"].replace("Z", "+00:00"))
    message["Date"] = format_datetime(created)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "news-monitor.invalid"
    message["Message-ID"] = f"<{rendered.digest_id}@{domain}>"
    message["X-News-Monitor-Digest"] = rendered.digest_id
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def display_sender(address: str) -> str:
    """``news-monitor <alerts@example.org>`` unless the address already has a name."""
    name, addr = parseaddr(address)
    return address if name else formataddr(("news-monitor", addr))
