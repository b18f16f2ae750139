"""Delivery channels: one module per service behind the ``Channel`` protocol (see ``base``).

``CHANNELS`` maps a config ``type`` to its class; ``build_channels`` makes one
instance per configured channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from monitor.channels.atom import AtomChannel
from monitor.channels.base import Channel, ChannelContext, Progress
from monitor.channels.discord import DiscordChannel
from monitor.channels.email import EmailChannel
from monitor.channels.file import FileChannel
from monitor.channels.mattermost import MattermostChannel
from monitor.channels.slack import SlackChannel
from monitor.channels.teams import TeamsChannel
from monitor.channels.telegram import TelegramChannel
from monitor.channels.webhook import WebhookChannel
from monitor.config import Settings

CHANNELS: Mapping[str, Callable[[Any, ChannelContext], Channel]] = {
    "email": EmailChannel,
    "webhook": WebhookChannel,
    "file": FileChannel,
    "slack": SlackChannel,
    "discord": DiscordChannel,
    "teams": TeamsChannel,
    "telegram": TelegramChannel,
    "mattermost": MattermostChannel,
    "atom": AtomChannel,
}


def build_channels(settings: Settings, context: ChannelContext) -> dict[str, Channel]:
    return {c.name: CHANNELS[c.type](c, context) for c in settings.channels}


__all__ = ["CHANNELS", "Channel", "ChannelContext", "Progress", "build_channels"]
