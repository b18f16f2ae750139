"""Configuration: a TOML file → validated, immutable settings.

Channel models live in ``config_channels`` and value types in ``config_types``; they
are re-exported here (``__all__``) so callers import everything from ``config``.

Validation happens once, here, at load. Every problem is reported as a
``ConfigError`` naming the file, the key and what is wrong, so an operator can fix
it without reading code. This module reads the file and the environment; it does
not open the database or the network.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator
from sqlalchemy.engine import make_url

from monitor.config_channels import (
    AtomChannelConfig,
    ChannelConfig,
    DiscordChannelConfig,
    EmailChannelConfig,
    FileChannelConfig,
    MattermostChannelConfig,
    SlackChannelConfig,
    TeamsChannelConfig,
    TelegramChannelConfig,
    WebhookChannelConfig,
)
from monitor.config_checks import check_references
from monitor.config_types import Duration, HttpURL, Name, PositiveDuration, Section
from monitor.errors import ConfigError
from monitor.schedule import (
    Schedule,
    parse_quiet_hours,
    parse_schedule,
)

__all__ = [
    "AtomChannelConfig",
    "ChannelConfig",
    "DefaultSettings",
    "DeliverySettings",
    "DiscordChannelConfig",
    "EmailChannelConfig",
    "FileChannelConfig",
    "HttpSettings",
    "MattermostChannelConfig",
    "ServerSettings",
    "Settings",
    "SlackChannelConfig",
    "SourceConfig",
    "StorageSettings",
    "StorySettings",
    "SubscriberConfig",
    "TeamsChannelConfig",
    "TelegramChannelConfig",
    "WatchConfig",
    "WebhookChannelConfig",
    "config_path",
    "load",
    "parse",
]

DEFAULT_CONFIG = Path("config/monitor.toml")
DEFAULT_USER_AGENT = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"


class StorageSettings(Section):
    url: str = "sqlite:///news-monitor.db"
    retention_days: Annotated[int, Field(ge=1)] = 90


class StorySettings(Section):
    window: PositiveDuration = timedelta(days=3)
    similarity: Annotated[float, Field(gt=0, le=1)] = 0.4


class HttpSettings(Section):
    user_agent: str = DEFAULT_USER_AGENT
    timeout: Annotated[float, Field(gt=0)] = 30.0
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 32
    per_host: Annotated[int, Field(ge=1, le=100)] = 2
    max_bytes: Annotated[int, Field(ge=1024)] = 10_000_000
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    allow_private_networks: bool = False


class DefaultSettings(Section):
    interval: PositiveDuration = timedelta(minutes=15)
    min_interval: PositiveDuration = timedelta(minutes=5)
    max_backoff: PositiveDuration = timedelta(hours=24)
    max_age: Duration = timedelta(days=3)
    stale_after: PositiveDuration = timedelta(days=7)  # no new item this long: reported stale
    alert_after_failures: Annotated[int, Field(ge=1)] = 5  # then the admin channel hears


class ServerSettings(Section):
    """The daemon's HTTP endpoint (health, readiness, metrics, Atom feeds); off by default."""

    listen: str | None = None  # "127.0.0.1:9108"
    shutdown_grace: Duration = timedelta(seconds=20)

    @property
    def address(self) -> tuple[str, int] | None:
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected host:port such as '127.0.0.1:9108', got {value!r}")
        return value


class DeliverySettings(Section):
    retry_initial: PositiveDuration = timedelta(seconds=5)
    retry_max: PositiveDuration = timedelta(hours=1)
    give_up_after: PositiveDuration = timedelta(hours=24)


class SourceConfig(Section):
    name: Name
    url: HttpURL
    type: Literal["feed", "page"] = "feed"
    interval: PositiveDuration | None = None
    min_interval: PositiveDuration | None = None
    cron: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Annotated[float, Field(gt=0)] | None = None
    full_text: bool = False
    links: str | None = None
    max_age: Duration | None = None


class WatchConfig(Section):
    name: Name
    terms: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    query: str | None = None
    languages: tuple[str, ...] = ()
    alert_on_update: bool = False

    @field_validator("terms", "exclude")
    @classmethod
    def _no_blank_terms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for term in value:
            if not term.strip():
                raise ValueError("a term cannot be empty")
        return value


