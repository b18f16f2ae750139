"""Email over STARTTLS and implicit TLS with AUTH against aiosmtpd on 127.0.0.1, the
certificate trusted through SSL_CERT_FILE like a system trust store; headers and
escaping of the received message."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.channels import ChannelContext, Progress
from monitor.channels.email import EmailChannel
from monitor.config import EmailChannelConfig
from monitor.digest import build_payload
from monitor.errors import PermanentDeliveryError
from monitor.render import render_digest
from monitor.store_digests import PendingAlert
from tests.servers import SMTPFixture

NOW = datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"alerts",
        b"s3cret-pass",
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issued.configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the client trusts it like the system store
    return server_context


@pytest.fixture
def starttls_server(certificate: ssl.SSLContext) -> Iterator[SMTPFixture]:
    server = SMTPFixture(tls_context=certificate, require_starttls=True,
                         authenticator=authenticator, auth_require_tls=True)  # fmt: skip
    with server:
        yield server


def hostile_digest() -> Any:
    alert = PendingAlert(
        alert_id=1, source="desk<script>", title="<script>alert(1)</script>\nBcc: victim@example.org",
        url="https://news.example.org/a?x=1&y=2", published_at=NOW - timedelta(hours=1),
        first_seen_at=NOW, watches=("cuba",), matched_terms=("Cuba",),
        snippet="Talks in Cuba & <b>Havana</b>", highlights=((9, 13),),
    )  # fmt: skip
    return render_digest(
        build_payload("20261127T130000Z-abc", "desk", NOW, [alert]), ZoneInfo("America/Havana")
    )


def channel(port: int, security: str, password: str = "s3cret-pass") -> EmailChannel:
    config = EmailChannelConfig(
        name="desk", type="email", to=("desk@example.org",), **{"from": "alerts@example.org"},
        host="localhost", port=port, security=security, username="alerts", password=password,
        timeout=10, list_unsubscribe="mailto:unsubscribe@example.org",
    )  # fmt: skip
    return EmailChannel(config, ChannelContext(httpx.AsyncClient(), Path(".")))


async def test_starttls_auth_headers_and_escaping(starttls_server: SMTPFixture) -> None:
    await channel(starttls_server.port, "starttls").send(hostile_digest(), Progress())
    (message,) = starttls_server.messages
    (envelope,) = starttls_server.collector.envelopes
    assert envelope.rcpt_tos == ["desk@example.org"]
    assert message["Subject"] == "1 new story for cuba"
    assert message["From"] == "news-monitor <alerts@example.org>"
    assert message["Message-ID"] == "<20261127T130000Z-abc@example.org>"
    assert message["List-Unsubscribe"] == "<mailto:unsubscribe@example.org>"
    assert message["Date"] is not None and message["Bcc"] is None
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>alert(1)</script> Bcc: victim@example.org" in plain  # one line, plain text
    assert "**Cuba**" in plain
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "desk&lt;script&gt;" in html
    assert "&lt;b&gt;Havana&lt;/b&gt;" in html and re.search(r"<mark[^>]*>Cuba</mark>", html)
    assert 'href="https://news.example.org/a?x=1&amp;y=2"' in html


async def test_wrong_password_is_permanent(starttls_server: SMTPFixture) -> None:
    with pytest.raises(PermanentDeliveryError, match="channel desk: SMTP authentication failed"):
        await channel(starttls_server.port, "starttls", password="wrong").send(
            hostile_digest(), Progress()
        )
    assert starttls_server.messages == []


async def test_untrusted_certificate_is_refused(
    starttls_server: SMTPFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(Exception, match="channel desk"):
        await channel(starttls_server.port, "starttls").send(hostile_digest(), Progress())
    assert starttls_server.messages == []


async def test_implicit_tls(certificate: ssl.SSLContext) -> None:
    # aiosmtpd cannot tell that an implicit-TLS connection is encrypted: allow AUTH anyway
    with SMTPFixture(
        ssl_context=certificate, authenticator=authenticator, auth_require_tls=False
    ) as server:
        await channel(server.port, "tls").send(hostile_digest(), Progress())
        assert len(server.messages) == 1


def test_an_smtp_error_that_quotes_the_password_does_not_carry_it() -> None:
    from monitor.channels.email import _reason

    error = OSError("server said: AUTH PLAIN s3cret-pass rejected")
    assert _reason(error, "s3cret-pass") == "server said: AUTH PLAIN *** rejected"
    assert _reason(OSError(""), None) == "no detail"
