"""Mattermost channel: an incoming webhook receiving ``{"text": markdown}``.

Deliver stage. The post is Markdown: the subject as a heading (``(2/3)`` when
split), the watch in bold, per story ``**[title](url)**``, source · time, the
snippet with matched words in ``**bold**`` and "Also reported by" links; the
optional ``username`` is sent along. Feed text is Markdown-escaped and ``@`` is
defused so a story cannot notify ``@channel``. A post holds at most 16383
characters; a longer digest is split at story boundaries. The webhook URL is a
secret: never logged, never in errors. No storage.
"""

from __future__ import annotations

from monitor.channels.chat import (
    ChatChannel,
    Markup,
    Message,
    Part,
    fit,
    markdown_escaper,
    markdown_link,
)
from monitor.config import MattermostChannelConfig
from monitor.render import RenderedEntry

TEXT_MAX = 16383
STORY_MAX = 4000

_markdown = markdown_escaper("\\`*_~|[]<>#")


def escape(text: str) -> str:
    """Markdown-escaped, with a zero-width space after ``@`` so mentions never fire."""
    return _markdown(text).replace("@", "@\u200b")


MATTERMOST = Markup(escape=escape, bold=("**", "**"), link=markdown_link)


def story_text(entry: RenderedEntry) -> str:
    return fit(entry, MATTERMOST.text, lambda t: len(t) <= STORY_MAX)


class MattermostChannel(ChatChannel[MattermostChannelConfig]):
    service = "Mattermost"

    def endpoint(self) -> str:
        return self.config.url

    def render(self, part: Part) -> Message:
        blocks = [f"#### {escape(part.heading())}"]
        for watch, entries in part.sections():
            blocks.append(MATTERMOST.strong(escape(watch)))
            blocks.extend(story_text(entry) for entry in entries)
        if part.trailer:
            blocks.append(f"_{escape(part.trailer)}_")
        message: Message = {"text": "\n\n".join(blocks)}
        if self.config.username:
            message["username"] = self.config.username
        return message

    def fits(self, message: Message) -> bool:
        return len(message["text"]) <= TEXT_MAX
