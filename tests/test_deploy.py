"""The deployment files, checked by what can run here (Docker cannot): the Dockerfile's
install and run steps in a clean virtual environment, the YAML files parsed and
checked for the right commands and ports, the systemd units verified."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import config
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
ENV = {"WEBHOOK_URL": "https://hooks.example.org/x", "WEBHOOK_SECRET": "s"}


def dockerfile_steps() -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """(build-stage RUN commands, ENTRYPOINT, CMD, ENV) of deploy/Dockerfile."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    stages = re.split(r"(?m)^FROM ", text)
    build, runtime = stages[1], stages[-1]
    runs = [m.group(1).strip() for m in re.finditer(r"(?m)^RUN (.+)$", build)]
    entrypoint = yaml.safe_load(re.search(r"(?m)^ENTRYPOINT (.+)$", runtime).group(1))  # type: ignore[union-attr]
    cmd = yaml.safe_load(re.search(r"(?m)^CMD (.+)$", runtime).group(1))  # type: ignore[union-attr]
    env = dict(re.findall(r"(\w+)=(\S+)", re.search(r"(?m)^ENV (.+)$", runtime).group(1)))  # type: ignore[union-attr]
    return runs, entrypoint, cmd, env


def test_dockerfile_install_and_run_steps_in_a_clean_virtualenv(tmp_path: Path) -> None:
    runs, entrypoint, cmd, env = dockerfile_steps()
    assert cmd == ["run"] and entrypoint == ["news-monitor"]
    assert env["NEWS_MONITOR_CONFIG"] == "/config/monitor.toml"
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "USER news-monitor" in dockerfile and "HEALTHCHECK" in dockerfile
    assert 'VOLUME ["/config", "/data"]' in dockerfile
    # the build context: what the Dockerfile COPYs, nothing else
    context = tmp_path / "src"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(
        REPO / "monitor", context / "monitor", ignore=shutil.ignore_patterns("__pycache__")
    )
    prefix = tmp_path / "opt-venv"
    for step in runs:
        command = step.replace("/opt/venv", str(prefix)).replace(
            "python -m venv", f"{sys.executable} -m venv"
        )
        subprocess.run(["/bin/sh", "-c", command], cwd=context, check=True, timeout=600,
                       capture_output=True)  # fmt: skip
    binary = prefix / "bin" / entrypoint[0]
    assert binary.exists()
    # the image's command with the image's config (paths moved into the test folder)
    settings_text = (DEPLOY / "config" / "monitor.toml").read_text(encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    conf = tmp_path / "config" / "monitor.toml"
    conf.parent.mkdir()
    conf.write_text(settings_text.replace("/data/", f"{data}/"), encoding="utf-8")
    checked = subprocess.run(
        [str(binary), "check"], capture_output=True, text=True, timeout=120, cwd=data,
        env={**os.environ, **ENV, "NEWS_MONITOR_CONFIG": str(conf), "PYTHONPATH": ""},
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    healthcheck = re.search(r"HEALTHCHECK .*CMD (\[.+\])", dockerfile.replace("\\\n", " "))
    assert healthcheck and "/healthz" in healthcheck.group(1) and "9108" in healthcheck.group(1)


def load_yaml(name: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / name).read_text(encoding="utf-8")) if doc]


def container(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    pod = (
        spec["jobTemplate"]["spec"]["template"]["spec"]
        if doc["kind"] == "CronJob"
        else spec["template"]["spec"]
    )
    (main,) = pod["containers"]
    return dict(main)


def test_kubernetes_files() -> None:
    deployment, claim, service = load_yaml("kubernetes/deployment.yaml")
    assert (deployment["kind"], claim["kind"], service["kind"]) == (
        "Deployment",
        "PersistentVolumeClaim",
        "Service",
    )
    daemon = container(deployment)
    assert daemon["args"] == ["run"]
    assert daemon["ports"][0]["containerPort"] == 9108
    assert daemon["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert daemon["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert service["spec"]["ports"][0]["port"] == 9108
    (cron,) = load_yaml("kubernetes/cronjob.yaml")
    assert cron["kind"] == "CronJob" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert container(cron)["args"] == ["once"]
    (configmap,) = load_yaml("kubernetes/configmap.yaml")
    (secret,) = load_yaml("kubernetes/secret.yaml")
    toml = configmap["data"]["monitor.toml"]
    assert 'listen = "0.0.0.0:9108"' in toml
    for name in re.findall(r"\$\{(\w+)\}", toml):
        assert name in secret["stringData"], name


def test_kubernetes_config_is_valid(tmp_path: Path) -> None:
    (configmap,) = load_yaml("kubernetes/configmap.yaml")
    (secret,) = load_yaml("kubernetes/secret.yaml")
    path = tmp_path / "monitor.toml"
    path.write_text(configmap["data"]["monitor.toml"], encoding="utf-8")
    assert config.load(path, secret["stringData"]).sources


def test_compose_file() -> None:
    (compose,) = load_yaml("compose.yaml")
    services = compose["services"]
    assert services["news-monitor"]["command"] == ["run"]
    assert services["once"]["command"] == ["once"]
    assert services["once"]["healthcheck"] == {"disable": True}  # the image's probes /healthz
    assert any(v.endswith(":/data") for v in services["news-monitor"]["volumes"])
    assert "news-monitor-data" in compose["volumes"]
    assert services["news-monitor"]["ports"] == ["127.0.0.1:9108:9108"]


SYSTEMD = sorted((DEPLOY / "systemd").iterdir())


@pytest.mark.parametrize("unit", SYSTEMD, ids=[u.name for u in SYSTEMD])
def test_systemd_units(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text(encoding="utf-8")
    if unit.suffix == ".service":
        assert "DynamicUser=yes" in text and "ProtectSystem=strict" in text
        command = re.search(r"(?m)^ExecStart=(.+)$", text).group(1)  # type: ignore[union-attr]
        assert shlex.split(command)[-1] in ("run", "once")
    else:
        assert "OnCalendar=" in text and "Unit=" not in text  # activates the same-named service
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the content checks above still ran
    # verify against a fake installation so ExecStart's binary exists
    root = tmp_path / "units"
    root.mkdir()
    for other in SYSTEMD:
        fake = other.read_text(encoding="utf-8").replace(
            "/opt/news-monitor/bin/news-monitor", "/bin/true"
        )
        (root / other.name).write_text(fake, encoding="utf-8")
    result = subprocess.run([analyze, "verify", "--man=no", str(root / unit.name)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    problems = [
        line for line in result.stderr.splitlines()
        if unit.name in line and "Failed to" not in line and "bus" not in line.lower()
    ]  # fmt: skip
    assert result.returncode == 0 or not problems, result.stderr
