"""docker-compose.yml cannot be run here (no Docker engine), so check what can go wrong
without one: mounts that point nowhere, missing health checks, secrets in the file, and the
path of a credential change to the broker. Not run here: the containers (the images, the
named volume, group_add); the broker's entrypoint runs with the real mosquitto in
tests/integration/test_mosquitto_reload_wrapper.py, and the file modes below are the ones
the real code writes."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import REPO_ROOT, Settings
from stack import mosquitto
from stack.mosquitto_auth import hash_password, password_file, sync_accounts

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
    expected |= {"init", "grafana-setup"}
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


WRITERS = ("init", "api", "alerts")  # the services that change MQTT credentials
BROKER_GID = "1883"  # the mosquitto group in eclipse-mosquitto:2 and in our Dockerfile


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Named volume -> container path (with its options) of a service."""
    found = {}
    for volume in service.get("volumes") or []:
        source, target = volume.split(":", 1)
        if not source.startswith((".", "/", "~")):
            found[source] = target
    return found


def _image_run_dir() -> str:
    match = re.search(r"IOC_RUN_DIR=(\S+)", (REPO_ROOT / "Dockerfile").read_text())
    assert match, "the Dockerfile names no IOC_RUN_DIR"
    return match.group(1)


def test_mosquitto_runs_the_repository_config_behind_the_reload_wrapper(
    services: dict[str, dict[str, Any]],
) -> None:
    broker = services["mosquitto"]
    volumes = broker["volumes"]
    assert "./deploy/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes
    # The ACL is generated (static part + grace logins) into the accounts volume now.
    assert not any(v.startswith("./deploy/mosquitto/acl") for v in volumes)
    script = "./deploy/mosquitto/reload-on-change.sh"
    (mount,) = [v for v in volumes if v.startswith(script + ":")]
    assert mount.endswith(":ro")
    assert broker["entrypoint"] == ["/bin/sh", mount.split(":")[1]]
    assert broker["command"] == ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
    env = dict(environment(broker))
    # The wrapper copies from the volume to where mosquitto.conf points.
    assert _named_volumes(broker)["mosquitto-accounts"] == env["IOC_ACCOUNTS_DIR"] + ":ro"
    conf = (REPO_ROOT / "deploy/mosquitto/mosquitto.conf").read_text().splitlines()
    assert f"password_file {env['IOC_BROKER_ACCOUNTS_DIR']}/passwd" in conf
    assert f"acl_file {env['IOC_BROKER_ACCOUNTS_DIR']}/acl" in conf
    assert broker["stop_grace_period"], "mosquitto saves its persistence file on SIGTERM"


def test_the_wrapper_is_plain_sh() -> None:
    # The image is Alpine: /bin/sh is busybox, no bash.
    script = REPO_ROOT / "deploy/mosquitto/reload-on-change.sh"
    assert script.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(script)], check=True)


def test_the_accounts_volume_is_shared_by_the_writers_and_the_broker(
    services: dict[str, dict[str, Any]],
) -> None:
    # Where the code writes them in the image: run_dir/mosquitto (stack.mosquitto_auth).
    accounts = str(password_file(Settings(run_dir=Path(_image_run_dir()))).parent)
    holders = {n for n, s in services.items() if "mosquitto-accounts" in _named_volumes(s)}
    assert holders == {*WRITERS, "mosquitto"}, "only the writers and the broker see secrets"
    for name in WRITERS:
        service = services[name]
        assert _named_volumes(service)["mosquitto-accounts"] == accounts, name
        assert dict(environment(service))["IOC_MQTT_ACCOUNTS_GID"] == BROKER_GID, name
    # Only init runs as root (it makes the directory the group's); the others are `ioc`
    # (the Dockerfile's USER) with the group added.
    assert services["init"]["user"] == "root"
    for name in ("api", "alerts"):
        assert "user" not in services[name], name
        assert [str(g) for g in services[name]["group_add"]] == [BROKER_GID], name
    assert "\nUSER ioc\n" in (REPO_ROOT / "Dockerfile").read_text()


def test_the_image_ships_the_static_acl_where_the_code_finds_it() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "COPY . /app" in dockerfile
    routes = re.search(r"IOC_ROUTES_FILE=/app/(\S+)", dockerfile)
    assert routes, "the image must name its deploy/ through IOC_ROUTES_FILE"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert not any(entry.strip("/*") in ("deploy", "deploy/mosquitto") for entry in ignored)
    settings = Settings(routes_file=REPO_ROOT / routes.group(1))
    assert mosquitto.acl_source(settings) == REPO_ROOT / "deploy/mosquitto/acl"


def _modes(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        path.name: (stat.S_IMODE(path.stat().st_mode), path.stat().st_gid)
        for path in (directory, *directory.iterdir())
    }


def test_shared_accounts_files_are_never_world_readable(tmp_path: Path) -> None:
    """What the code writes with the compose setting (any group we may use here)."""
    gid = os.getgid()
    settings = Settings(run_dir=tmp_path, mqtt_accounts_gid=gid)
    sync_accounts(settings, {"dev-1": hash_password("x"), "dev-1~1": hash_password("y")})
    directory = password_file(settings).parent
    assert _modes(directory) == {
        "mosquitto": (0o2770, gid),
        "passwd": (0o640, gid),
        "acl": (0o640, gid),
        ".passwd.lock": (0o660, gid),
    }
    assert "user dev-1~1\ntopic write ioc/v1/dev-1/telemetry" in (directory / "acl").read_text()


