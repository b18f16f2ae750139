"""Telegram channel: the Bot API's ``sendMessage`` with ``parse_mode = "HTML"``.

Deliver stage. ``POST {api_url}/bot{token}/sendMessage`` with ``chat_id``, ``text``,
``parse_mode`` and ``disable_web_page_preview``. The text uses only ``<b>``, ``<u>``,
``<i>`` and ``<a href>``; feed text has ``< > &`` escaped (and ``"`` in links);
matched words are in ``<b>``. A message holds at most 4096 characters, counted
conservatively as UTF-16 units of the raw HTML; a longer digest is split at story
boundaries. Answers are ``{"ok": false, "error_code": N, "description": …}``: 429
is retried after ``parameters.retry_after``; 400, 401, 403 and 404 (chat not found,
bot blocked, wrong token) are permanent. The token is in the URL: it is never
logged and never put in an error message. No storage.
"""

from __future__ import annotations

import httpx

from monitor.channels.chat import (
    ChatChannel,
    Markup,
    Message,
    Part,
    answer_error,
    escape_entities,
    fit,
    json_body,
)
from monitor.channels.http_errors import retry_after_seconds
from monitor.config import TelegramChannelConfig
from monitor.render import RenderedEntry

TEXT_MAX = 4096
STORY_MAX = 3000
PERMANENT = frozenset({400, 401, 403, 404, 410})

TELEGRAM = Markup(
    escape=escape_entities,
    bold=("<b>", "</b>"),
    link=lambda text, url: f'<a href="{escape_entities(url, quote=True)}">{text}</a>',
)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def story_text(entry: RenderedEntry) -> str:
    return fit(entry, TELEGRAM.text, lambda t: utf16_length(t) <= STORY_MAX)


class TelegramChannel(ChatChannel[TelegramChannelConfig]):
    service = "Telegram"

    def endpoint(self) -> str:
        return f"{self.config.api_url.rstrip('/')}/bot{self.config.token}/sendMessage"

    def render(self, part: Part) -> Message:
        blocks = [TELEGRAM.strong(escape_entities(part.heading()))]
        for watch, entries in part.sections():
            blocks.append(f"<u>{escape_entities(watch)}</u>")
            blocks.extend(story_text(entry) for entry in entries)
        if part.trailer:
            blocks.append(f"<i>{escape_entities(part.trailer)}</i>")
        return {
            "chat_id": self.config.chat_id,
            "text": "\n\n".join(blocks),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }

    def fits(self, message: Message) -> bool:
        return utf16_length(message["text"]) <= TEXT_MAX

    def check(self, response: httpx.Response) -> None:
        body = json_body(response)
        if response.is_success and body.get("ok") is not False:
            return
        code = body.get("error_code")
        status = code if isinstance(code, int) else response.status_code
        parameters = body.get("parameters")
        wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
        retry_after = (
            float(wait) if isinstance(wait, int | float) else retry_after_seconds(response)
        )
        detail = body.get("description")
        detail = detail if isinstance(detail, str) else response.reason_phrase
        detail = detail.replace(self.config.token, "***")
        raise answer_error(self.name, self.service, status, detail, retry_after, PERMANENT)
