"""Shared fixtures: loopback servers, config files and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.config import HttpSettings
from monitor.store import Store
from tests.servers import HTTPFixture, SMTPFixture

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in the test's folder (``test.db``, worker ``worker-a``)."""
    db = Store.open(f"sqlite:///{tmp_path / 'test.db'}", "worker-a")
    yield db
    db.close()


@pytest.fixture
def web() -> Iterator[HTTPFixture]:
    with HTTPFixture() as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[HTTPFixture]:
    """A webhook receiver: records POSTs; answers 200 unless told otherwise."""
    with HTTPFixture() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SMTPFixture]:
    with SMTPFixture() as server:
        yield server


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, config: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> Result:  # fmt: skip
    """Run the real CLI (``python -m monitor``) as a subprocess."""
    command = [sys.executable, "-m", "monitor"]
    if config is not None:
        command += ["--config", str(config)]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env.pop("NEWS_MONITOR_CONFIG", None)
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, env=full_env,
        cwd=REPO, check=False,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def start_cli(*args: str, config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=REPO,
    )  # fmt: skip


def write_config(folder: Path, text: str) -> Path:
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def http_settings(**overrides: object) -> HttpSettings:
    """``[http]`` for tests against local servers: a short deadline, a 1 MB cap, and
    private addresses allowed (the servers are on 127.0.0.1)."""
    values: dict[str, object] = {
        "timeout": 2.0,
        "max_bytes": 1_000_000,
        "allow_private_networks": True,
    }
    return HttpSettings(**{**values, **overrides})  # type: ignore[arg-type]
