"""docker-compose.yml cannot be run here (no Docker engine), so check what can go wrong
without one: mounts that point nowhere, missing health checks, secrets in the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from config.settings import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY", re.I)
# ${NAME:?message} or ${NAME?message}: required, no default. A default would be a
# secret written in the file.
REQUIRED_REFERENCE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:?\?[^}]*\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        for item in env:
            name, _, value = item.partition("=")
            yield name, value
    else:
        for name, value in env.items():
            yield name, "" if value is None else str(value)


def bind_sources(service: dict[str, Any]) -> Iterator[str]:
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                yield volume["source"]
            continue
        source = volume.split(":", 1)[0]
        if source.startswith((".", "/", "~")):
            yield source


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    expected = {"timescaledb", "mosquitto", "kafka", "grafana", "ingest", "api", "simulators"}
    assert expected <= set(services)


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name


def test_every_mounted_host_path_exists(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for source in bind_sources(service):
            assert not source.startswith(("/", "~")), f"{name}: {source} is outside the repo"
            assert (REPO_ROOT / source).exists(), f"{name} mounts missing {source}"


def test_mosquitto_runs_the_repository_config_and_acl(
    services: dict[str, dict[str, Any]],
) -> None:
    volumes = services["mosquitto"]["volumes"]
    assert "./deploy/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes
    assert "./deploy/mosquitto/acl:/mosquitto/config/acl:ro" in volumes
    conf = (REPO_ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
    assert "password_file /mosquitto/config/passwd" in conf
    assert "acl_file /mosquitto/config/acl" in conf


def test_images_are_the_production_ones(services: dict[str, dict[str, Any]]) -> None:
    assert re.fullmatch(r"timescale/timescaledb-ha:pg16\S*", services["timescaledb"]["image"])
    assert re.fullmatch(r"eclipse-mosquitto:2(\.\S+)?", services["mosquitto"]["image"])
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert services["grafana"]["image"].startswith("grafana/grafana-oss")


def test_project_services_are_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("ingest", "api", "simulators"):
        build = services[name]["build"]
        dockerfile = REPO_ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), name
    assert (REPO_ROOT / "Dockerfile").read_text().startswith("#")
    assert "FROM python:3.11-slim" in (REPO_ROOT / "Dockerfile").read_text()


def test_simulators_only_run_on_request(services: dict[str, dict[str, Any]]) -> None:
    assert services["simulators"].get("profiles") == ["simulators"]


def test_secrets_are_required_references_never_values(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for key, value in environment(service):
            if SECRET_NAME.search(key):
                assert REQUIRED_REFERENCE.match(value), f"{name}: {key} is not ${{VAR:?…}}"


def test_no_secret_looking_literal_anywhere_in_the_file() -> None:
    # Catches secrets outside `environment`, e.g. in a command or a healthcheck.
    assignment = re.compile(
        r"(?i)(password|passwd|secret|token)\w*[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"']+)"
    )
    lines = COMPOSE.read_text().splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    for match in assignment.finditer(code):
        value = match.group("value")
        assert value.startswith(("${", "$$")), match.group(0)


def test_published_ports_are_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports") or []:
            published = port if isinstance(port, str) else port.get("host_ip", "")
            assert str(published).startswith("127.0.0.1"), f"{name}: {port}"
