"""Microsoft Teams channel: a Power Automate / Workflows webhook receiving an Adaptive Card.

Deliver stage. The body is ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}``: a
TextBlock with the subject (``(2/3)`` when split), a TextBlock per watch, and per
story a Container of TextBlocks — ``**[title](url)**``, source · time, the snippet
with matched words in ``**bold**``, "Also reported by" links. Feed text is escaped
for the cards' Markdown subset (HTML is never rendered). Each message stays under
28 KB of JSON; a longer digest is split at story boundaries. Workflows answer 202.
The webhook URL is a secret: never logged, never in errors. No storage.
"""

from __future__ import annotations

from typing import Any

from monitor.channels.chat import (
    ChatChannel,
    Markup,
    Message,
    Part,
    encode,
    fit,
    markdown_escaper,
    markdown_link,
)
from monitor.config import TeamsChannelConfig
from monitor.render import RenderedEntry

MAX_BYTES = 28_000  # of JSON per message: Teams refuses messages over about 28 KB
STORY_MAX_BYTES = 8_000
CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"

escape = markdown_escaper("\\*_[]`")
TEAMS = Markup(escape=escape, bold=("**", "**"), link=markdown_link)


def text_block(text: str, **style: Any) -> Message:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def container(entry: RenderedEntry) -> Message:
    def render(e: RenderedEntry) -> Message:
        items = [text_block(TEAMS.title(e), weight="Bolder")]
        if TEAMS.meta(e):
            items.append(text_block(TEAMS.meta(e), isSubtle=True, size="Small", spacing="None"))
        items += [text_block(line) for line in (TEAMS.snippet(e), TEAMS.also(e)) if line]
        return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}

    return fit(entry, render, lambda c: len(encode(c)) <= STORY_MAX_BYTES)


class TeamsChannel(ChatChannel[TeamsChannelConfig]):
    service = "Teams"

    def endpoint(self) -> str:
        return self.config.url

    def render(self, part: Part) -> Message:
        body = [text_block(escape(part.heading()), size="Large", weight="Bolder")]
        for watch, entries in part.sections():
            body.append(text_block(escape(watch), weight="Bolder", color="Accent"))
            body.extend(container(entry) for entry in entries)
        if part.trailer:
            body.append(text_block(escape(part.trailer), isSubtle=True))
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
        }
        return {
            "type": "message",
            "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
        }

    def fits(self, message: Message) -> bool:
        return len(encode(message)) <= MAX_BYTES
