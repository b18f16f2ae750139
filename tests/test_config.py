"""Config validation: every problem names the file, the key and what is wrong."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor import config
from monitor.errors import ConfigError
from monitor.schedule import Cron, Every, Immediate
from tests.conftest import REPO, run_cli, write_config

BASE = """
[[sources]]
name = "feed-a"
url = "https://news.example.org/feed.xml"

[[watches]]
name = "cuba-visas"
terms = ["Cuba", "visa"]

[[channels]]
name = "desk"
type = "webhook"
url = "https://hooks.example.org/x"

[[subscribers]]
name = "newsroom"
watches = ["cuba-visas"]
channels = ["desk"]
"""


def load_text(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> config.Settings:
    path = write_config(tmp_path, text)
    return config.load(path, environ or {})


def test_shipped_config_is_valid() -> None:
    settings = config.load(REPO / "config" / "monitor.toml", {})
    assert settings.sources and settings.watches and settings.subscribers
    assert settings.storage.url.startswith("sqlite:////")  # resolved next to the config file
    assert settings.storage.url.endswith("/config/news-monitor.db")


def test_defaults_and_parsing(tmp_path: Path) -> None:
    settings = load_text(tmp_path, BASE)
    assert settings.defaults.interval == timedelta(minutes=15)
    assert settings.defaults.max_age == timedelta(days=3)
    assert settings.http.max_bytes == 10_000_000
    assert isinstance(settings.subscribers[0].parsed_schedule, Immediate)
    assert settings.source_interval(settings.sources[0]) == timedelta(minutes=15)


def test_schedules_in_subscriber_timezone(tmp_path: Path) -> None:
    text = BASE.replace(
        'channels = ["desk"]\n',
        'channels = ["desk"]\nschedule = "0 8 * * *"\ntimezone = "America/Havana"\n',
    )
    schedule = load_text(tmp_path, text).subscribers[0].parsed_schedule
    assert isinstance(schedule, Cron)
    assert schedule.timezone.key == "America/Havana"
    text = BASE.replace('channels = ["desk"]\n', 'channels = ["desk"]\nschedule = "1h"\n')
    assert load_text(tmp_path, text).subscribers[0].parsed_schedule == Every(timedelta(hours=1))


def test_environment_variables_are_expanded(tmp_path: Path) -> None:
    text = BASE.replace(
        'url = "https://hooks.example.org/x"', 'url = "${HOOK_URL}"\nsecret = "s-$${literal}"'
    )
    settings = load_text(tmp_path, text, {"HOOK_URL": "https://hooks.example.org/secret-token"})
    channel = settings.channels[0]
    assert channel.type == "webhook"
    assert channel.url == "https://hooks.example.org/secret-token"
    assert channel.secret == "s-${literal}"
    assert "https://hooks.example.org/secret-token" in settings.secrets()


def test_relative_storage_path_resolves_against_config_folder(tmp_path: Path) -> None:
    settings = load_text(tmp_path, '[storage]\nurl = "sqlite:///data.db"\n' + BASE)
    assert settings.storage.url == f"sqlite:///{tmp_path.resolve()}/data.db"


BAD_CONFIGS = [
    pytest.param('[defaults]\ninterval = "0s"\n' + BASE, "defaults.interval",
                 "must be longer than zero", id="zero-default-interval"),
    pytest.param('[delivery]\nretry_initial = "0m"\n' + BASE, "delivery.retry_initial",
                 "must be longer than zero", id="zero-retry"),
    pytest.param('[stories]\nwindow = "0d"\n' + BASE, "stories.window",
                 "must be longer than zero", id="zero-story-window"),
    pytest.param("bogus = 1\n" + BASE, "bogus", "unknown key", id="unknown-top-level-key"),
    pytest.param(
        BASE.replace('url = "https://news.example.org/feed.xml"', 'url = "https://news.example.org/feed.xml"\nintervall = "5m"'),
        "sources[0] (feed-a).intervall", "unknown key", id="unknown-source-key",
    ),
    pytest.param(
        BASE.replace('watches = ["cuba-visas"]', 'watches = ["cuba-visa"]'),
        "subscribers[0] (newsroom).watches[0]", "no watch named 'cuba-visa'", id="missing-watch",
    ),
    pytest.param(
        BASE.replace('channels = ["desk"]', 'channels = ["desk", "slack"]'),
        "subscribers[0] (newsroom).channels[1]", "no channel named 'slack'", id="missing-channel",
    ),
    pytest.param(
        BASE.replace('url = "https://news.example.org/feed.xml"', 'url = "https://news.example.org/feed.xml"\ninterval = "15 minutes"'),
        "sources[0] (feed-a).interval", "expected a duration", id="bad-interval",
    ),
    pytest.param(
        BASE.replace('url = "https://news.example.org/feed.xml"', 'url = "https://news.example.org/feed.xml"\ncron = "*/10 6-22 * *"'),
        "sources[0] (feed-a).cron", "5 fields", id="bad-source-cron",
    ),
    pytest.param(
        BASE.replace('channels = ["desk"]', 'channels = ["desk"]\nschedule = "0 25 * * *"'),
        "subscribers[0] (newsroom).schedule", "invalid cron expression", id="bad-subscriber-cron",
    ),
    pytest.param(
        BASE.replace('channels = ["desk"]', 'channels = ["desk"]\nschedule = "sometimes"'),
        "subscribers[0] (newsroom).schedule", "expected 'immediate'", id="bad-schedule",
    ),
    pytest.param(
        BASE.replace('channels = ["desk"]', 'channels = ["desk"]\ntimezone = "Mars/Olympus"'),
        "subscribers[0] (newsroom).timezone", "unknown time zone", id="bad-timezone",
    ),
    pytest.param(
        BASE.replace('url = "https://hooks.example.org/x"', 'url = "${NOPE_NOT_SET}"'),
        "channels[0].url", "environment variable NOPE_NOT_SET is not set", id="missing-env-var",
    ),
    pytest.param(
        BASE.replace('type = "webhook"', 'type = "pigeon"'),
        "channels[0] (desk)", "unknown channel type", id="unknown-channel-type",
    ),
    pytest.param(
        BASE.replace('url = "https://news.example.org/feed.xml"', 'url = "ftp://news.example.org/feed.xml"'),
        "sources[0] (feed-a).url", "http:// or https://", id="bad-url",
    ),
    pytest.param(
        BASE + '\n[[sources]]\nname = "feed-a"\nurl = "https://b.example.org/"\n',
        "sources[1].name", "duplicate name 'feed-a'", id="duplicate-source",
    ),
    pytest.param(
        BASE.replace('name = "feed-a"', 'name = "feed a!"'),
        "sources[0] (feed a!).name", "pattern", id="bad-source-name",
    ),
    pytest.param(
        BASE.replace('terms = ["Cuba", "visa"]', "terms = []"),
        "watches[0] (cuba-visas)", "needs terms", id="watch-without-terms",
    ),
    pytest.param(
        BASE.replace('type = "webhook"\nurl = "https://hooks.example.org/x"', 'type = "email"\nto = ["a@example.org"]\nfrom = "b@example.org"'),
        "channels[0] (desk).host", "required key is missing", id="email-without-host",
    ),
    pytest.param(
        "[http]\ntimeout = -1\n" + BASE, "http.timeout", "greater than 0", id="negative-timeout",
    ),
    pytest.param(
        BASE.replace('url = "https://news.example.org/feed.xml"', 'url = "https://news.example.org/feed.xml"\nlinks = "h2 a"'),
        "sources[0] (feed-a).links", 'only a type = "page" source has links', id="links-on-a-feed",
    ),
    pytest.param(
        BASE.replace('url = "https://news.example.org/feed.xml"', 'url = "https://news.example.org/feed.xml"\ntype = "html"'),
        "sources[0] (feed-a).type", "'feed' or 'page'", id="unknown-source-type",
    ),
    pytest.param("[[sources]\nname = 1", "invalid TOML", "", id="invalid-toml"),
    # found by fuzzing the parsed config: each raised out of validation with a traceback
    pytest.param('[defaults]\ninterval = ["15m"]\n' + BASE, "defaults.interval",
                 "expected a duration such as '15m', got ['15m']", id="duration-as-a-list"),
    pytest.param("[defaults]\nmax_age = inf\n" + BASE, "defaults.max_age",
                 "expected a duration such as '15m', got inf", id="infinite-duration"),
    pytest.param("[defaults]\nmax_age = nan\n" + BASE, "defaults.max_age",
                 "expected a duration such as '15m', got nan", id="nan-duration"),
    pytest.param('[defaults]\nmax_age = "1000000000d"\n' + BASE, "defaults.max_age",
                 "at most 100 years", id="duration-past-datetime"),
    pytest.param("[defaults]\nstale_after = 1e300\n" + BASE, "defaults.stale_after",
                 "at most 100 years", id="huge-duration-in-seconds"),
    pytest.param(f"[defaults]\nstale_after = {'9' * 400}\n" + BASE, "defaults.stale_after",
                 "at most 100 years", id="duration-of-400-digits"),
    pytest.param(
        BASE.replace('channels = ["desk"]', f'channels = ["desk"]\ntimezone = "{"x" * 300}"'),
        "subscribers[0] (newsroom).timezone", "unknown time zone", id="timezone-name-too-long",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "problem"), BAD_CONFIGS)
def test_bad_config_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    message = str(caught.value)
    assert str(tmp_path / "monitor.toml") in message
    assert key in message
    assert problem in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.toml", {})


def test_config_path_precedence() -> None:
    assert config.config_path("x.toml", {"NEWS_MONITOR_CONFIG": "y.toml"}) == Path("x.toml")
    assert config.config_path(None, {"NEWS_MONITOR_CONFIG": "y.toml"}) == Path("y.toml")
    assert config.config_path(None, {}) == Path("config/monitor.toml")


def test_cli_exits_2_and_names_the_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, BASE.replace('watches = ["cuba-visas"]', 'watches = ["nope"]'))
    result = run_cli("once", config=path)
    assert result.returncode == 2
    assert "subscribers[0] (newsroom).watches[0]: no watch named 'nope'" in result.stderr
    assert not (tmp_path / "news-monitor.db").exists()  # nothing was done


def test_cli_check_ok(tmp_path: Path) -> None:
    result = run_cli("check", config=write_config(tmp_path, BASE))
    assert result.returncode == 0, result.stderr
    assert "1 sources, 1 watches, 1 channels, 1 subscribers" in result.stdout


def test_query_syntax_error_points_at_the_column(tmp_path: Path) -> None:
    text = BASE.replace('terms = ["Cuba", "visa"]', "query = 'Cuba AND (visa OR consul*'")
    path = write_config(tmp_path, text)
    result = run_cli("check", config=path)
    assert result.returncode == 2
    assert "watches[0] (cuba-visas).query:" in result.stderr
    lines = result.stderr.splitlines()
    query_line = next(
        i for i, line in enumerate(lines) if line.strip() == "Cuba AND (visa OR consul*"
    )
    caret = lines[query_line + 1]
    assert caret.strip() == "^"
    column = caret.index("^") - lines[query_line].index("C")
    assert "Cuba AND (visa OR consul*"[column] == "("  # the parenthesis never closed


def test_query_and_terms_are_exclusive(tmp_path: Path) -> None:
    text = BASE.replace('terms = ["Cuba", "visa"]', "terms = [\"Cuba\"]\nquery = 'visa'")
    with pytest.raises(
        ConfigError, match=r"watches\[0\] \(cuba-visas\): set either query or terms"
    ):
        load_text(tmp_path, text)