def test_local_accounts_stay_private_without_the_setting(tmp_path: Path) -> None:
    settings = Settings(run_dir=tmp_path)
    sync_accounts(settings, {"dev-1": hash_password("x")})
    modes = _modes(password_file(settings).parent)
    assert modes["passwd"][0] == 0o600 and modes[".passwd.lock"][0] == 0o600


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


# Grafana: provisioning and dashboards live in dashboards/ and are mounted from there.
PROVISIONING = REPO_ROOT / "dashboards/provisioning"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> repository path of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes") or []:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = source
    return found


def _repo_path(service: dict[str, Any], container_path: str) -> Any:
    """Where a file Grafana reads in its container is in the repository."""
    for target, source in sorted(_mounts(service).items(), key=lambda m: -len(m[0])):
        if container_path == target or container_path.startswith(target + "/"):
            return REPO_ROOT / source / container_path[len(target) :].lstrip("/")
    raise AssertionError(f"{container_path} is not mounted from the repository")


def test_grafana_mounts_the_provisioning_and_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = _mounts(services["grafana"])
    assert mounts["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    assert mounts["/etc/grafana/dashboards"] == "./dashboards/json"
    assert all(v.endswith(":ro") for v in services["grafana"]["volumes"] if v.startswith("./"))
    assert not (REPO_ROOT / "deploy/grafana").exists(), "provisioning moved to dashboards/"
    provider = yaml.safe_load((PROVISIONING / "dashboards/ioc.yaml").read_text())
    (entry,) = provider["providers"]
    assert entry["options"]["path"] == "/etc/grafana/dashboards"
    assert (entry["folderUid"], entry["folder"]) == ("ioc", "IOC")
    assert list((REPO_ROOT / "dashboards/json").glob("*.json")), "no dashboard to provision"


def test_grafana_datasource_logs_in_as_the_read_only_role(
    services: dict[str, dict[str, Any]],
) -> None:
    text = (PROVISIONING / "datasources/timescaledb.yaml").read_text()
    (source,) = yaml.safe_load(text)["datasources"]
    assert (source["uid"], source["type"]) == ("ioc-timescaledb", "grafana-postgresql-datasource")
    assert source["jsonData"]["timescaledb"] is True
    env = dict(environment(services["grafana"]))
    # Grafana expands ${VAR} from its container: the user is grafana_reader, its password
    # the reader's own secret, and the app owner's password is not even in the container.
    assert source["user"] == "${GRAFANA_PG_USER}" and env["GRAFANA_PG_USER"] == "grafana_reader"
    assert source["secureJsonData"]["password"] == "${GRAFANA_PG_PASSWORD}"
    assert env["GRAFANA_PG_PASSWORD"].startswith("${GRAFANA_PG_PASSWORD:?")
    assert "IOC_PG_PASSWORD" not in env and "IOC_PG_USER" not in env
    for name in re.findall(r"\$\{(\w+)\}", text):
        assert name in env, f"the data source reads ${{{name}}}, grafana's environment lacks it"


def test_init_creates_the_reader_login(services: dict[str, dict[str, Any]]) -> None:
    init = services["init"]
    command = " ".join(init["command"])
    assert command.index("ioc stack init") < command.index("ioc db grant-reader")
    assert "--name grafana_reader" in command
    assert dict(environment(init))["GRAFANA_PG_PASSWORD"].startswith("${GRAFANA_PG_PASSWORD:?")
    assert services["grafana"]["depends_on"]["init"] == {
        "condition": "service_completed_successfully"
    }


def test_grafana_settings_for_the_wall(services: dict[str, dict[str, Any]]) -> None:
    env = dict(environment(services["grafana"]))
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    path = _repo_path(services["grafana"], home)
    assert path.is_file(), f"home dashboard {home} is {path}, which does not exist"
    assert json.loads(path.read_text())["uid"] == "ioc-wall"


def test_the_wall_playlist_is_pushed_once_grafana_is_up(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["grafana-setup"]
    argv = setup["command"]
    assert argv[:3] == ["ioc", "dashboards", "publish"]
    assert argv[argv.index("--url") + 1] == "http://grafana:3000"
    assert argv[argv.index("--only") + 1] == "playlist"
    # The image installs the package; the repository's files are in /app (Dockerfile).
    assert argv[argv.index("--source") + 1] == "/app/dashboards"
    assert "COPY . /app" in (REPO_ROOT / "Dockerfile").read_text()
    assert setup["depends_on"]["grafana"] == {"condition": "service_healthy"}
    playlist = yaml.safe_load((PROVISIONING / "playlists/wall.yaml").read_text())
    for uid in playlist["dashboards"]:
        assert (REPO_ROOT / "dashboards/json" / f"{uid}.json").is_file(), uid


def test_env_example_names_every_secret_compose_requires() -> None:
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):?\?", COMPOSE.read_text()))
    example = (REPO_ROOT / ".env.example").read_text()
    named = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    assert required == named
    assert re.findall(r"^[A-Z][A-Z0-9_]*=(.+)$", example, re.M) == [], "values in the example"
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()
