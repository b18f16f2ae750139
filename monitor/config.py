"""Configuration: a TOML file → validated, immutable settings.

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
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url

from monitor.errors import ConfigError
from monitor.query import QuerySyntaxError, compile_watch
from monitor.schedule import (
    Schedule,
    parse_cron,
    parse_duration,
    parse_quiet_hours,
    parse_schedule,
)

DEFAULT_CONFIG = Path("config/monitor.toml")
DEFAULT_USER_AGENT = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=100)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


HttpURL = Annotated[str, BeforeValidator(lambda v: _http_url(v) if isinstance(v, str) else v)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StorageSettings(_Section):
    url: str = "sqlite:///news-monitor.db"
    retention_days: Annotated[int, Field(ge=1)] = 90


class StorySettings(_Section):
    window: Duration = timedelta(days=3)
    similarity: Annotated[float, Field(gt=0, le=1)] = 0.4


class HttpSettings(_Section):
    user_agent: str = DEFAULT_USER_AGENT
    timeout: Annotated[float, Field(gt=0)] = 30.0
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 32
    per_host: Annotated[int, Field(ge=1, le=100)] = 2
    max_bytes: Annotated[int, Field(ge=1024)] = 10_000_000
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    allow_private_networks: bool = False


class DefaultSettings(_Section):
    interval: Duration = timedelta(minutes=15)
    min_interval: Duration = timedelta(minutes=5)
    max_backoff: Duration = timedelta(hours=24)
    max_age: Duration = timedelta(days=3)


class DeliverySettings(_Section):
    retry_initial: Duration = timedelta(seconds=5)
    retry_max: Duration = timedelta(hours=1)
    give_up_after: Duration = timedelta(hours=24)


class SourceConfig(_Section):
    name: Name
    url: HttpURL
    type: Literal["feed", "page"] = "feed"
    interval: Duration | None = None
    min_interval: Duration | None = None
    cron: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Annotated[float, Field(gt=0)] | None = None
    full_text: bool = False
    links: str | None = None
    max_age: Duration | None = None


class WatchConfig(_Section):
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


class EmailChannelConfig(_Section):
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


class WebhookChannelConfig(_Section):
    name: Name
    type: Literal["webhook"]
    url: HttpURL
    secret: str | None = None
    timeout: Annotated[float, Field(gt=0)] = 30.0


class FileChannelConfig(_Section):
    name: Name
    type: Literal["file"]
    path: str


class ChatWebhookConfig(_Section):
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


class TelegramChannelConfig(_Section):
    name: Name
    type: Literal["telegram"]
    token: str = Field(pattern=r"^[^\s/?#]+$", min_length=1)  # a secret: it goes in the URL
    chat_id: int | str
    api_url: HttpURL = "https://api.telegram.org"
    timeout: Annotated[float, Field(gt=0)] = 30.0


ChannelConfig = Annotated[
    EmailChannelConfig
    | WebhookChannelConfig
    | FileChannelConfig
    | SlackChannelConfig
    | DiscordChannelConfig
    | TeamsChannelConfig
    | MattermostChannelConfig
    | TelegramChannelConfig,
    Field(discriminator="type"),
]


class SubscriberConfig(_Section):
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


class Settings(_Section):
    """The whole validated configuration. ``path`` is the file it came from."""

    path: Path = Field(default=DEFAULT_CONFIG, exclude=True)
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    defaults: DefaultSettings = DefaultSettings()
    delivery: DeliverySettings = DeliverySettings()
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
    _check_references(settings)
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


def _compile_problems(watch: WatchConfig) -> list[str]:
    """Compile the watch as the matcher will; report a syntax error with its caret."""
    try:
        compile_watch(
            watch.name,
            terms=watch.terms,
            exclude=watch.exclude,
            query=watch.query,
            languages=watch.languages,
        )
    except QuerySyntaxError as exc:
        return [f".query: {exc}"]
    except ValueError as exc:
        return [f": {exc}"]
    return []


def _check_references(settings: Settings) -> None:
    path = settings.path
    problems: list[str] = []

    for section in ("sources", "watches", "channels", "subscribers"):
        seen: set[str] = set()
        for i, entry in enumerate(getattr(settings, section)):
            if entry.name in seen:
                problems.append(f"{section}[{i}].name: duplicate name {entry.name!r}")
            seen.add(entry.name)

    for i, source in enumerate(settings.sources):
        key = f"sources[{i}] ({source.name})"
        if source.interval is not None and source.cron is not None:
            problems.append(f"{key}: set either interval or cron, not both")
        if source.interval is not None and source.interval <= timedelta(0):
            problems.append(f"{key}.interval: must be longer than zero")
        if source.min_interval is not None and source.min_interval <= timedelta(0):
            problems.append(f"{key}.min_interval: must be longer than zero")
        if source.cron is not None:
            try:
                parse_cron(source.cron, ZoneInfo("UTC"))
            except ValueError as exc:
                problems.append(f"{key}.cron: {exc}")
        if source.links is not None and source.type != "page":
            problems.append(f'{key}.links: only a type = "page" source has links')

    for i, watch in enumerate(settings.watches):
        key = f"watches[{i}] ({watch.name})"
        if watch.query is not None and watch.terms:
            problems.append(f"{key}: set either query or terms, not both")
        elif watch.query is None and not watch.terms:
            problems.append(f"{key}: a watch needs terms (or a query)")
        else:
            problems.extend(f"{key}{p}" for p in _compile_problems(watch))

    watch_names = {w.name for w in settings.watches}
    channel_names = {c.name for c in settings.channels}
    for i, sub in enumerate(settings.subscribers):
        key = f"subscribers[{i}] ({sub.name})"
        for j, name in enumerate(sub.watches):
            if name not in watch_names:
                problems.append(f"{key}.watches[{j}]: no watch named {name!r}")
        for j, name in enumerate(sub.channels):
            if name not in channel_names:
                problems.append(f"{key}.channels[{j}]: no channel named {name!r}")
        if sub.fallback is not None and sub.fallback not in channel_names:
            problems.append(f"{key}.fallback: no channel named {sub.fallback!r}")
        if sub.quiet_hours is not None:
            try:
                parse_quiet_hours(sub.quiet_hours)
            except ValueError as exc:
                problems.append(f"{key}.quiet_hours: {exc}")
        try:
            zone = ZoneInfo(sub.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{key}.timezone: unknown time zone {sub.timezone!r}")
            continue
        try:
            parse_schedule(sub.schedule, zone)
        except ValueError as exc:
            problems.append(f"{key}.schedule: {exc}")

    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
