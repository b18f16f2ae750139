"""Logging: one JSON object per line with --log-format json; secrets never appear."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli, write_config
from tests.servers import HTTPFixture, Route


def test_json_logs_without_secrets(web: HTTPFixture, tmp_path: Path) -> None:
    web.routes["/f.xml"] = Route(b"", status=500)
    secret_url = web.url("/hook/secret-token-12345")
    path = write_config(tmp_path, f"""
[http]
retries = 0

[[sources]]
name = "broken"
url = "{web.url('/f.xml')}"

[[watches]]
name = "w"
terms = ["x"]

[[channels]]
name = "hook"
type = "webhook"
url = "${{HOOK_URL}}"
secret = "${{HOOK_SECRET}}"

[[channels]]
name = "tg"
type = "telegram"
token = "${{TG_TOKEN}}"
chat_id = "1"
api_url = "{web.url('')}"

[[subscribers]]
name = "s"
watches = ["w"]
channels = ["hook", "tg"]
""")  # fmt: skip
    env = {
        "HOOK_URL": secret_url,
        "HOOK_SECRET": "hmac-secret-987",
        "TG_TOKEN": "123:telegram-token-abc",
    }
    result = run_cli("--log-format", "json", "-v", "once", config=path, env=env)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert any(
        entry["level"] == "warning" and "source=broken" in entry["message"] for entry in lines
    )
    web.answer_posts((401, {"Content-Type": "application/json"},
                      b'{"ok": false, "error_code": 401, "description": "Unauthorized"}'))  # fmt: skip
    failed = run_cli("--log-format", "json", "-v", "test-channel", "tg", config=path, env=env)
    assert failed.returncode == 1
    assert "bot***/sendMessage" in failed.stderr  # httpx's debug line, with the token redacted
    for output in (result.stderr, failed.stderr, failed.stdout):
        for secret in ("secret-token-12345", "hmac-secret-987", "telegram-token-abc"):
            assert secret not in output
