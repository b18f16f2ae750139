"""Generic webhook channel: POST the contract's JSON, signed when a secret is set.

Headers: ``Content-Type: application/json``, ``Idempotency-Key: <digest_id>`` and,
with ``secret``, ``X-News-Monitor-Signature: sha256=<hex HMAC-SHA256 of the body>``.
Any answer other than 2xx is a failure. The URL may hold a token: it is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from monitor.channels.base import ChannelContext, Progress
from monitor.channels.http_errors import post, raise_for_answer, transport_failure
from monitor.config import WebhookChannelConfig
from monitor.render import RenderedDigest


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def payload_body(digest: RenderedDigest) -> bytes:
    public = {k: v for k, v in digest.payload.items()}
    return json.dumps(public, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookChannel:
    def __init__(self, config: WebhookChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._http = context.http

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        body = payload_body(digest)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": digest.digest_id,
        }
        if self._config.secret:
            headers["X-News-Monitor-Signature"] = signature(self._config.secret, body)
        try:
            response = await post(
                self._http, self._config.url, content=body, headers=headers,
                seconds=self._config.timeout,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise transport_failure(self.name, exc) from None
        raise_for_answer(self.name, response)
