"""Discord channel: a webhook receiving ``content`` plus one embed per story.

Deliver stage. ``content`` is the digest subject (``(2/3)`` when split, the "…and N
more" line in the last message); each embed has the watch as author, the title
(≤ 256) linked to the story, a description (≤ 4096) with the snippet in ``**bold**``
and "Also reported by" links, and ``source · time`` as footer. Feed text is
Markdown-escaped; ``allowed_mentions`` is empty so nothing pings. Limits: 10 embeds
and 6000 characters across embeds per message → split at story boundaries. Discord
counts characters as code points, as ``len`` does (its API is Python 3: discord-api-docs
issue 1315; Telegram counts UTF-16 units instead, see ``telegram``). A 429
is retried after the body's ``retry_after`` (seconds, float) or ``Retry-After``.
The webhook URL is a secret: never logged, never in errors. No storage.
"""

from __future__ import annotations

import httpx

from monitor.channels.chat import (
    ChatChannel,
    Markup,
    Message,
    Part,
    answer_error,
    fit,
    json_body,
    link_url,
    markdown_escaper,
    markdown_link,
    meta_text,
)
from monitor.channels.http_errors import retry_after_seconds
from monitor.config import DiscordChannelConfig
from monitor.normalize import shorten
from monitor.render import RenderedEntry

MAX_EMBEDS = 10
MAX_EMBED_CHARS = 6000  # title + description + footer + author over all embeds
CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FOOTER_MAX = 2048
AUTHOR_MAX = 256


def shorten_escaped(text: str, limit: int) -> str:
    """``escape(text)`` within ``limit`` characters, cut (with "…") before escaping."""
    keep = limit
    while len(out := escape(shorten(text, keep))) > limit:
        keep -= len(out) - limit
    return out


escape = markdown_escaper("\\`*_~|[]<>#")
DISCORD = Markup(escape=escape, bold=("**", "**"), link=markdown_link)


def embed(watch: str, entry: RenderedEntry) -> Message:
    def render(e: RenderedEntry) -> Message:
        description = "\n\n".join(x for x in (DISCORD.snippet(e), DISCORD.also(e)) if x)
        out: Message = {
            "author": {"name": shorten(watch, AUTHOR_MAX)},
            "title": shorten_escaped(e.display_title, TITLE_MAX),
            "description": description,
            "footer": {"text": shorten(meta_text(e), FOOTER_MAX)},
        }
        url = link_url(e.url)
        if url:
            out["url"] = url
        return out

    return fit(entry, render, lambda m: len(m["description"]) <= DESCRIPTION_MAX)


def embed_chars(message: Message) -> int:
    return sum(
        len(e["title"])
        + len(e["description"])
        + len(e["footer"]["text"])
        + len(e["author"]["name"])
        for e in message["embeds"]
    )


class DiscordChannel(ChatChannel[DiscordChannelConfig]):
    service = "Discord"

    def endpoint(self) -> str:
        return self.config.url

    def render(self, part: Part) -> Message:
        embeds = [embed(watch, entry) for watch, entries in part.sections() for entry in entries]
        content = "\n".join(x for x in (part.heading(CONTENT_MAX - 80), part.trailer) if x)
        return {"content": content, "embeds": embeds, "allowed_mentions": {"parse": []}}

    def fits(self, message: Message) -> bool:
        return len(message["embeds"]) <= MAX_EMBEDS and embed_chars(message) <= MAX_EMBED_CHARS

    def check(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        body = json_body(response)
        wait = body.get("retry_after")
        retry_after = (
            float(wait) if isinstance(wait, int | float) else retry_after_seconds(response)
        )
        detail = body.get("message")
        raise answer_error(
            self.name, self.service, response.status_code,
            detail if isinstance(detail, str) else response.reason_phrase, retry_after,
        )  # fmt: skip
