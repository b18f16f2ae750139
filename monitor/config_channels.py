"""Channel configuration: one model per channel ``type``, as a discriminated union.

A ``[[channels]]`` table is validated against the model its ``type`` names; an
unknown type or key is a ConfigError naming the channel. Validation only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from monitor.config_types import HttpURL, Name, Section


class EmailChannelConfig(Section):
    name: Name
    type: Literal["email"]
    to: tuple[str, ...] = Field(min_length=1)
    from_: str = Field(alias="from")
    host: str
    port: int | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0
    list_unsubscribe: str | None = None  # a mailto: or https: URL for the List-Unsubscribe header

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


class WebhookChannelConfig(Section):
    name: Name
    type: Literal["webhook"]
    url: HttpURL
    secret: str | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0


class FileChannelConfig(Section):
    name: Name
    type: Literal["file"]
    path: str


class ChatWebhookConfig(Section):
    """A chat service's incoming webhook; the URL holds its secret."""

    name: Name
    url: HttpURL
    timeout: Annotated[float, Field(gt=0)] = 30.0


class SlackChannelConfig(ChatWebhookConfig):
    type: Literal["slack"]


class DiscordChannelConfig(ChatWebhookConfig):
    type: Literal["discord"]


class TeamsChannelConfig(ChatWebhookConfig):
    type: Literal["teams"]  # a Power Automate / Workflows webhook


class MattermostChannelConfig(ChatWebhookConfig):
    type: Literal["mattermost"]
    username: str | None = None


class TelegramChannelConfig(Section):
    name: Name
    type: Literal["telegram"]
    token: str = Field(pattern=r"^[^\s/?#]+$", min_length=1)  # a secret: it goes in the URL
    chat_id: int | str
    api_url: HttpURL = "https://api.telegram.org"
    timeout: Annotated[float, Field(gt=0)] = 30.0


class AtomChannelConfig(Section):
    """An Atom feed file of the subscriber's alerts (served by the daemon's endpoint)."""

    name: Name
    type: Literal["atom"]
    path: str
    title: str | None = None
    link: HttpURL | None = None  # the feed's public URL, for rel="self"
    max_entries: Annotated[int, Field(ge=1, le=10_000)] = 200


ChannelConfig = Annotated[
    EmailChannelConfig
    | WebhookChannelConfig
    | FileChannelConfig
    | SlackChannelConfig
    | DiscordChannelConfig
    | TeamsChannelConfig
    | MattermostChannelConfig
    | TelegramChannelConfig
    | AtomChannelConfig,
    Field(discriminator="type"),
]
