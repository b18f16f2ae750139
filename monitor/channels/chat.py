"""What the chat channels (Slack, Discord, Teams, Telegram, Mattermost) share.

Deliver stage. ``plan`` splits a digest at story boundaries into parts that fit a
service's per-message limits — deterministically, so a retry plans the same parts and
resumes at ``Progress.done``. ``fit`` keeps one story within a per-story limit by
shortening an overlong snippet (cut with "…"), then the also-reported links, then the
title and its link: a story is never dropped. ``Markup`` renders a story with a service's escaping
(``escape_entities`` for Slack and Telegram, ``markdown_escaper`` for the Markdown
dialects) and safe links (``link_url``). ``ChatChannel`` posts the parts and maps
answers to delivery errors. Nothing here stores or logs; webhook URLs and bot tokens
are secrets, so error messages name the channel and the answer, never the URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from monitor.channels.base import ChannelContext, Progress
from monitor.channels.http_errors import (
    PERMANENT_STATUSES,
    post,
    retry_after_seconds,
    transport_failure,
)
from monitor.config_channels import ChatWebhookConfig, TelegramChannelConfig
from monitor.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.normalize import shorten
from monitor.render import RenderedDigest, RenderedEntry, mark, web_link

ELLIPSIS = "…"
MOST_ALSO_LINKS = 10
Message = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Story:
    watch: str
    entry: RenderedEntry
    first_of_watch: bool


@dataclass(frozen=True, slots=True)
class Part:
    """One message's share of a digest: its stories, its number, the trailer if last."""

    subject: str
    stories: tuple[Story, ...]
    number: int = 1
    total: int = 1
    more: int = 0

    def heading(self, limit: int | None = None) -> str:
        """The subject, with ``(2/3)`` when split, shortened to ``limit`` if given."""
        label = f" ({self.number}/{self.total})" if self.total > 1 else ""
        subject = self.subject if limit is None else shorten(self.subject, limit - len(label))
        return subject + label

    @property
    def trailer(self) -> str:
        return f"{ELLIPSIS}and {self.more} more in the next digest." if self.more else ""

    def sections(self) -> list[tuple[str, list[RenderedEntry]]]:
        """``(watch, stories)`` per watch; a watch begun in the last part is "(continued)"."""
        out: list[tuple[str, list[RenderedEntry]]] = []
        for story in self.stories:
            if not out or story.first_of_watch:
                title = story.watch if story.first_of_watch else f"{story.watch} (continued)"
                out.append((title, []))
            out[-1][1].append(story.entry)
        return out


def plan(digest: RenderedDigest, fits: Callable[[Part], bool]) -> list[Part]:
    """Split ``digest`` greedily at story boundaries into parts for which ``fits`` holds.

    Parts are measured pessimistically (a ``(999/999)`` label, the trailer in every
    part), so numbering them afterwards cannot push one over a limit.
    """
    stories = [Story(g.watch, e, i == 0) for g in digest.groups for i, e in enumerate(g.entries)]
    chunks: list[list[Story]] = [[]]
    for story in stories:
        trial = [*chunks[-1], story]
        if chunks[-1] and not fits(Part(digest.subject, tuple(trial), 999, 999, digest.more)):
            chunks.append([story])
        else:
            chunks[-1] = trial
    total = len(chunks)
    return [
        Part(digest.subject, tuple(chunk), n, total, digest.more if n == total else 0)
        for n, chunk in enumerate(chunks, 1)
    ]


def fit(entry: RenderedEntry, render: Callable[[RenderedEntry], T], ok: Callable[[T], bool]) -> T:
    """``render(entry)``, with the entry shortened step by step until ``ok`` holds."""
    out = render(entry)
    for shrink in (_shorter_snippet, _unlinked_also, _shorter_title, _unlinked_title):
        while not ok(out) and (smaller := shrink(entry)) is not None:
            entry, out = smaller, render(smaller)
    return out


def _shorter_snippet(entry: RenderedEntry) -> RenderedEntry | None:
    keep = len(entry.snippet) * 3 // 4
    snippet = shorten(entry.snippet.removesuffix(ELLIPSIS), keep) if keep > 1 else ""
    kept = tuple((s, e) for s, e in entry.highlights if e <= len(snippet.removesuffix(ELLIPSIS)))
    return replace(entry, snippet=snippet, highlights=kept) if entry.snippet else None


def _unlinked_also(entry: RenderedEntry) -> RenderedEntry | None:
    others = entry.also_reported_by
    unlinked = tuple((source, title, None) for source, title, _ in others)
    return replace(entry, also_reported_by=unlinked) if unlinked != others else None


def _shorter_title(entry: RenderedEntry) -> RenderedEntry | None:
    keep = len(entry.title) * 3 // 4
    return replace(entry, title=shorten(entry.title, keep)) if keep >= 16 else None


def _unlinked_title(entry: RenderedEntry) -> RenderedEntry | None:
    return replace(entry, url=None) if entry.url else None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_URL_BREAKERS = str.maketrans({c: f"%{ord(c):02X}" for c in ' "<>()|`\\'})