class SubscriberConfig(Section):
    name: Name
    watches: tuple[str, ...] = Field(min_length=1)
    channels: tuple[str, ...] = Field(min_length=1)
    schedule: str = "immediate"
    timezone: str = "UTC"
    max_items: Annotated[int, Field(ge=1)] = 50
    min_items: Annotated[int, Field(ge=1)] = 1
    quiet_hours: str | None = None  # "22:00-07:00" in the subscriber's time zone
    fallback: str | None = None  # a channel that gets a digest another channel gave up on
    alert_on_update: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule, self.zone)

    def is_quiet(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in this subscriber's quiet hours (local time)."""
        if self.quiet_hours is None:
            return False
        return parse_quiet_hours(self.quiet_hours).contains(moment.astimezone(self.zone))


class Settings(Section):
    """The whole validated configuration. ``path`` is the file it came from."""

    path: Path = Field(default=DEFAULT_CONFIG, exclude=True)
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    defaults: DefaultSettings = DefaultSettings()
    delivery: DeliverySettings = DeliverySettings()
    server: ServerSettings = ServerSettings()
    stories: StorySettings = StorySettings()
    sources: tuple[SourceConfig, ...] = ()
    watches: tuple[WatchConfig, ...] = ()
    channels: tuple[ChannelConfig, ...] = ()
    subscribers: tuple[SubscriberConfig, ...] = ()

    def source_interval(self, source: SourceConfig) -> timedelta:
        return source.interval or self.defaults.interval

    def source_min_interval(self, source: SourceConfig) -> timedelta:
        """The shortest wait between polls; never longer than the interval."""
        wanted = source.min_interval or self.defaults.min_interval
        return min(wanted, self.source_interval(source))

    def source_max_age(self, source: SourceConfig) -> timedelta:
        return source.max_age or self.defaults.max_age

    def channel(self, name: str) -> ChannelConfig:
        return next(c for c in self.channels if c.name == name)

    def watch(self, name: str) -> WatchConfig:
        return next(w for w in self.watches if w.name == name)

    def secrets(self) -> list[str]:
        """Values that must never appear in logs: passwords, webhook URLs, secrets, tokens."""
        found: list[str] = []
        for channel in self.channels:
            for key in ("password", "secret", "url", "token"):
                value = getattr(channel, key, None)
                if isinstance(value, str) and value:
                    found.append(value)
        if "@" in self.storage.url:
            found.append(self.storage.url)
            password = make_url(self.storage.url).password
            if password:
                found.append(str(password))
        return found

    def resolve_path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.path.parent / path


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """``--config``, else ``$NEWS_MONITOR_CONFIG``, else ``config/monitor.toml``."""
    if cli_value:
        return Path(cli_value)
    if environ.get("NEWS_MONITOR_CONFIG"):
        return Path(environ["NEWS_MONITOR_CONFIG"])
    return DEFAULT_CONFIG


def load(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand ``${VAR}`` and validate a config file. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(raw, path, environ)


def parse(raw: dict[str, Any], path: Path, environ: Mapping[str, str]) -> Settings:
    """Validate an already-parsed TOML document (``load`` without the file)."""
    expanded = _expand_env(raw, (), path, environ)
    try:
        settings = Settings.model_validate({**expanded, "path": path})
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(path, raw, exc)) from None
    settings = settings.model_copy(
        update={
            "storage": settings.storage.model_copy(update={"url": _resolve_storage_url(settings)})
        }
    )
    check_references(settings)
    return settings


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")


def _expand_env(
    value: Any, key: tuple[str | int, ...], path: Path, environ: Mapping[str, str]
) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, (*key, k), path, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*key, i), path, environ) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        if name not in environ:
            raise ConfigError(f"{path}: {_format_key(key)}: environment variable {name} is not set")
        return environ[name]

    return _ENV_REF.sub(substitute, value)


def _format_key(loc: tuple[str | int, ...], raw: Mapping[str, Any] | None = None) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if raw is not None and i == 1:
                section = raw.get(str(loc[0]))
                if isinstance(section, list) and part < len(section):
                    entry = section[part]
                    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                        out += f" ({entry['name']})"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _describe_validation_error(path: Path, raw: Mapping[str, Any], exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        # A discriminated union puts the channel type into the location: drop it.
        if len(loc) >= 3 and loc[0] == "channels" and isinstance(loc[2], str):
            entry = raw.get("channels", [])[loc[1]] if isinstance(loc[1], int) else None
            if isinstance(entry, dict) and entry.get("type") == loc[2]:
                del loc[2]
        message = _MESSAGES.get(error["type"], error["msg"])
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if error["type"] == "union_tag_invalid":
            message = f"unknown channel type (expected one of: {error['ctx']['expected_tags']})"
        lines.append(f"{path}: {_format_key(tuple(loc), raw)}: {message}")
    return "\n".join(lines)


def _resolve_storage_url(settings: Settings) -> str:
    try:
        url = make_url(settings.storage.url)
    except Exception:
        raise ConfigError(
            f"{settings.path}: storage.url: not a database URL: {settings.storage.url!r}"
        ) from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database)
        if not database.is_absolute():
            url = url.set(database=str((settings.path.parent / database).resolve()))
            return url.render_as_string(hide_password=False)
    return settings.storage.url
