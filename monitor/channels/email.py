"""Email channel: SMTP with STARTTLS, implicit TLS or none, and optional AUTH.

Sends the digest as ``multipart/alternative`` (text and HTML). TLS verifies
certificates against the system trust store (``SSL_CERT_FILE`` is honoured).
SMTP 4xx and connection problems are transient; 5xx and authentication failures
are permanent. The password is never logged.
"""

from __future__ import annotations

import ssl

import aiosmtplib

from monitor.channels.base import ChannelContext, Progress
from monitor.config import EmailChannelConfig
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.render import RenderedDigest
from monitor.render_email import display_sender, email_message


class EmailChannel:
    def __init__(self, config: EmailChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        config = self._config
        message = email_message(
            digest,
            sender=display_sender(config.from_),
            to=config.to,
            list_unsubscribe=config.list_unsubscribe,
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.effective_port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                tls_context=ssl.create_default_context() if config.security != "none" else None,
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(
                f"channel {self.name}: SMTP authentication failed ({exc.code})"
            ) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = PermanentDeliveryError if all(c >= 500 for c in codes) else None
            detail = f"channel {self.name}: recipients refused ({', '.join(map(str, codes))})"
            raise (error or TransientDeliveryError)(detail) from None
        except aiosmtplib.SMTPResponseException as exc:
            detail = f"channel {self.name}: SMTP {exc.code} {exc.message}".strip()
            if exc.code >= 500:
                raise PermanentDeliveryError(detail) from None
            raise TransientDeliveryError(detail) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            where = f"{config.host}:{config.effective_port}"
            raise TransientDeliveryError(
                f"channel {self.name}: cannot reach SMTP server {where} ({type(exc).__name__}: "
                f"{_reason(exc, config.password)})"
            ) from None


def _reason(exc: BaseException, password: str | None) -> str:
    """The exception's own words (200 characters at most), the password taken out."""
    text = str(exc).strip() or "no detail"
    if password:
        text = text.replace(password, "***")
    return text[:200]
