"""mosquitto's password file, written from the device registry and the service accounts.

Format (mosquitto 2.0 `mosquitto_passwd`, checked against the real tool in
tests/integration/test_stack_mosquitto.py): one `username:$7$<iterations>$<salt>$<hash>`
line per account, salt 12 random bytes, hash PBKDF2-HMAC-SHA512 of 64 bytes, both in
standard base64 with padding.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from config.secrets import (
    MQTT_ADMIN_USER,
    MQTT_COMMANDS_USER,
    MQTT_FRIGATE_USER,
    MQTT_INGEST_USER,
    load_secrets,
)
from config.settings import Settings
from stack import layout
from store.device_credentials import USERNAME_SEPARATOR

log = logging.getLogger(__name__)

# mosquitto_passwd's own default. The broker verifies on every CONNECT in its single
# event-loop thread, so a high count turns a reconnect storm of thousands of devices into
# minutes of a stalled broker; and every password here is machine-generated with 144+
# bits of entropy, which key stretching would not make any harder to guess.
ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64
SHARED_DIR_MODE = 0o2770

SERVICE_ACCOUNTS = (MQTT_INGEST_USER, MQTT_FRIGATE_USER, MQTT_ADMIN_USER, MQTT_COMMANDS_USER)
# "alerts" would give a device the topic ioc/v1/alerts/telemetry, inside the alert space.
RESERVED_USERNAMES = frozenset(SERVICE_ACCOUNTS) | {"alerts"}


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, hashed: str) -> bool:
    """Check a password against a `$7$` hash as the broker would."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        raw_salt, expected = base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), raw_salt, int(iterations), len(expected)
    )
    return hmac.compare_digest(actual, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def password_file(settings: Settings) -> Path:
    return settings.run_dir / "mosquitto" / "passwd"


def write_password_file(path: Path, hashes: Mapping[str, str], gid: int | None = None) -> None:
    """Replace path atomically: the broker may re-read it (SIGHUP) at any moment and must
    never see half a file. gid: Settings.mqtt_accounts_gid."""
    lines = [_line(user, hashed) for user, hashed in sorted(hashes.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write("".join(lines))
            out.flush()
            os.fsync(out.fileno())
        if not share_with_writers(tmp, gid):
            # Readable by the broker's user only: it re-reads the file after dropping root.
            layout.chown(tmp, layout.service_user("mosquitto"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def share_with_writers(path: Path, gid: int | None) -> bool:
    """With Settings.mqtt_accounts_gid, path becomes 0640 of that group: every container
    that rewrites the accounts (they replace each other's files) can read it, nobody else
    can, and the broker's container copies it for the broker
    (deploy/mosquitto/reload-on-change.sh). False without one: the caller's local
    arrangement stands."""
    if gid is None:
        return False
    os.chown(path, -1, gid)
    os.chmod(path, 0o640)
    return True


def prepare_accounts_dir(directory: Path, gid: int | None) -> None:
    """The accounts' directory; with a shared group, setgid 2770 of it, so a file any
    writer creates there gets the group and only the group can list or replace them."""
    directory.mkdir(parents=True, exist_ok=True)
    if gid is None:
        return
    info = directory.stat()
    if info.st_gid == gid and stat.S_IMODE(info.st_mode) == SHARED_DIR_MODE:
        return
    try:
        os.chown(directory, -1, gid)
        os.chmod(directory, SHARED_DIR_MODE)
    except PermissionError as error:
        raise RuntimeError(
            f"{directory} must be mode {SHARED_DIR_MODE:o} of group {gid} and this process "
            "cannot make it so: run `ioc stack init` as root first (compose's init job does)"
        ) from error


def _line(user: str, hashed: str) -> str:
    # The broker splits each line at the first ':' and trims at newlines.
    if not user or any(c in user for c in ":\n\r") or "\n" in hashed or ":" in hashed:
        raise ValueError(f"invalid MQTT account {user!r} for a mosquitto password file")
    if not hashed.startswith("$7$"):
        raise ValueError(f"account {user!r}: not a mosquitto $7$ hash")
    return f"{user}:{hashed}\n"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def service_hashes(settings: Settings) -> dict[str, str]:
    creds = load_secrets(settings)
    return {
        MQTT_INGEST_USER: hash_password(creds.mqtt_ingest_password),
        MQTT_FRIGATE_USER: hash_password(creds.mqtt_frigate_password),
        MQTT_ADMIN_USER: hash_password(creds.mqtt_admin_password),
        MQTT_COMMANDS_USER: hash_password(creds.mqtt_commands_password),
    }


def sync_accounts(
    settings: Settings, device_hashes: Mapping[str, str] | Callable[[], Mapping[str, str]]
) -> None:
    """Write the password file (service accounts + devices) and make a running broker
    re-read it and the ACL. Callers pass every device account (the registry's full list),
    not a delta: the file is replaced, never edited. Pass a function to read the list
    under the file lock, so two concurrent syncs cannot write an older list last."""
    from stack import mosquitto

    settings = layout.absolute(settings)
    path = password_file(settings)
    gid = settings.mqtt_accounts_gid
    prepare_accounts_dir(path.parent, gid)
    with _locked(path, gid):
        hashes = device_hashes() if callable(device_hashes) else device_hashes
        write_password_file(path, {**_usable(hashes), **service_hashes(settings)}, gid)
        mosquitto.install_acl(settings)
        mosquitto.reload(settings)


def file_usernames(path: Path) -> list[str]:
    """The accounts in a password file (none when it does not exist yet)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line.split(":", 1)[0] for line in text.splitlines() if ":" in line]


def render_acl(static: str, usernames: Iterable[str]) -> str:
    """The static ACL plus one block per second login of a device (`<device>~<n>`, made
    by a rotation with a grace period): `pattern … %u …` lines name topics by username,
    which for such a login is not the device id, so it gets its device's topics by name."""
    blocks = []
    for user in sorted(u for u in usernames if USERNAME_SEPARATOR in u):
        device = user.split(USERNAME_SEPARATOR, 1)[0]
        blocks.append(
            f"user {user}\n"
            f"topic write ioc/v1/{device}/telemetry\n"
            f"topic read ioc/v1/{device}/commands\n"
            f"topic write ioc/v1/{device}/commands/ack\n"
        )
    if not blocks:
        return static
    header = "\n# Generated: logins of devices in a rotation's grace period.\n"
    return static.rstrip("\n") + "\n" + header + "\n".join(blocks)


def _usable(device_hashes: Mapping[str, str]) -> dict[str, str]:
    """Devices that may go into the file: a bad registry row must not lock out everyone."""
    usable = {}
    for user, hashed in device_hashes.items():
        if user in RESERVED_USERNAMES:
            log.warning("device account %r skipped: the name is reserved", user)
        elif ":" in user or not hashed.startswith("$7$"):
            log.warning("device account %r skipped: not valid in a mosquitto password file", user)
        else:
            usable[user] = hashed
    return usable


class _locked:
    """An exclusive lock beside the file, so concurrent syncs do not interleave."""

    def __init__(self, path: Path, gid: int | None = None):
        self.lock_path = path.with_name(f".{path.name}.lock")
        self.gid = gid

    def __enter__(self) -> None:
        self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        # Shared: every writer opens it read-write, whoever created it.
        if self.gid is not None and os.fstat(self.fd).st_uid == os.geteuid():
            os.fchown(self.fd, -1, self.gid)
            os.fchmod(self.fd, 0o660)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
