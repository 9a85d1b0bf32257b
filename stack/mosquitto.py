"""The local MQTT broker: Debian's mosquitto 2.0, configured from the production file.

run_dir/mosquitto/mosquitto.conf is rendered from deploy/mosquitto/mosquitto.conf with
only the listener, path, log and pid lines replaced, so tests exercise the production
settings (persistence, queue limits, in-flight window, ACL).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from config.secrets import MQTT_ADMIN_USER, load_secrets
from config.settings import REPO_ROOT, Settings
from stack import layout, processes
from stack.processes import StackError

NAME = "mosquitto"
SOURCE_DIR = REPO_ROOT / "deploy" / "mosquitto"


def state_dir(settings: Settings) -> Path:
    return settings.run_dir / "mosquitto"


def conf_path(settings: Settings) -> Path:
    return state_dir(settings) / "mosquitto.conf"


def _pidfile(settings: Settings) -> Path:
    # Not run_dir/pids: mosquitto writes its pid file after dropping root, so it lives in
    # a directory the mosquitto user owns.
    return state_dir(settings) / "run" / f"{NAME}.pid"


def _log(settings: Settings) -> Path:
    return processes.log_path(settings.run_dir, NAME)


def render_config(settings: Settings, source: str) -> str:
    """source with the deployment-specific lines replaced (appended when absent)."""
    from stack.mosquitto_auth import password_file

    overrides = {
        "listener": f"{settings.mqtt_port} {settings.bind_host}",
        "persistence_location": f"{state_dir(settings) / 'data'}/",
        "password_file": str(password_file(settings)),
        "acl_file": str(state_dir(settings) / "acl"),
        "log_dest": f"file {_log(settings)}",
        "pid_file": str(_pidfile(settings)),
    }
    out, seen = [], set()
    for line in source.splitlines():
        words = line.split(maxsplit=1)
        key = words[0] if words and not line.lstrip().startswith("#") else None
        if key in overrides:
            if key not in seen:  # one listener and one log file locally
                out.append(f"{key} {overrides[key]}")
                seen.add(key)
            continue
        out.append(line)
    out += [f"{key} {value}" for key, value in overrides.items() if key not in seen]
    return "\n".join(out) + "\n"


def pid(settings: Settings) -> int | None:
    return processes.running_pid(_pidfile(settings), str(conf_path(settings)))


def start(settings: Settings, timeout: float = 20) -> None:
    if pid(settings) is None:
        _prepare(settings)
        if processes.port_open(settings.bind_host, settings.mqtt_port):
            raise StackError(
                NAME,
                f"port {settings.mqtt_port} is taken by another process (Debian's own "
                "mosquitto service? `systemctl disable --now mosquitto`)",
            )
        _daemonise(settings)
    processes.wait_healthy(
        NAME, _pidfile(settings), lambda: healthy(settings), timeout, _log(settings)
    )


def _prepare(settings: Settings) -> None:
    from stack.mosquitto_auth import password_file, service_hashes, write_password_file

    user = layout.service_user("mosquitto")
    layout.ensure_dir(state_dir(settings), mode=0o755)
    # The broker drops from root to its own user before it writes persistence and logs.
    layout.ensure_dir(state_dir(settings) / "data", user, 0o700)
    layout.ensure_dir(_pidfile(settings).parent, user, 0o755)
    layout.log_file_for(_log(settings), user)
    install_acl(settings)
    if not password_file(settings).exists():
        # Normally sync_accounts has written it (with the devices); the broker refuses
        # to start without one.
        write_password_file(password_file(settings), service_hashes(settings))
    conf_path(settings).write_text(
        render_config(settings, (SOURCE_DIR / "mosquitto.conf").read_text())
    )


def acl_source(settings: Settings) -> Path:
    """deploy/mosquitto/acl. An installed package (the Docker image) has no deploy/ beside
    it; the image names its deploy/ through IOC_ROUTES_FILE (deploy/ingest/routes.yaml)."""
    beside_routes = settings.routes_file.resolve().parent.parent / "mosquitto" / "acl"
    for path in (beside_routes, SOURCE_DIR / "acl"):
        if path.is_file():
            return path
    raise StackError(NAME, f"no ACL file at {beside_routes} or {SOURCE_DIR / 'acl'}")


def install_acl(settings: Settings) -> None:
    """deploy/mosquitto/acl plus the blocks the password file's logins need (see
    stack.mosquitto_auth.render_acl); replaced atomically, like the password file."""
    from stack.mosquitto_auth import (
        file_usernames,
        password_file,
        render_acl,
        share_with_writers,
    )

    target = state_dir(settings) / "acl"
    text = render_acl(acl_source(settings).read_text(), file_usernames(password_file(settings)))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    if not share_with_writers(tmp, settings.mqtt_accounts_gid):
        tmp.chmod(0o644)
    os.replace(tmp, target)


def _daemonise(settings: Settings) -> None:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    _pidfile(settings).unlink(missing_ok=True)
    with _log(settings).open("ab") as out:
        # -d: mosquitto forks, writes pid_file and detaches; errors before that (a bad
        # config line) come out here, hence the log as stdout/stderr.
        result = subprocess.run(
            [binary, "-c", str(conf_path(settings)), "-d"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise StackError(NAME, f"exited with {result.returncode}", _log(settings))
    if not processes.wait_until(lambda: pid(settings) is not None, 5):
        raise StackError(NAME, "did not stay up", _log(settings))


def healthy(settings: Settings) -> bool:
    """A real login as the admin account: proves the listener and the password file."""
    password = load_secrets(settings).mqtt_admin_password
    ok, _ = try_login(settings.mqtt_host, settings.mqtt_port, MQTT_ADMIN_USER, password)
    return ok


def try_login(
    host: str, port: int, username: str | None, password: str | None, timeout: float = 5
) -> tuple[bool, str]:
    """(accepted, reason) of one MQTT 3.1.1 CONNECT with a throw-away clean session."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"ioc-probe-{uuid.uuid4().hex[:12]}",
        clean_session=True,
    )  # fmt: skip
    if username is not None:
        client.username_pw_set(username, password)
    answered = threading.Event()
    result: dict[str, str | bool] = {"ok": False, "reason": f"no CONNACK within {timeout}s"}

    def on_connect(_c: object, _u: object, _f: object, code: object, _p: object) -> None:
        result.update(ok=not code.is_failure, reason=str(code))  # type: ignore[attr-defined]
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as error:
        return False, str(error)
    client.loop_start()
    try:
        answered.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return bool(result["ok"]), str(result["reason"])


def reload(settings: Settings) -> bool:
    """Make a running broker re-read its password and ACL files (SIGHUP). False if the
    broker is not running (it reads both when it starts)."""
    if pid(settings) is None:
        return False
    install_acl(settings)
    return processes.signal_process(_pidfile(settings), str(conf_path(settings)), signal.SIGHUP)


def stop(settings: Settings) -> bool:
    # SIGTERM makes mosquitto write its persistence file before it exits.
    return processes.stop(_pidfile(settings), str(conf_path(settings)), signal.SIGTERM, 30)
