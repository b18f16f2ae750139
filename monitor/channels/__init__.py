"""Delivery channels: one module per service behind the ``Channel`` protocol (see ``base``).

``CHANNELS`` maps a config ``type`` to its class; ``build_channels`` makes one
instance per configured channel.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from monitor.channels.base import Channel, ChannelContext, Progress
from monitor.config import Settings

# type -> "module:Class"; a channel's module (and its client library) is imported only
# when a configured channel of that type is built.
CHANNELS: Mapping[str, str] = {
    "email": "monitor.channels.email:EmailChannel",
    "webhook": "monitor.channels.webhook:WebhookChannel",
    "file": "monitor.channels.file:FileChannel",
    "slack": "monitor.channels.slack:SlackChannel",
    "discord": "monitor.channels.discord:DiscordChannel",
    "teams": "monitor.channels.teams:TeamsChannel",
    "telegram": "monitor.channels.telegram:TelegramChannel",
    "mattermost": "monitor.channels.mattermost:MattermostChannel",
    "atom": "monitor.channels.atom:AtomChannel",
}


def channel_class(kind: str) -> type[Channel]:
    module, _, name = CHANNELS[kind].partition(":")
    cls: type[Channel] = getattr(importlib.import_module(module), name)
    return cls


def build_channels(settings: Settings, context: ChannelContext) -> dict[str, Channel]:
    return {c.name: channel_class(c.type)(c, context) for c in settings.channels}  # type: ignore[call-arg]


__all__ = ["CHANNELS", "Channel", "ChannelContext", "Progress", "build_channels", "channel_class"]
