"""Chat channels (Slack, Discord, Teams, Telegram, Mattermost) against loopback receivers.

Each receiver validates every message against the service's documented schema and
limits before answering, the way the real service would refuse a bad one.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from monitor import config, outbox
from monitor.channels import CHANNELS, ChannelContext, Progress, build_channels
from monitor.channels.chat import ChatChannel, encode
from monitor.digest import build_payload, new_payload
from monitor.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from monitor.models import AlertMatch, FeedItem, NewItem
from monitor.render import RenderedDigest, render_digest
from monitor.store import Store
from monitor.store_digests import PendingAlert
from tests.servers import HTTPFixture, Seen

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)
TOKEN = "123456789:AAFakeSecret-Token_xyz"
STORY = re.compile(r"https://news\.example\.org/story/(\d+)")
NASTY_TITLE = "<script>alert(1)</script> Cuba & *visa* _talks_ ~x~ |y|\nsecond line"
NASTY_SNIPPET = "> Cuba & <b>visa</b> *talks* _x_ ~y~ |z| `c` @channel [a](javascript:x)"
Answer = tuple[int, dict[str, str], bytes]
TELEGRAM_OK: Answer = (200, {"Content-Type": "application/json"}, b'{"ok": true, "result": {}}')


# --- digests -----------------------------------------------------------------------


def alert(n: int, **changes: Any) -> PendingAlert:
    values: dict[str, Any] = dict(
        alert_id=n, source=f"feed-{n % 3}", title=f"Story {n} about Cuba visas",
        url=f"https://news.example.org/story/{n}", published_at=NOW - timedelta(minutes=n),
        first_seen_at=NOW, watches=("watch-a",) if n % 2 else ("watch-b",),
        matched_terms=("Cuba",), snippet=f"In Cuba today, story {n} " + "word " * 30,
        highlights=((3, 7),), updated=n % 10 == 3,
        also_reported_by=(("other-outlet", "Same story", f"https://other.example.net/{n}"),),
    )  # fmt: skip
    values.update(changes)
    return PendingAlert(**values)


def digest_of(alerts: list[PendingAlert], more: int = 0) -> RenderedDigest:
    payload = build_payload("20261127T130000Z-abc", "newsroom", NOW, alerts, more)
    return render_digest(payload, ZoneInfo("America/Havana"), ["watch-a", "watch-b"])


def nasty_digest() -> RenderedDigest:
    start = NASTY_SNIPPET.index("Cuba")
    return digest_of([alert(
        1, title=NASTY_TITLE, snippet=NASTY_SNIPPET, highlights=((start, start + 4),),
        also_reported_by=(("other) <x>", "t", "https://other.example.net/a(b)|c d"),),
    )])  # fmt: skip


# --- validators: one per service, raising AssertionError on a bad message ------------

MD_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\\\]])*)\]\((https?://[^()\s<>]+)\)")


def md_visible(text: str, specials: str) -> str:
    """Markdown as shown: feed text must not be able to format, link or quote anything."""
    text = MD_LINK.sub(lambda m: m[1], text).replace("**", "")
    for line in text.split("\n"):
        assert not re.match(r"\s*(?:[-+>#]|\d+[.)])", line), f"unescaped line start: {line!r}"
    loose = re.findall(r"(?<!\\)[" + re.escape(specials) + "]", text)
    assert not loose, f"unescaped {loose} in {text!r}"
    return re.sub(r"\\(.)", r"\1", text)


def validate_slack(seen: Seen) -> str:
    body = json.loads(seen.body)
    assert set(body) == {"text", "blocks"} and isinstance(body["text"], str) and body["text"]
    blocks = body["blocks"]
    assert 1 <= len(blocks) <= 50
    header = blocks[0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert 0 < len(header["text"]["text"]) <= 150
    texts = [header["text"]["text"]]
    for block in blocks[1:]:
        assert block["type"] in ("section", "context"), block
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and 0 < len(block["text"]["text"]) <= 3000
            texts.append(block["text"]["text"])
        else:
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert element["type"] == "mrkdwn" and 0 < len(element["text"]) <= 3000
                texts.append(element["text"])
    for text in texts:
        bare = re.sub(r"<https?://[^|<>\s]+\|[^<>]*>", "", text)
        assert "<" not in bare and ">" not in bare, f"raw angle bracket in {text!r}"
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), f"raw & in {text!r}"
    return "\n".join(texts)


def validate_discord(seen: Seen) -> str:
    body = json.loads(seen.body)
    assert set(body) <= {"content", "embeds", "allowed_mentions", "username"}
    assert isinstance(body["content"], str) and 0 < len(body["content"]) <= 2000
    assert body["allowed_mentions"] == {"parse": []}
    embeds = body["embeds"]
    assert len(embeds) <= 10
    total, texts = 0, [body["content"]]
    for embed in embeds:
        assert set(embed) <= {"title", "url", "description", "footer", "author"}
        assert 0 < len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
        assert len(embed["footer"]["text"]) <= 2048 and len(embed["author"]["name"]) <= 256
        if "url" in embed:
            assert re.fullmatch(r"https?://\S+", embed["url"])
            texts.append(embed["url"])
        total += sum(map(len, (embed["title"], embed["description"])))
        total += len(embed["footer"]["text"]) + len(embed["author"]["name"])
        md_visible(embed["title"], "*_~|`<>[]")
        md_visible(embed["description"], "*_~|`<>[]")
        texts += [embed["title"], embed["description"]]
        texts += [embed["footer"]["text"], embed["author"]["name"]]
    assert total <= 6000
    return "\n".join(texts)


def validate_teams(seen: Seen) -> str:
    assert len(seen.body) <= 28 * 1024
    body = json.loads(seen.body)
    assert body["type"] == "message" and len(body["attachments"]) == 1
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] in ("1.4", "1.5")
    texts: list[str] = []

    def walk(elements: list[dict[str, Any]]) -> None:
        for element in elements:
            if element["type"] == "Container":
                assert element["items"]
                walk(element["items"])
            else:
                assert element["type"] == "TextBlock" and element["wrap"] is True
                assert isinstance(element["text"], str) and element["text"]
                md_visible(element["text"], "*_`[]")
                texts.append(element["text"])

    walk(card["body"])
    return "\n".join(texts)


ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}


class TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, f"tag <{tag}> is not allowed"
        if tag == "a":
            assert len(attrs) == 1 and attrs[0][0] == "href" and attrs[0][1]
            assert re.fullmatch(r"https?://\S+", attrs[0][1])
        else:
            assert not attrs
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"


def validate_telegram(seen: Seen) -> str:
    assert seen.path == f"/bot{TOKEN}/sendMessage"
    body = json.loads(seen.body)
    assert set(body) == {"chat_id", "text", "parse_mode", "disable_web_page_preview"}
    assert body["chat_id"] == -100123 and body["parse_mode"] == "HTML"
    assert body["disable_web_page_preview"] is True
    text = body["text"]
    assert 0 < len(text.encode("utf-16-le")) // 2 <= 4096
    parser = TelegramHTML()
    parser.feed(text)
    parser.close()
    assert not parser.open, f"unclosed {parser.open}"
    bare = re.sub(r'</?[a-z]+(?: href="[^"<>]*")?>', "", text)
    assert "<" not in bare and ">" not in bare, f"raw angle bracket in {bare!r}"
    assert not re.search(r"&(?!amp;|lt;|gt;|quot;)", text), "raw &"
    return str(text)


def validate_mattermost(seen: Seen) -> str:
    body = json.loads(seen.body)
    assert set(body) <= {"text", "username"} and isinstance(body["text"], str)
    assert 0 < len(body["text"]) <= 16383
    shown = re.sub(r"^#### ", "", body["text"])
    shown = re.sub(r"^_(.*)_$", r"\1", shown, flags=re.MULTILINE)
    assert "@channel" not in md_visible(shown, "*_~|`<>[]")
    return str(body["text"])


# --- the services and their receivers ----------------------------------------------


@dataclass
class Service:
    type: str
    label: str
    validate: Callable[[Seen], str]
    ok: Answer
    extra: dict[str, Any] = field(default_factory=dict)


SERVICES = [
    Service("slack", "Slack", validate_slack, (200, {"Content-Type": "text/plain"}, b"ok")),
    Service("discord", "Discord", validate_discord, (204, {}, b"")),
    Service("teams", "Teams", validate_teams, (202, {}, b"")),
    Service(
        "telegram",
        "Telegram",
        validate_telegram,
        TELEGRAM_OK,
        {"token": TOKEN, "chat_id": -100123},
    ),
    Service("mattermost", "Mattermost", validate_mattermost, (200, {}, b"ok"), {"username": "nm"}),
]


class Receiver:
    """Validates each POST, then gives the next scripted answer or the service's 2xx.

    ``accepted`` holds the bodies answered 2xx and ``texts`` what they show.
    """

    def __init__(self, server: HTTPFixture, service: Service, http: httpx.AsyncClient) -> None:
        self.service, self.server, self.http = service, server, http
        self.texts: list[str] = []
        self.accepted: list[bytes] = []
        self.script: list[Answer] = []
        self.lock = threading.Lock()
        server.set_handler(self.handle)

    def handle(self, seen: Seen) -> Answer:
        try:
            text = self.service.validate(seen)
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            return 400, {"Content-Type": "text/plain"}, f"invalid: {exc!r}".encode()
        with self.lock:
            answer = self.script.pop(0) if self.script else self.service.ok
            if 200 <= answer[0] < 300:
                self.texts.append(text)
                self.accepted.append(seen.body)
        return answer

    def channel(self, name: str = "chat", **extra: Any) -> ChatChannel[Any]:
        raw: dict[str, Any] = {"name": name, "type": self.service.type, **self.service.extra}
        if self.service.type == "telegram":
            raw["api_url"] = self.server.base
        else:
            raw["url"] = self.server.url(f"/hooks/{self.service.type}/secret")
        settings = config.Settings.model_validate({"channels": [{**raw, **extra}]})
        channel = build_channels(settings, ChannelContext(self.http, Path(".")))[name]
        assert isinstance(channel, ChatChannel)
        return channel


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def make(hooks: HTTPFixture, http: httpx.AsyncClient) -> Callable[[str], Receiver]:
    return lambda kind: Receiver(hooks, next(s for s in SERVICES if s.type == kind), http)


@pytest.fixture(params=[s.type for s in SERVICES])
def receiver(request: pytest.FixtureRequest, make: Callable[[str], Receiver]) -> Receiver:
    return make(request.param)


def parts_of(channel: ChatChannel[Any], count: int) -> RenderedDigest:
    """The smallest digest that this channel sends as ``count`` messages."""
    low, high = 1, 400  # more stories never make fewer messages: bisect
    while low < high:
        middle = (low + high) // 2
        if len(channel.messages(digest_of([alert(i) for i in range(middle)]))) >= count:
            high = middle
        else:
            low = middle + 1
    digest = digest_of([alert(i) for i in range(low)])
    assert len(channel.messages(digest)) == count
    return digest


# --- tests -------------------------------------------------------------------------


async def test_large_digest_is_split_with_every_story_once(receiver: Receiver) -> None:
    digest = digest_of([alert(n) for n in range(120)], more=7)
    progress = Progress()
    await receiver.channel().send(digest, progress)
    texts = receiver.texts
    assert len(texts) >= 2 and progress.done == len(texts)
    stories = [int(n) for text in texts for n in STORY.findall(text)]
    assert sorted(stories) == list(range(120))
    for number, text in enumerate(texts, 1):
        assert f"120 new stories for watch-a, watch-b ({number}/{len(texts)})" in text
        assert ("and 7 more in the next digest." in text) == (number == len(texts))
    everything = "\n".join(texts)
    assert "Updated: Story 3 about Cuba visas" in everything.replace("\\", "")
    assert everything.count("Also reported by") == 120
    assert "(continued)" in everything or len(texts) == 2


async def test_feed_markup_comes_out_harmless(receiver: Receiver) -> None:
    await receiver.channel().send(nasty_digest(), Progress())
    (text,) = receiver.texts  # the receiver validated it: no raw markup, no live formatting
    if receiver.service.type not in ("slack", "telegram"):  # Markdown: no live link
        assert "](javascript" not in text.replace("\\](javascript", "")
    assert 'href="javascript' not in text and "<javascript" not in text
    if receiver.service.type in ("slack", "telegram"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "&lt;b&gt;visa&lt;/b&gt;" in text
    if receiver.service.type in ("discord", "mattermost"):
        assert "\\<script\\>alert(1)\\</script\\>" in text
    title_line = next(line for line in text.split("\n") if "alert" in line)
    assert "second line" in title_line  # the newline in the title became a space


async def test_failure_on_second_message_resumes_there(receiver: Receiver) -> None:
    channel = receiver.channel()
    digest = parts_of(channel, 3)
    expected = [encode(m) for m in channel.messages(digest)]
    receiver.script += [receiver.service.ok, (500, {"Content-Type": "text/plain"}, b"boom")]
    progress = Progress()
    label = receiver.service.label
    with pytest.raises(TransientDeliveryError, match=rf"^channel chat: {label} answered 500"):
        await channel.send(digest, progress)
    assert progress.done == 1 and receiver.accepted == expected[:1]
    await channel.send(digest, progress)  # the retry sends messages 2 and 3 only
    assert progress.done == 3 and receiver.accepted == expected
    assert len(receiver.server.posts()) == 4


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_refusals_are_permanent(receiver: Receiver, status: int) -> None:
    receiver.script.append((status, {"Content-Type": "text/plain"}, b"no"))
    progress = Progress()
    with pytest.raises(
        PermanentDeliveryError, match=rf"^channel chat: {receiver.service.label} answered {status}"
    ):
        await receiver.channel().send(nasty_digest(), progress)
    assert progress.done == 0


async def test_429_retry_after_header(receiver: Receiver) -> None:
    receiver.script.append((429, {"Retry-After": "7"}, b""))
    with pytest.raises(TransientDeliveryError) as caught:
        await receiver.channel().send(nasty_digest(), Progress())
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("kind", "body", "wait"),
    [
        (
            "discord",
            {"message": "You are being rate limited.", "retry_after": 2.5, "global": False},
            2.5,
        ),
        (
            "telegram",
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": {"retry_after": 3},
            },
            3.0,
        ),
    ],
)
async def test_429_retry_after_in_body(
    make: Callable[[str], Receiver], kind: str, body: dict[str, Any], wait: float
) -> None:
    receiver = make(kind)
    receiver.script.append((429, {"Content-Type": "application/json"}, json.dumps(body).encode()))
    with pytest.raises(TransientDeliveryError) as caught:
        await receiver.channel().send(nasty_digest(), Progress())
    assert caught.value.retry_after == wait


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (401, "Unauthorized", PermanentDeliveryError),
        (400, "Bad Request: chat not found", PermanentDeliveryError),
        (403, "Forbidden: bot was blocked by the user", PermanentDeliveryError),
        (404, "Not Found", PermanentDeliveryError),
        (400, f"Bad Request: bot{TOKEN} is weird", PermanentDeliveryError),
        (500, "Internal Server Error", TransientDeliveryError),
    ],
)
async def test_telegram_errors_never_show_the_token(
    make: Callable[[str], Receiver], status: int, description: str, error: type[Exception]
) -> None:
    receiver = make("telegram")
    body = {"ok": False, "error_code": status, "description": description}
    answer = (status, {"Content-Type": "application/json"}, json.dumps(body).encode())
    receiver.script.append(answer)
    with pytest.raises(error) as caught:
        await receiver.channel("tg").send(nasty_digest(), Progress())
    message = str(caught.value)
    assert TOKEN not in message and TOKEN not in repr(caught.value)
    assert "127.0.0.1" not in message and "sendMessage" not in message
    if status == 401:
        assert message == "channel tg: Telegram answered 401 Unauthorized"


async def test_telegram_network_errors_never_show_the_token(
    make: Callable[[str], Receiver],
) -> None:
    receiver = make("telegram")

    def slow(seen: Seen) -> Answer:
        time.sleep(1.0)
        return TELEGRAM_OK

    receiver.server.set_handler(slow)
    with pytest.raises(TransientDeliveryError) as caught:
        await receiver.channel("tg", timeout=0.2).send(nasty_digest(), Progress())
    assert str(caught.value) == "channel tg: timed out (ReadTimeout)"
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = config.Settings.model_validate(
        {
            "channels": [
                {"name": "tg", "type": "telegram", "token": TOKEN, "chat_id": 1, "api_url": closed}
            ]
        }
    )
    channel = build_channels(settings, ChannelContext(receiver.http, Path(".")))["tg"]
    with pytest.raises(TransientDeliveryError) as caught:
        await channel.send(nasty_digest(), Progress())
    assert str(caught.value) == "channel tg: network error (ConnectError)"
    assert TOKEN not in repr(caught.value)


async def test_overlong_snippet_is_cut_not_the_story(make: Callable[[str], Receiver]) -> None:
    long_snippet = "Cuba " + "visa talks continue " * 400
    receiver = make("slack")
    digest = digest_of([alert(1, snippet=long_snippet), alert(2)])
    await receiver.channel().send(digest, Progress())
    (text,) = receiver.texts
    assert sorted(STORY.findall(text)) == ["1", "2"]
    assert "…" in text and "*Cuba*" in text
    assert len(text) < len(long_snippet)


def test_config_models_registry_and_secrets(tmp_path: Path) -> None:
    raw = {
        "channels": [
            {"name": "s", "type": "slack", "url": "https://hooks.slack.com/services/T/B/x"},
            {"name": "d", "type": "discord", "url": "https://discord.com/api/webhooks/1/y"},
            {"name": "t", "type": "teams", "url": "https://prod.logic.azure.com/wf/z"},
            {"name": "m", "type": "mattermost", "url": "https://mm.example.org/hooks/w"},
            {"name": "g", "type": "telegram", "token": TOKEN, "chat_id": "@desk"},
        ]
    }
    settings = config.parse(raw, tmp_path / "monitor.toml", {})
    assert {c.type for c in settings.channels} <= set(CHANNELS)
    telegram = settings.channel("g")
    assert isinstance(telegram, config.TelegramChannelConfig)
    assert telegram.api_url == "https://api.telegram.org" and telegram.timeout == 30.0
    assert TOKEN in settings.secrets()
    assert "https://hooks.slack.com/services/T/B/x" in settings.secrets()
    bad = {"channels": [{"name": "g", "type": "telegram", "token": "a/b c", "chat_id": 1}]}
    with pytest.raises(ConfigError) as caught:
        config.parse(bad, tmp_path / "monitor.toml", {})
    assert "channels[0] (g).token" in str(caught.value) and "a/b c" not in str(caught.value)


async def test_outbox_resumes_a_split_digest_after_a_failure(
    make: Callable[[str], Receiver], tmp_path: Path
) -> None:
    receiver = make("discord")
    store = Store.open(f"sqlite:///{tmp_path / 'o.db'}", "w")
    store.claim_source("s", "u", now=NOW, lease=timedelta(minutes=5), due_before=NOW)
    items = []
    for n in range(25):  # distinct words: 25 stories, not one cluster
        words = " ".join(f"w{n}k{k}" for k in range(12))
        url = f"https://news.example.org/story/{n}"
        entry = FeedItem(f"k{n}", url, url, f"Cuba {words}", f"Cuba {words}", NOW)
        items.append(NewItem(entry, True, (AlertMatch("newsroom", ("w",), ("Cuba",), "Cuba"),)))
    store.save_poll("s", now=NOW, next_poll_at=NOW, etag=None, last_modified=None, new_items=items)
    store.create_digest("newsroom", channels=["chat"], now=NOW, max_items=50, due_before=NOW,
                        next_digest_at=NOW, build=lambda p, m: new_payload("newsroom", NOW, p, m))  # fmt: skip
    channel = receiver.channel()
    settings = config.Settings(delivery=config.DeliverySettings())
    receiver.script += [receiver.service.ok, (502, {}, b"")]
    now = [NOW]
    try:
        first = await outbox.drain(settings, store, {"chat": channel}, lambda: now[0])
        assert [o.status for o in first] == ["retry"] and len(receiver.accepted) == 1
        now[0] += timedelta(minutes=1)
        second = await outbox.drain(settings, store, {"chat": channel}, lambda: now[0])
        assert [o.status for o in second] == ["sent"]
    finally:
        store.close()
    assert len(receiver.accepted) == 3 and len(receiver.server.posts()) == 4
    stories = [int(n) for text in receiver.texts for n in STORY.findall(text)]
    assert sorted(stories) == list(range(25))
