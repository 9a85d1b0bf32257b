"""The broker as the stack runs it: authentication, the ACL, shared subscriptions, and the
password-file format written by stack.mosquitto_auth."""

from __future__ import annotations

import difflib
import os
import pwd
import queue
import re
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from config.secrets import MQTT_ADMIN_USER, MQTT_INGEST_USER, load_secrets
from config.settings import Settings, get_settings
from stack import mosquitto
from stack.mosquitto_auth import (
    hash_password,
    password_file,
    sync_accounts,
    verify_password,
    write_password_file,
)
from stack.processes import wait_until
from stack.supervisor import device_hashes

pytestmark = pytest.mark.integration

HASH_FORMAT = re.compile(r"^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")


@pytest.fixture(scope="module")
def cfg() -> Settings:
    return get_settings()


def login(cfg: Settings, user: str | None, password: str | None) -> tuple[bool, str]:
    return mosquitto.try_login(cfg.mqtt_host, cfg.mqtt_port, user, password)


@pytest.fixture
def device(cfg: Settings) -> Iterator[tuple[str, str]]:
    """A device account added the way the registry adds one: the full list is rewritten
    (keeping the registry's devices, which other tests rely on) and the broker reloaded."""
    user, password = f"stacktest-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    sync_accounts(cfg, {**device_hashes(cfg), user: hash_password(password)})
    # SIGHUP is handled in the broker's next loop iteration, not synchronously.
    assert wait_until(lambda: login(cfg, user, password)[0], 5), "reload did not add device"
    yield user, password
    sync_accounts(cfg, device_hashes(cfg))


def test_anonymous_client_is_refused(cfg: Settings) -> None:
    accepted, reason = login(cfg, None, None)
    assert not accepted, reason


def test_wrong_password_is_refused(cfg: Settings) -> None:
    accepted, reason = login(cfg, MQTT_ADMIN_USER, "not-the-password")
    assert not accepted, reason


def test_unknown_user_is_refused(cfg: Settings) -> None:
    assert not login(cfg, f"nobody-{uuid.uuid4().hex[:6]}", "x")[0]


def test_service_account_hashed_by_us_is_accepted(cfg: Settings) -> None:
    accepted, reason = login(cfg, MQTT_ADMIN_USER, load_secrets(cfg).mqtt_admin_password)
    assert accepted, reason


def test_device_account_is_accepted_after_sync_and_refused_with_wrong_password(
    cfg: Settings, device: tuple[str, str]
) -> None:
    user, password = device
    assert login(cfg, user, password)[0]
    assert not login(cfg, user, password + "x")[0]


def test_removed_device_is_refused_after_sync(cfg: Settings) -> None:
    user, password = f"stacktest-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
    sync_accounts(cfg, {**device_hashes(cfg), user: hash_password(password)})
    assert wait_until(lambda: login(cfg, user, password)[0], 5)
    sync_accounts(cfg, device_hashes(cfg))
    assert wait_until(lambda: not login(cfg, user, password)[0], 5)


def test_hash_format_matches_mosquitto_passwd(tmp_path: Path) -> None:
    hashed = hash_password("s3cret")
    assert HASH_FORMAT.match(hashed), hashed
    assert verify_password("s3cret", hashed)
    assert not verify_password("s3cret!", hashed)
    # And the other way round: what the real tool writes, our check reads the same way.
    path = tmp_path / "passwd"
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-c", "-b", str(path), "alice", "wonderland"], check=True)
    theirs = path.read_text().strip().split(":", 1)[1]
    assert HASH_FORMAT.match(theirs), theirs
    assert verify_password("wonderland", theirs)
    assert not verify_password("Wonderland", theirs)


def test_password_file_is_private_to_the_broker(cfg: Settings) -> None:
    info = password_file(cfg).stat()
    assert info.st_mode & 0o077 == 0
    if os.geteuid() == 0:
        assert pwd.getpwuid(info.st_uid).pw_name == "mosquitto"


