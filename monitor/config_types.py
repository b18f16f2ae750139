"""Configuration building blocks: a strict section base and the value types keys use.

Shared by ``config`` (the whole file) and ``config_channels`` (one model per channel
type). Validation only; nothing here reads files or the environment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from monitor.schedule import parse_duration

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=100)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


HttpURL = Annotated[str, BeforeValidator(lambda v: _http_url(v) if isinstance(v, str) else v)]


class Section(BaseModel):
    """A TOML table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
