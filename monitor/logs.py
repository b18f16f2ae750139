"""Logging setup: text or JSON lines on stderr, with secrets redacted.

Every module logs through ``logging.getLogger(__name__)`` with %-style arguments;
this module only decides the format and removes known secret values (passwords,
webhook URLs and tokens from the config) from every record before it is written.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "***"


class RedactingFilter(logging.Filter):
    """Replaces each secret string in a record's final message with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a URL is redacted whole before a token inside it.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        text = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        if text != message:
            record.msg, record.args = text, None
        return True

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and error)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(verbosity: int, fmt: str, secrets: Iterable[str] = ()) -> None:
    """``verbosity``: -1 quiet (warnings), 0 info, 1 debug."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries stay quiet unless asked for debug output.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosmtplib"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbosity > 0 else logging.WARNING)


def add_secrets(secrets: Iterable[str]) -> None:
    """Redact these too (used after a config reload)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(secrets))
