"""Email form of a rendered digest: ``multipart/alternative`` with the right headers.

Text and HTML parts in UTF-8, a UTF-8 subject, ``Date``, a stable ``Message-ID``
per digest, and ``List-Unsubscribe`` (with one-click ``List-Unsubscribe-Post`` for
an https URL) when the channel configures one. Header values come from the config
and from counts; feed content never reaches a header, and the email library
refuses line breaks in headers. Pure: builds the message, sends nothing.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from monitor.render import RenderedDigest


def email_message(
    rendered: RenderedDigest,
    *,
    sender: str,
    to: tuple[str, ...],
    list_unsubscribe: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    created = datetime.fromisoformat(rendered.payload["created_at"].replace("Z", "+00:00"))
    message["Date"] = format_datetime(created)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "news-monitor.invalid"
    message["Message-ID"] = f"<{rendered.digest_id}@{domain}>"
    message["X-News-Monitor-Digest"] = rendered.digest_id
    if list_unsubscribe:
        message["List-Unsubscribe"] = f"<{list_unsubscribe}>"
        if list_unsubscribe.startswith("https://"):
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def display_sender(address: str) -> str:
    """``news-monitor <alerts@example.org>`` unless the address already has a name."""
    name, addr = parseaddr(address)
    return address if name else formataddr(("news-monitor", addr))