def test_password_file_rejects_usernames_the_broker_would_misread(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_password_file(tmp_path / "passwd", {"a:b": hash_password("x")})
    with pytest.raises(ValueError):
        write_password_file(tmp_path / "passwd", {"ok": "plaintext"})


def test_sync_skips_a_device_named_like_a_service_account(cfg: Settings) -> None:
    sync_accounts(cfg, {**device_hashes(cfg), MQTT_INGEST_USER: hash_password("hijack")})
    try:
        assert not login(cfg, MQTT_INGEST_USER, "hijack")[0]
        assert login(cfg, MQTT_INGEST_USER, load_secrets(cfg).mqtt_ingest_password)[0]
    finally:
        sync_accounts(cfg, device_hashes(cfg))


class Subscriber:
    """A paho client that collects (topic, payload) of what it receives."""

    def __init__(self, cfg: Settings, user: str, password: str, *filters: str):
        self.received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.granted: queue.Queue[list[int]] = queue.Queue()
        client_id = f"stacktest-sub-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(user, password)
        self.client.on_message = lambda _c, _u, m: self.received.put((m.topic, m.payload))
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.granted.put(
            [c.value for c in codes]
        )
        self.client.connect(cfg.mqtt_host, cfg.mqtt_port)
        self.client.loop_start()
        self.client.subscribe([(f, 1) for f in filters])
        self.codes = self.granted.get(timeout=5)

    def messages(self, wait: float) -> list[tuple[str, bytes]]:
        out = []
        try:
            out.append(self.received.get(timeout=wait))
            while True:
                out.append(self.received.get(timeout=0.3))
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(cfg: Settings, user: str, password: str, topic: str, payload: str) -> None:
    tool = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    subprocess.run(
        [tool, "-h", cfg.mqtt_host, "-p", str(cfg.mqtt_port), "-u", user, "-P", password,
         "-t", topic, "-m", payload, "-q", "1"],
        check=True, timeout=10,
    )  # fmt: skip


def test_shared_subscription_of_ingest_receives_device_telemetry(
    cfg: Settings, device: tuple[str, str]
) -> None:
    user, password = device
    group = f"stacktest-{uuid.uuid4().hex[:6]}"
    ingest = load_secrets(cfg).mqtt_ingest_password
    sub = Subscriber(
        cfg,
        MQTT_INGEST_USER,
        ingest,
        f"$share/{group}/ioc/v1/+/telemetry",
        "$share/ioc-ingest/frigate/#",
    )
    try:
        assert all(code < 0x80 for code in sub.codes), sub.codes
        publish(cfg, user, password, f"ioc/v1/{user}/telemetry", "reading-1")
        assert (f"ioc/v1/{user}/telemetry", b"reading-1") in sub.messages(wait=5)
    finally:
        sub.close()


def test_device_may_publish_only_its_own_telemetry(cfg: Settings, device: tuple[str, str]) -> None:
    user, password = device
    admin = Subscriber(cfg, MQTT_ADMIN_USER, load_secrets(cfg).mqtt_admin_password, "#")
    try:
        publish(cfg, user, password, "ioc/v1/someone-else/telemetry", "spoof")
        publish(cfg, user, password, "ioc/v1/alerts/fake", "spoof")
        publish(cfg, user, password, f"ioc/v1/{user}/telemetry", "mine")
        seen = admin.messages(wait=5)
    finally:
        admin.close()
    assert (f"ioc/v1/{user}/telemetry", b"mine") in seen
    assert all(payload != b"spoof" for _, payload in seen), seen


def test_device_cannot_read_other_devices_telemetry(cfg: Settings, device: tuple[str, str]) -> None:
    user, password = device
    spy = Subscriber(cfg, user, password, "ioc/v1/+/telemetry")
    try:
        publish(cfg, user, password, f"ioc/v1/{user}/telemetry", "private")
        assert spy.messages(wait=2) == []
    finally:
        spy.close()


def test_rendered_config_changes_only_deployment_lines(cfg: Settings) -> None:
    source = (mosquitto.SOURCE_DIR / "mosquitto.conf").read_text()
    rendered = mosquitto.conf_path(cfg).read_text()
    assert rendered == mosquitto.render_config(cfg, source)
    diff = difflib.ndiff(source.splitlines(), rendered.splitlines())
    changed = {line[2:].split()[0] for line in diff if line[:2] in ("- ", "+ ")}
    deployment = {"listener", "persistence_location", "password_file", "acl_file", "log_dest"}
    assert changed == deployment | {"pid_file"}
    assert f"listener {cfg.mqtt_port} {cfg.bind_host}" in rendered.splitlines()
