"""Channels against real loopback peers: aiosmtpd, a webhook receiver, the file system."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import tracemalloc
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from monitor.channels import ChannelContext, Progress
from monitor.channels.email import EmailChannel
from monitor.channels.file import FileChannel
from monitor.channels.webhook import WebhookChannel
from monitor.config import EmailChannelConfig, FileChannelConfig, WebhookChannelConfig
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.models import DigestPayload
from monitor.render import render_digest
from tests.servers import HTTPFixture, Route, SMTPFixture

PAYLOAD: DigestPayload = {
    "version": 1,
    "digest_id": "20261127T080000Z-abc",
    "subscriber": "newsroom",
    "created_at": "2026-11-27T08:00:00Z",
    "items": [
        {
            "title": "<script>alert(1)</script> Cuba visa talks",
            "url": "https://news.example.org/a",
            "source": "feed-a",
            "published_at": "2026-11-27T07:00:00Z",
            "watches": ["cuba-visas"],
            "matched_terms": ["Cuba", "visa"],
            "snippet": "Cuba and the US enter visa talks",
            "highlights": [[0, 4], [22, 26]],
            "also_reported_by": [],
        }
    ],
}
DIGEST = render_digest(PAYLOAD, ZoneInfo("America/Havana"))


def context(client: httpx.AsyncClient, tmp_path: Path) -> ChannelContext:
    return ChannelContext(client, tmp_path)


async def test_email_multipart_with_escaping(smtp: SMTPFixture, tmp_path: Path) -> None:
    config = EmailChannelConfig(
        name="desk", type="email", to=("desk@example.org",), **{"from": "alerts@example.org"},
        host="127.0.0.1", port=smtp.port, security="none",
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        await EmailChannel(config, context(client, tmp_path)).send(DIGEST, Progress())
    (message,) = smtp.messages
    assert message["Subject"] == "1 new story for cuba-visas"
    assert message["Message-ID"] == "<20261127T080000Z-abc@example.org>"
    assert message["To"] == "desk@example.org"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "**Cuba** and the US enter **visa** talks" in plain
    assert "https://news.example.org/a" in plain
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert re.search(r"<mark[^>]*>Cuba</mark>", html)  # CSS is inlined into the tags


async def test_email_server_down_is_transient(tmp_path: Path) -> None:
    config = EmailChannelConfig(
        name="desk", type="email", to=("d@example.org",), **{"from": "a@example.org"},
        host="127.0.0.1", port=9, security="none", timeout=2,
    )  # fmt: skip
    async with httpx.AsyncClient() as client:
        with pytest.raises(TransientDeliveryError, match="channel desk: cannot reach SMTP server"):
            await EmailChannel(config, context(client, tmp_path)).send(DIGEST, Progress())


async def test_webhook_payload_headers_and_signature(hooks: HTTPFixture, tmp_path: Path) -> None:
    config = WebhookChannelConfig(
        name="hook", type="webhook", url=hooks.url("/in"), secret="s3cret"
    )
    async with httpx.AsyncClient() as client:
        await WebhookChannel(config, context(client, tmp_path)).send(DIGEST, Progress())
    (post,) = hooks.posts()
    assert post.headers["content-type"] == "application/json"
    assert post.headers["idempotency-key"] == "20261127T080000Z-abc"
    expected = hmac.new(b"s3cret", post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-news-monitor-signature"] == f"sha256={expected}"
    body = json.loads(post.body)
    assert body["version"] == 1 and body["subscriber"] == "newsroom"
    item = body["items"][0]
    for key in ("title", "url", "source", "published_at", "watches", "matched_terms", "snippet",
                "also_reported_by"):  # fmt: skip
        assert key in item


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, TransientDeliveryError), (429, TransientDeliveryError), (400, TransientDeliveryError),
     (401, PermanentDeliveryError), (403, PermanentDeliveryError), (404, PermanentDeliveryError)],
)  # fmt: skip
async def test_webhook_error_answers_are_failures(
    hooks: HTTPFixture, tmp_path: Path, status: int, error: type[Exception]
) -> None:
    hooks.answer_posts((status, {"Retry-After": "7"}, b"no"))
    config = WebhookChannelConfig(name="hook", type="webhook", url=hooks.url("/in"))
    async with httpx.AsyncClient() as client:
        with pytest.raises(error, match=f"channel hook: HTTP {status}") as caught:
            await WebhookChannel(config, context(client, tmp_path)).send(DIGEST, Progress())
    if isinstance(caught.value, TransientDeliveryError):
        assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    ("value", "seconds"), [("\u00b2", None), ("9" * 400, 86400.0), ("120", 120.0), ("soon", None)]
)
async def test_webhook_retry_after_is_read_as_the_fetcher_reads_it(
    hooks: HTTPFixture, tmp_path: Path, value: str, seconds: float | None
) -> None:
    """A Retry-After of non-ASCII digits raised a bare ValueError out of the channel, and
    400 nines became infinity (the next attempt's time then overflowed)."""
    hooks.answer_posts((503, {"Retry-After": value}, b"busy"))
    config = WebhookChannelConfig(name="hook", type="webhook", url=hooks.url("/in"))
    async with httpx.AsyncClient() as client:
        with pytest.raises(TransientDeliveryError, match="channel hook: HTTP 503") as caught:
            await WebhookChannel(config, context(client, tmp_path)).send(DIGEST, Progress())
    assert caught.value.retry_after == seconds


async def test_an_endless_answer_is_not_read_past_its_start(
    hooks: HTTPFixture, tmp_path: Path
) -> None:
    """A 200 whose body never ends (here 100 MB) is an accepted delivery: the channel
    keeps the first 64 KB of it and closes the connection, in bounded memory."""
    hooks.routes["/flood"] = Route(b"", filler=100_000_000)
    config = WebhookChannelConfig(name="hook", type="webhook", url=hooks.url("/flood"))
    tracemalloc.start()
    try:
        async with httpx.AsyncClient() as client:
            await WebhookChannel(config, context(client, tmp_path)).send(DIGEST, Progress())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
    assert [p.path for p in hooks.posts()] == ["/flood"]


@pytest.mark.parametrize("status", [200, 503])
async def test_an_answer_whose_body_does_not_decode_is_judged_by_its_status(
    hooks: HTTPFixture, tmp_path: Path, status: int
) -> None:
    """A 200 with a body that is not the gzip it claims raised httpx's DecodingError,
    taken for a network error: the delivery, already accepted, was sent again (a chat
    message posted twice). The status decides; the body is kept as far as it decoded."""
    hooks.answer_posts((status, {"Content-Encoding": "gzip"}, b"not gzip at all"))
    config = WebhookChannelConfig(name="hook", type="webhook", url=hooks.url("/in"))
    async with httpx.AsyncClient() as client:
        channel = WebhookChannel(config, context(client, tmp_path))
        if status == 200:
            await channel.send(DIGEST, Progress())
        else:
            with pytest.raises(TransientDeliveryError, match="channel hook: HTTP 503"):
                await channel.send(DIGEST, Progress())
    assert len(hooks.posts()) == 1


async def test_a_trickled_answer_times_out_as_a_whole(hooks: HTTPFixture, tmp_path: Path) -> None:
    """16 bytes every 0.1 s never trips a per-read timeout; the channel's ``timeout``
    covers the whole exchange."""
    hooks.routes["/slow"] = Route(b"x" * 20_000, trickle=0.1)
    config = WebhookChannelConfig(name="hook", type="webhook", url=hooks.url("/slow"), timeout=1.0)
    async with httpx.AsyncClient() as client:
        with pytest.raises(TransientDeliveryError, match="channel hook: timed out"):
            await WebhookChannel(config, context(client, tmp_path)).send(DIGEST, Progress())


async def test_file_channel_writes_json_and_eml(tmp_path: Path) -> None:
    config = FileChannelConfig(name="local", type="file", path="out")
    async with httpx.AsyncClient() as client:
        await FileChannel(config, context(client, tmp_path)).send(DIGEST, Progress())
    folder = tmp_path / "out"
    assert sorted(p.name for p in folder.iterdir()) == [
        "20261127T080000Z-abc.eml",
        "20261127T080000Z-abc.json",
    ]
    assert json.loads((folder / "20261127T080000Z-abc.json").read_text())["digest_id"] == (
        "20261127T080000Z-abc"
    )
    assert b"multipart/alternative" in (folder / "20261127T080000Z-abc.eml").read_bytes()
