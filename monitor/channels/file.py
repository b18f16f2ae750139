"""File channel: writes ``<digest_id>.json`` (the webhook payload) and ``<digest_id>.eml``.

Files are written to a temporary name and renamed, so a reader never sees half a
digest and a repeated delivery overwrites the same two files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.channels.base import ChannelContext, Progress, write_atomically
from monitor.channels.webhook import payload_body
from monitor.config import FileChannelConfig
from monitor.errors import TransientDeliveryError
from monitor.render import RenderedDigest
from monitor.render_email import email_message


class FileChannel:
    def __init__(self, config: FileChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        folder = Path(config.path).expanduser()
        self.folder = folder if folder.is_absolute() else context.base_dir / folder

    async def send(self, digest: RenderedDigest, progress: Progress) -> None:
        message = email_message(
            digest, sender="news-monitor@localhost", to=("subscriber@localhost",)
        )
        files = {
            f"{digest.digest_id}.json": payload_body(digest),
            f"{digest.digest_id}.eml": message.as_bytes(),
        }
        try:
            await asyncio.to_thread(self._write, files)
        except OSError as exc:
            raise TransientDeliveryError(
                f"channel {self.name}: cannot write to {self.folder}: {exc.strerror}"
            ) from None

    def _write(self, files: dict[str, bytes]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_atomically(self.folder / name, data)
