"""Docs that cannot rot: every command and every config key is in README.md."""

from __future__ import annotations

import argparse
import re

import pytest
from pydantic import BaseModel

from monitor import config
from monitor.cli import build_parser
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_is_documented(command: str) -> None:
    assert f"\n  {command} " in README


SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("[storage]", config.StorageSettings),
    ("[http]", config.HttpSettings),
    ("[defaults]", config.DefaultSettings),
    ("[delivery]", config.DeliverySettings),
    ("[stories]", config.StorySettings),
    ("[[sources]]", config.SourceConfig),
    ("[[watches]]", config.WatchConfig),
    ("[[subscribers]]", config.SubscriberConfig),
    ("[server]", config.ServerSettings),
    ("email", config.EmailChannelConfig),
    ("slack", config.SlackChannelConfig),
    ("discord", config.DiscordChannelConfig),
    ("teams", config.TeamsChannelConfig),
    ("mattermost", config.MattermostChannelConfig),
    ("telegram", config.TelegramChannelConfig),
    ("atom", config.AtomChannelConfig),
    ("webhook", config.WebhookChannelConfig),
    ("file", config.FileChannelConfig),
]
KEYS = [
    pytest.param(section, field.alias or name, id=f"{section}.{name}")
    for section, model in SECTIONS
    for name, field in model.model_fields.items()
]


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_every_config_key_is_documented(section: str, key: str) -> None:
    assert re.search(rf"(?m)(^|[\s#]){key} = ", README), f"{section} {key} missing from README.md"