def one_line(text: str) -> str:
    """Feed text on one line: control characters and line breaks become spaces."""
    return _CONTROL.sub(" ", text)


def escape_entities(text: str, quote: bool = False) -> str:
    """``& < >`` as entities (Slack's rule; Telegram HTML); ``"`` too with ``quote``."""
    text = one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def markdown_escaper(specials: str) -> Callable[[str], str]:
    """An escaper that backslash-escapes ``specials`` and a leading list or quote marker."""
    pattern = re.compile("([" + re.escape(specials) + "])")
    leading = re.compile(r"^(\s*)(?:([-+>#])|(\d+)([.)]))")

    def escape(text: str) -> str:
        text = pattern.sub(r"\\\1", one_line(text))
        return leading.sub(lambda m: m[1] + ("\\" + m[2] if m[2] else m[3] + "\\" + m[4]), text)

    return escape


def markdown_link(text: str, url: str) -> str:
    return f"[{text}]({url})"


def link_url(url: str | None) -> str | None:
    """An absolute http(s) ``url`` safe inside chat link markup, else None."""
    safe = web_link(one_line(url or ""))
    return safe.translate(_URL_BREAKERS) if safe is not None else None


def meta_text(entry: RenderedEntry) -> str:
    """``source · local time`` as plain text."""
    return " · ".join(p for p in (entry.source, entry.local_time) if p)


@dataclass(frozen=True, slots=True)
class Markup:
    """How one service writes escaped text, bold and links; renders a story's lines."""

    escape: Callable[[str], str]
    bold: tuple[str, str]
    link: Callable[[str, str], str]  # (escaped text, link_url) -> link

    def strong(self, text: str) -> str:
        return f"{self.bold[0]}{text}{self.bold[1]}"

    def linked(self, text: str, url: str | None) -> str:
        safe = link_url(url)
        return self.link(self.escape(text), safe) if safe else self.escape(text)

    def title(self, entry: RenderedEntry) -> str:
        return self.strong(self.linked(entry.display_title, entry.url))

    def meta(self, entry: RenderedEntry) -> str:
        return self.escape(meta_text(entry))

    def snippet(self, entry: RenderedEntry) -> str:
        return mark(entry.snippet, entry.highlights, *self.bold, self.escape)

    def also(self, entry: RenderedEntry) -> str:
        others = entry.also_reported_by
        names = [self.linked(source, url) for source, _, url in others[:MOST_ALSO_LINKS]]
        extra = (
            f" and {len(others) - MOST_ALSO_LINKS} more" if len(others) > MOST_ALSO_LINKS else ""
        )
        return f"Also reported by: {', '.join(names)}{extra}" if names else ""

    def lines(self, entry: RenderedEntry) -> list[str]:
        parts = (self.title(entry), self.meta(entry), self.snippet(entry), self.also(entry))
        return [line for line in parts if line]

    def text(self, entry: RenderedEntry) -> str:
        return "\n".join(self.lines(entry))


def encode(message: Message) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or ``{}``."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def answer_error(
    channel: str, service: str, status: int, detail: str, retry_after: float | None = None,
    permanent: frozenset[int] = PERMANENT_STATUSES,
) -> DeliveryError:  # fmt: skip
    """``channel <name>: <Service> answered <status> <detail>`` as the right error."""
    what = f"channel {channel}: {service} answered {status} {one_line(detail)[:200]}".rstrip()
    if status in permanent:
        return PermanentDeliveryError(what)
    return TransientDeliveryError(what, retry_after=retry_after)


C = TypeVar("C", bound=ChatWebhookConfig | TelegramChannelConfig)
JSON = {"Content-Type": "application/json; charset=utf-8"}


class ChatChannel(Generic[C]):
    """A chat channel: plan the parts, render each as a message, post from ``done`` on."""

    service: ClassVar[str]

    def __init__(self, config: C, context: ChannelContext) -> None:
        self.name = config.name
        self.config: C = config
        self._http = context.http

    def endpoint(self) -> str:
        raise NotImplementedError

    def render(self, part: Part) -> Message:
        raise NotImplementedError

    def fits(self, message: Message) -> bool:
        raise NotImplementedError

    def messages(self, digest: RenderedDigest) -> list[Message]:
        """Every message of ``digest``, in order: the same list on every call."""
        return [self.render(p) for p in plan(digest, lambda p: self.fits(self.render(p)))]

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        for message in self.messages(digest)[progress.done :]:
            await self.post(message)
            progress.part_sent()

    async def post(self, message: Message) -> None:
        url, body, timeout = self.endpoint(), encode(message), self.config.timeout
        try:
            response = await post(self._http, url, content=body, headers=JSON, seconds=timeout)
        except httpx.InvalidURL:
            raise PermanentDeliveryError(f"channel {self.name}: bad {self.service} URL") from None
        except httpx.HTTPError as exc:
            raise transport_failure(self.name, exc) from None
        self.check(response)

    def check(self, response: httpx.Response) -> None:
        """Raise unless the service accepted the message (any 2xx)."""
        if not response.is_success:
            status, reason = response.status_code, response.reason_phrase
            raise answer_error(
                self.name, self.service, status, reason, retry_after_seconds(response)
            )
