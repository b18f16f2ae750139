"""Slack channel: an incoming webhook receiving Block Kit messages.

Deliver stage. Each message has a ``header`` block (the digest subject, ``(2/3)`` when
split), a ``context`` block per watch, a ``section`` per story (``*<url|title>*``,
source · local time, the snippet with matched words in ``*bold*``, "Also reported
by" as links) and a ``text`` fallback for notifications. Feed text gets Slack's
``& < >`` escaping. Limits: 50 blocks per message, 3000 characters per section text,
150 per header; a longer digest is split at story boundaries, and only an overlong
snippet is cut with "…". The webhook URL is a secret: never logged, never in errors.
No storage.
"""

from __future__ import annotations

from monitor.channels.chat import (
    ChatChannel,
    Markup,
    Message,
    Part,
    escape_entities,
    fit,
)
from monitor.config import SlackChannelConfig
from monitor.render import RenderedEntry

MAX_BLOCKS = 50
SECTION_MAX = 3000
HEADER_MAX = 150

SLACK = Markup(
    escape=escape_entities,
    bold=("*", "*"),
    link=lambda text, url: f"<{escape_entities(url)}|{text}>",
)


def _context(mrkdwn: str) -> Message:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def story_block(entry: RenderedEntry) -> Message:
    text = fit(entry, SLACK.text, lambda t: len(t) <= SECTION_MAX)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


class SlackChannel(ChatChannel[SlackChannelConfig]):
    service = "Slack"

    def endpoint(self) -> str:
        return self.config.url

    def render(self, part: Part) -> Message:
        heading = escape_entities(part.heading(HEADER_MAX))
        blocks: list[Message] = [
            {"type": "header", "text": {"type": "plain_text", "text": heading, "emoji": True}}
        ]
        for watch, entries in part.sections():
            blocks.append(_context(SLACK.strong(escape_entities(watch))))
            blocks.extend(story_block(entry) for entry in entries)
        if part.trailer:
            blocks.append(_context(escape_entities(part.trailer)))
        return {"text": escape_entities(part.heading()), "blocks": blocks}

    def fits(self, message: Message) -> bool:
        return len(message["blocks"]) <= MAX_BLOCKS
